/**
 * The runtime contract: every environment variable the connector reads, parsed once with zod.
 * A bad value stops the start with one line per problem (see `ConfigError`). Defaults are documented
 * on each field and in the README's configuration table.
 */
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const optionalText = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

/** An absolute http(s) base URL, stored without a trailing slash. */
const baseUrl = z
  .string()
  .trim()
  .refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'must be an absolute http:// or https:// URL')
  .transform((v) => v.replace(/\/+$/, ''));

const integer = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `must be a whole number between ${min} and ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const envSchema = z.object({
  /** TCP port of the HTTP server; 0 picks a free one. (Default: 3000) */
  PORT: integer(0, 65535).default(3000),
  /** Base URL that Bitrix24 and Xero use to reach the app. (Default: http://localhost:$PORT) */
  PUBLIC_URL: baseUrl.optional(),
  /** Folder of the SQLite store and the generated secret. (Default: ./data) */
  DATA_DIR: z.string().trim().min(1, 'must not be empty').default('./data'),
  /** PostgreSQL store shared by several instances, `postgres://user@host:port/database`. (Default: none, SQLite in DATA_DIR) */
  DATABASE_URL: optionalText.pipe(z.string().regex(/^postgres(ql)?:\/\/[^\s]+$/, 'must be a postgres:// URL (postgres://user:password@host:5432/database)').optional()),
  /** Key for encrypting secrets at rest, at least 32 characters. (Default: generated once into DATA_DIR/app-secret) */
  APP_SECRET: optionalText.pipe(z.string().min(32, 'must be at least 32 characters long').optional()),
  /** Bitrix24 local application client id (`local.…`). (Default: none) */
  B24_CLIENT_ID: optionalText,
  /** Bitrix24 local application client secret. (Default: none) */
  B24_CLIENT_SECRET: optionalText,
  /** Bitrix24 OAuth server; refresh goes to `${B24_OAUTH_URL}/oauth/token/`. (Default: https://oauth.bitrix.info) */
  B24_OAUTH_URL: baseUrl.default('https://oauth.bitrix.info'),
  /**
   * The one Bitrix24 portal this connector serves (its address, e.g. https://crm.example.com); installs from any
   * other portal are refused. (Default: none; any portal whose identity the OAuth server confirms)
   */
  B24_PORTAL_URL: baseUrl.optional(),
  /**
   * `1` accepts a portal whose REST endpoint is plain `http://` on this machine (127.0.0.1, localhost, ::1): the
   * emulators, the demo and the tests. Never in production. (Default: 0; https only)
   */
  ALLOW_INSECURE_LOOPBACK: z.enum(['0', '1'], { error: 'must be 0 or 1' }).default('0'),
  /** Days the data of a portal uninstalled with "clean data" is kept (restorable) before it is purged, 0..365. (Default: 7) */
  UNINSTALL_GRACE_DAYS: integer(0, 365).default(7),
  /**
   * Longest a Bitrix24 REST request runs on the portal, 1..3600 s: 60 on Bitrix24 cloud (docs/reference/bitrix24.md#limits), a self-hosted
   * portal's PHP max_execution_time. An import resumed after a crash reads back a lost batch once it can have ended.
   * (Default: 60)
   */
  B24_REQUEST_LIMIT_SECONDS: integer(1, 3600).default(60),
  /** Xero app client id. (Default: none) */
  XERO_CLIENT_ID: optionalText,
  /** Xero app client secret. (Default: none) */
  XERO_CLIENT_SECRET: optionalText,
  /** `authorization_code` (standard app) or `client_credentials` (custom connection). (Default: authorization_code) */
  XERO_GRANT_TYPE: z
    .enum(['authorization_code', 'client_credentials'], {
      error: 'must be authorization_code or client_credentials',
    })
    .default('authorization_code'),
  /** Xero webhook signing key. (Default: none; webhooks are refused until it is set) */
  XERO_WEBHOOK_KEY: optionalText,
  /** Xero API host: accounting at `/api.xro/2.0`, tenants at `/connections`. (Default: https://api.xero.com) */
  XERO_API_URL: baseUrl.default('https://api.xero.com'),
  /** Xero identity host: token endpoint `/connect/token`. (Default: https://identity.xero.com) */
  XERO_IDENTITY_URL: baseUrl.default('https://identity.xero.com'),
  /** Xero login host: consent at `/identity/connect/authorize`. (Default: https://login.xero.com) */
  XERO_LOGIN_URL: baseUrl.default('https://login.xero.com'),
  /** Seconds between Xero status polls, 30..300. (Default: 60) */
  POLL_INTERVAL_SECONDS: integer(30, 300).default(60),
  /** Xero calls per organisation in 24 hours, 100..1000000: 1000 on Xero's Starter tier. (Default: 5000) */
  XERO_DAILY_LIMIT: integer(100, 1_000_000).default(5000),
  /** Bearer token that may read GET /metrics from anywhere; unset: only loopback clients may. (Default: none) */
  METRICS_TOKEN: optionalText.pipe(z.string().min(16, 'must be at least 16 characters long').optional()),
  /**
   * New documents (not linked to Xero yet) one portal's events may queue per minute, 10..100000; events over it are
   * answered, dropped and counted, and the reconciliation sweep finds the real documents among them. (Default: 600)
   */
  EVENT_NEW_DOCUMENTS_PER_MINUTE: integer(10, 100_000).default(600),
  /** Days finished jobs are kept, 1..3650. (Default: 30) */
  JOB_RETENTION_DAYS: integer(1, 3650).default(30),
  /** Days activity lines (the dashboard's and cards' history) are kept, 1..3650. (Default: 180) */
  ACTIVITY_RETENTION_DAYS: integer(1, 3650).default(180),
  /** pino log level. (Default: info) */
  LOG_LEVEL: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
});

