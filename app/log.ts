/**
 * Structured logging (pino). Tokens and secrets are redacted by key wherever they appear in a logged
 * object, and free-text messages are scrubbed of bearer tokens and token-like query parameters.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config.js';
import { currentRequestId } from './request-context.js';

export type { Logger };

/** Keys whose values never reach a log line, at any depth. */
const SECRET_KEYS = new Set([
  'access_token', 'refresh_token', 'id_token', 'accessToken', 'refreshToken', 'idToken', 'AUTH_ID', 'REFRESH_ID',
  'APPLICATION_TOKEN', 'application_token', 'applicationToken', 'client_secret', 'clientSecret', 'authorization',
  'Authorization', 'password', 'secret', 'appSecret', 'token', 'auth', 'cookie', 'x-xero-signature',
]);
const CENSOR = '[Redacted]';
/** Deeper than this a logged value is cut (a log line is not a dump). */
const MAX_DEPTH = 10;

/**
 * A copy of a logged object with the value of every secret key censored, at any depth, in objects and arrays alike.
 * One walk over the object whatever the number of keys (pino's path redaction costs a pass per path and reaches only
 * the depths it lists). Values other than plain objects and arrays (errors, dates, buffers) are left to pino's
 * serializers.
 */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[Too deep]';
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, depth + 1));
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEYS.has(k) ? CENSOR : redactSecrets(v, depth + 1);
  return out;
}

const TOKEN_PATTERNS: RegExp[] = [
  /(bearer\s+)[A-Za-z0-9._~+/=-]+/gi,
  /((?:access_token|refresh_token|auth|AUTH_ID|REFRESH_ID|code|client_secret|application_token)=)[^&\s"]+/gi,
];

/** Removes bearer tokens and token query parameters from free text (error messages, URLs). */
export function scrubText(text: string): string {
  return TOKEN_PATTERNS.reduce((t, re) => t.replace(re, `$1${CENSOR}`), text);
}

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      formatters: {
        level: (label) => ({ level: label }),
        log: (object) => redactSecrets(object) as Record<string, unknown>,
      },
      // A child logger's bindings skip the log formatter: pino's own redaction covers their top-level keys (plain
      // paths cost little; its wildcard paths were the cost redactSecrets removes).
      redact: { paths: [...SECRET_KEYS], censor: CENSOR },
      // Every line written while a request (or a job it caused) is worked carries its id.
      mixin: () => {
        const reqId = currentRequestId();
        return reqId ? { reqId } : {};
      },
      hooks: {
        logMethod(args, method) {
          const scrubbed = args.map((a) => (typeof a === 'string' ? scrubText(a) : a)) as typeof args;
          method.apply(this, scrubbed);
        },
      },
      serializers: {
        err: (err: Error & { code?: unknown }) => ({
          type: err?.name,
          code: err?.code,
          message: scrubText(String(err?.message ?? err)),
          stack: err?.stack ? scrubText(err.stack) : undefined,
        }),
      },
    },
    destination,
  );
}