export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  port: number;
  publicUrl: string;
  dataDir: string;
  /** The PostgreSQL store's URL; undefined for the embedded SQLite store in dataDir. */
  databaseUrl: string | undefined;
  /** Absent until `resolveAppSecret` has run. */
  appSecret: string | undefined;
  bitrix: {
    clientId?: string;
    clientSecret?: string;
    oauthUrl: string;
    /** B24_PORTAL_URL: the only portal installs are accepted from. */
    portalUrl?: string;
    /** Days a CLEAN-uninstalled portal's data is kept before the purge. */
    uninstallGraceDays: number;
    /** ALLOW_INSECURE_LOOPBACK=1: plain-http portal endpoints on loopback are accepted (development only). */
    allowInsecureLoopback: boolean;
  };
  xero: {
    clientId?: string;
    clientSecret?: string;
    grantType: 'authorization_code' | 'client_credentials';
    webhookKey?: string;
    apiUrl: string;
    identityUrl: string;
    loginUrl: string;
  };
  pollIntervalSeconds: number;
  /** B24_REQUEST_LIMIT_SECONDS: how long a Bitrix24 REST request may run on the portal. */
  b24RequestLimitSeconds: number;
  /** Xero calls per organisation in 24 hours, spent by priority (xero/budget.ts). (Default: 5000) */
  xeroDailyLimit: number;
  /** New unlinked documents one portal's events may queue per minute (sync/intake/intake.ts). (Default: 600) */
  eventNewDocumentsPerMinute: number;
  logLevel: LogLevel;
  /** Bearer token for GET /metrics; undefined: loopback only. */
  metricsToken?: string;
  retention: { jobDays: number; activityDays: number };
}

/** A start-up failure whose `problems` are one human line each, naming the variable and the fix. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment; throws `ConfigError` listing every bad variable. No I/O. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const known = Object.fromEntries(
    Object.keys(envSchema.shape).flatMap((k) => (env[k] === undefined ? [] : [[k, env[k]]])),
  );
  const parsed = envSchema.safeParse(known);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const name = String(i.path[0] ?? 'environment');
        return `${name} ${i.message} (got ${JSON.stringify(env[name] ?? '')}); fix it in the environment or .env`;
      }),
    );
  }
  const e = parsed.data;
  const problems: string[] = [];
  if (e.XERO_GRANT_TYPE === 'client_credentials' && (!e.XERO_CLIENT_ID || !e.XERO_CLIENT_SECRET)) {
    problems.push('XERO_GRANT_TYPE=client_credentials needs XERO_CLIENT_ID and XERO_CLIENT_SECRET of the custom connection');
  }
  if (Boolean(e.B24_CLIENT_ID) !== Boolean(e.B24_CLIENT_SECRET)) {
    problems.push('B24_CLIENT_ID and B24_CLIENT_SECRET must be set together (both are on the local application form)');
  }
  if (Boolean(e.XERO_CLIENT_ID) !== Boolean(e.XERO_CLIENT_SECRET)) {
    problems.push('XERO_CLIENT_ID and XERO_CLIENT_SECRET must be set together (both are on the Xero app page)');
  }
  if (problems.length) throw new ConfigError(problems);
  return {
    port: e.PORT,
    publicUrl: e.PUBLIC_URL ?? `http://localhost:${e.PORT}`,
    dataDir: path.resolve(e.DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    appSecret: e.APP_SECRET,
    bitrix: {
      clientId: e.B24_CLIENT_ID,
      clientSecret: e.B24_CLIENT_SECRET,
      oauthUrl: e.B24_OAUTH_URL,
      portalUrl: e.B24_PORTAL_URL,
      uninstallGraceDays: e.UNINSTALL_GRACE_DAYS,
      allowInsecureLoopback: e.ALLOW_INSECURE_LOOPBACK === '1',
    },
    b24RequestLimitSeconds: e.B24_REQUEST_LIMIT_SECONDS,
    xero: {
      clientId: e.XERO_CLIENT_ID,
      clientSecret: e.XERO_CLIENT_SECRET,
      grantType: e.XERO_GRANT_TYPE,
      webhookKey: e.XERO_WEBHOOK_KEY,
      apiUrl: e.XERO_API_URL,
      identityUrl: e.XERO_IDENTITY_URL,
      loginUrl: e.XERO_LOGIN_URL,
    },
    pollIntervalSeconds: e.POLL_INTERVAL_SECONDS,
    xeroDailyLimit: e.XERO_DAILY_LIMIT,
    eventNewDocumentsPerMinute: e.EVENT_NEW_DOCUMENTS_PER_MINUTE,
    logLevel: e.LOG_LEVEL,
    metricsToken: e.METRICS_TOKEN,
    retention: { jobDays: e.JOB_RETENTION_DAYS, activityDays: e.ACTIVITY_RETENTION_DAYS },
  };
}

/**
 * Makes sure DATA_DIR exists and is writable; throws `ConfigError` naming the folder and the fix.
 */
export function prepareDataDir(dataDir: string): void {
  try {
    mkdirSync(dataDir, { recursive: true });
    if (!statSync(dataDir).isDirectory()) throw new Error('not a directory');
    accessSync(dataDir, constants.W_OK | constants.R_OK);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError([
      `DATA_DIR ${dataDir} cannot be used (${reason}); point DATA_DIR at a folder this user can write`,
    ]);
  }
}

/** Returns the configured APP_SECRET, or the one generated once into `${dataDir}/app-secret` (mode 0600). */
export function resolveAppSecret(config: Config): string {
  if (config.appSecret) return config.appSecret;
  const file = path.join(config.dataDir, 'app-secret');
  if (existsSync(file)) {
    const secret = readFileSync(file, 'utf8').trim();
    if (secret.length < 32) {
      throw new ConfigError([`${file} holds no usable secret; restore it from a backup or set APP_SECRET`]);
    }
    return secret;
  }
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  return secret;
}
