/**
 * HTTP surface: REST (`/rest/{method}`, also `/rest//{method}` and `.json`), the OAuth token endpoint, fault
 * injection, the call log. Sources: docs/reference/bitrix24.md#oauth-tokens, docs/reference/bitrix24.md#calling-rest, docs/reference/bitrix24.md#batch,
 * docs/reference/bitrix24.md#limits, docs/reference/bitrix24.md#b24jssdk (what B24OAuth sends: `/rest//method?bx24_request_id…`, JSON body with `auth`).
 */
import express from 'express';
import type { Request, Response, NextFunction } from 'express';
import { RestError, timeBlock, toInt, isoDate, type Answer } from './core.js';
import { parseQuery } from './form.js';
import type { Portal } from './portal.js';
import { Registry, type CallCtx } from './registry.js';
import { registerSystem } from './methods-system.js';
import { registerCrm } from './methods-crm.js';
import { registerCatalog } from './methods-catalog.js';

export interface CallLogEntry { at: string; method: string; userId: number | null; status: number; error?: string; viaBatch?: boolean }
export interface Faults {
  /** The next n outer calls answer 503 QUERY_LIMIT_EXCEEDED (docs/reference/bitrix24.md#limits). */
  burst503?: number;
  /** The next n outer calls answer 429 OPERATION_TIME_LIMIT, "Method is blocked due to operation time limit." (docs/reference/bitrix24.md#limits). */
  burst429?: number;
  /** Added latency per REST/OAuth request, ms. */
  latencyMs?: number;
  /** Probability 0..1 of dropping the connection (the portal unreachable at 1). */
  dropRate?: number;
  /** The next n REST/OAuth requests drop their connection. */
  dropNext?: number;
  /** Method name → how many more calls of it answer 500 INTERNAL_SERVER_ERROR (e.g. a failing write-back). */
  failMethods?: Record<string, number>;
  /**
   * Method name (or the start of a command line, e.g. `crm.item.get?entityTypeId=4`) → how many more batch commands
   * of it come back with neither a result nor an error. Source: docs/reference/bitrix24.md#batch
   * ("Error Example (halt = 1)": the command after the failed one has no entry in `result` nor in `result_error`);
   * here the command is not run at all, so it also stands for an answer a portal leaves out for other reasons.
   */
  omitAnswers?: Record<string, number>;
  /**
   * Time each command of a `batch` takes on the portal, ms. The commands run one after another and go on to the end
   * when the caller has gone: PHP notices a closed connection only when it writes (php.net ignore_user_abort notes),
   * and a batch writes its answer once every command has run.
   */
  batchCommandMs?: number;
}

/**
 * The operating-time limit: each method of an app may spend `limitSeconds` of server time within `windowMs` (Bitrix24:
 * 10 one-minute buckets; self-hosted 420 s when enabled, cloud 480 s). A call of a spent method answers 429
 * `OPERATION_TIME_LIMIT` "Method is blocked due to operation time limit." — inside a batch the command fails in
 * `result_error`, since each command counts and the outer call does not — until enough time leaves the window.
 * Answers carry the method's `time.operating` (seconds spent in the window) and `operating_reset_at` (unix s, when
 * the oldest part leaves). Source: docs/reference/bitrix24.md#limits.
 */
export interface OperatingLimit {
  /** Server time a method may spend in the window, s. (Bitrix24 self-hosted when enabled: 420) */
  limitSeconds: number;
  /** The window, ms. (Bitrix24: 600000) */
  windowMs: number;
  /** Server time each call of a method costs here, s (methods not named cost nothing). */
  costSeconds: Record<string, number>;
}

/**
 * The request-rate limit of a cloud portal: a leaky bucket per portal (not per app: "applications on one server
 * calling the same portal share the bucket"). Each HTTP request adds one — a `batch` of 50 commands is one request,
 * the bucket counts requests, not what they do — and it drains by `drainPerSecond`; a request that finds it full is
 * answered 503 `QUERY_LIMIT_EXCEEDED` and adds nothing. Standard plans: 50 / 2 per second; Enterprise: 250 / 5.
 * Source: https://apidocs.bitrix24.com/limits.html; docs/reference/bitrix24.md#limits.
 */
export interface LeakyBucket {
  /** Requests the bucket holds before it refuses. (Standard plans: 50; Enterprise: 250) */
  burst: number;
  /** Requests it drains per second. (Standard plans: 2; Enterprise: 5) */
  drainPerSecond: number;
  /**
   * Other applications of the same portal filling the same bucket: `requests` every `everyMs` (they get 503s too once
   * it is full, and add nothing then). An emulator convenience standing for a portal's other integrations. (Default: none)
   */
  otherApps?: { requests: number; everyMs: number };
}

/** Bitrix24's standard (non-Enterprise) cloud bucket: 50 requests, 2 a second drained (limits.html). */
export const STANDARD_BUCKET: LeakyBucket = { burst: 50, drainPerSecond: 2 };

/** What the bucket saw since the last reset: requests taken and refused, the connector's and the other apps'. */
export interface BucketStats { taken: number; refused: number; otherAppsTaken: number; otherAppsRefused: number }

export class RestService {
  readonly registry = new Registry();
  callLog: CallLogEntry[] = [];
  counters: Record<string, number> = {};
  faults: Required<Faults> = { burst503: 0, burst429: 0, latencyMs: 0, dropRate: 0, dropNext: 0, failMethods: {}, omitAnswers: {}, batchCommandMs: 0 };
  leakyBucket: LeakyBucket | false;
  bucketStats: BucketStats = { taken: 0, refused: 0, otherAppsTaken: 0, otherAppsRefused: 0 };
  /** When the other apps of the portal last sent their requests (LeakyBucket.otherApps). */
  private otherAppsAt = Date.now();
  /** Off by default, as on a self-hosted portal (docs/reference/bitrix24.md#limits: "the default restriction is disabled"). */
  operatingLimit: OperatingLimit | false = false;
  /** Per app and method: when each counted call ended and what it cost, s. */
  private operatingSpent = new Map<string, { at: number; cost: number }[]>();
  private bucketLevel = 0;
  private bucketAt = Date.now();

  constructor(readonly portal: Portal, leakyBucket: LeakyBucket | false) {
    this.leakyBucket = leakyBucket;
    registerSystem(this.registry);
    registerCrm(this.registry);
    registerCatalog(this.registry);
  }

  resetCounters(): void {
    this.callLog = [];
    this.counters = {};
    this.peak = {};
    this.bucketStats = { taken: 0, refused: 0, otherAppsTaken: 0, otherAppsRefused: 0 };
  }

  /** Turns the bucket on (empty, as a quiet portal's) or off. */
  setLeakyBucket(bucket: LeakyBucket | false): void {
    this.leakyBucket = bucket ? { ...bucket, ...(bucket.otherApps ? { otherApps: { ...bucket.otherApps } } : {}) } : false;
    this.bucketLevel = 0;
    this.bucketAt = Date.now();
    this.otherAppsAt = Date.now();
  }

  /** Test control: per REST method, the most requests that were in flight at once (`peakConcurrency()`). */
  peak: Record<string, number> = {};
  private inFlight: Record<string, number> = {};

  private trackConcurrency(req: Request, res: Response): void {
    const method = req.path.replace(/^\/rest\/+/, '').replace(/\.json$/, '');
    this.inFlight[method] = (this.inFlight[method] ?? 0) + 1;
    this.peak[method] = Math.max(this.peak[method] ?? 0, this.inFlight[method]!);
    let done = false;
    const end = () => { if (!done) { done = true; this.inFlight[method]!--; } };
    res.on('finish', end);
    res.on('close', end);
  }

  /**
   * The portal's leaky bucket (LeakyBucket above), off by default as on a self-hosted portal ("in the self-hosted
   * version, the load is configured on the server side", limits.html). The other apps' requests since the last look
   * are replayed in time order first: the bucket drains up to each of their moments, then takes what they send.
   */
  private takeFromBucket(): boolean {
    const b = this.leakyBucket;
    if (!b) return true;
    const now = Date.now();
    const drainTo = (t: number) => {
      this.bucketLevel = Math.max(0, this.bucketLevel - ((t - this.bucketAt) / 1000) * b.drainPerSecond);
      this.bucketAt = t;
    };
    if (b.otherApps && b.otherApps.everyMs > 0) {
      for (let t = this.otherAppsAt + b.otherApps.everyMs; t <= now; t += b.otherApps.everyMs) {
        drainTo(t);
        const room = Math.max(0, Math.floor(b.burst - this.bucketLevel));
        const taken = Math.min(room, b.otherApps.requests);
        this.bucketLevel += taken;
        this.bucketStats.otherAppsTaken += taken;
        this.bucketStats.otherAppsRefused += b.otherApps.requests - taken;
        this.otherAppsAt = t;
      }
    }
    drainTo(now);
    if (this.bucketLevel + 1 > b.burst) {
      this.bucketStats.refused += 1;
      return false;
    }
    this.bucketLevel += 1;
    this.bucketStats.taken += 1;
    return true;
  }

  /**
   * Resolves `auth` to a user and the app the token was issued to. Errors per docs/reference/bitrix24.md#errors
   * (401 NO_AUTH_FOUND / invalid_token / expired_token). A token of an app that is not installed (uninstalled after
   * the token was issued) is answered 401 APPLICATION_NOT_FOUND "Application not found", whether or not it has
   * expired: the portal checks its own record of the app before the token's expiry (Bitrix24's rest module,
   * `Bitrix\Rest\OAuth\Auth::onRestCheckAuth`: an inactive app → APPLICATION_NOT_FOUND, then `expires` →
   * expired_token), and "when an application is uninstalled, all access permissions for the application to the API
   * are removed" (docs/reference/bitrix24.md#events). A revoked token of an app installed again since
   * is unknown to the new install: invalid_token.
   */
  authenticate(token: unknown): Pick<CallCtx, 'user' | 'app'> {
    if (!token || typeof token !== 'string') throw new RestError('NO_AUTH_FOUND', 'Wrong authorization data', 401);
    const t = this.portal.accessTokens.get(token);
    if (!t) throw new RestError('invalid_token', 'The access token provided is invalid.', 401);
    const app = this.portal.appByClientId(t.clientId);
    if (!app || !app.present) throw new RestError('APPLICATION_NOT_FOUND', 'Application not found', 401);
    if (t.revoked) throw new RestError('invalid_token', 'The access token provided is invalid.', 401);
    if (t.expiresAt <= Date.now()) throw new RestError('expired_token', 'The access token provided has expired.', 401);
    return { user: this.portal.user(t.userId), app };
  }

  /** One outer REST call (not a batch sub-command). */
  async handle(method: string, params: Record<string, unknown>): Promise<{ status: number; body: unknown }> {
    const started = Date.now();
    const name = method.replace(/\.json$/, '');
    let userId: number | null = null;
    const done = (status: number, body: unknown, error?: string) => {
      this.callLog.push({ at: isoDate(), method: name, userId, status, error });
      this.counters[name] = (this.counters[name] ?? 0) + 1;
      return { status, body };
    };
    try {
      if (this.faults.burst503 > 0) {
        this.faults.burst503--;
        throw new RestError('QUERY_LIMIT_EXCEEDED', 'Too many requests', 503);
      }
      if (this.faults.burst429 > 0) {
        this.faults.burst429--;
        throw new RestError('OPERATION_TIME_LIMIT', 'Method is blocked due to operation time limit.', 429);
      }
      if (!this.takeFromBucket()) throw new RestError('QUERY_LIMIT_EXCEEDED', 'Too many requests', 503);
      const { auth, ...rest } = params;
      const { user, app } = this.authenticate(auth);
      userId = user.id;
      const ctx: CallCtx = { portal: this.portal, user, app, write: { userId: user.id, authConnector: typeof rest.auth_connector === 'string' && rest.auth_connector ? rest.auth_connector : undefined } };
      if (name.toLowerCase() === 'batch') return done(200, { result: await this.batch(rest, ctx), time: timeBlock(started) });
      const { answer, operating, resetAt } = this.metered(name, ctx, () => this.invoke(name, rest, ctx));
      const body = envelope(answer, started);
      body.time = { ...(body.time as Record<string, unknown>), operating, operating_reset_at: resetAt };
      return done(200, body);
    } catch (err) {
      const e = toRestError(err);
      return done(e.status, { error: e.code, error_description: e.description }, String(e.code));
    }
  }

  /** The method's operating time in the window and when its oldest part leaves it (docs/reference/bitrix24.md#limits, `time`). */
  private operating(key: string, now = Date.now()): { operating: number; resetAt: number } {
    const lim = this.operatingLimit;
    if (!lim) return { operating: 0, resetAt: Math.floor(now / 1000) + 600 };
    const spent = (this.operatingSpent.get(key) ?? []).filter((x) => x.at > now - lim.windowMs);
    this.operatingSpent.set(key, spent);
    const operating = spent.reduce((n, x) => n + x.cost, 0);
    return { operating, resetAt: spent.length ? Math.ceil((spent[0].at + lim.windowMs) / 1000) : Math.floor(now / 1000) };
  }

  /** Refuses a spent method, runs it, counts its cost; returns the method's operating figures for its `time`. */
  private metered(name: string, ctx: CallCtx, run: () => Answer): { answer: Answer; operating: number; resetAt: number } {
    const key = `${ctx.app.clientId}:${name}`;
    const lim = this.operatingLimit;
    if (lim && this.operating(key).operating >= lim.limitSeconds) {
      throw new RestError('OPERATION_TIME_LIMIT', 'Method is blocked due to operation time limit.', 429);
    }
    const answer = run();
    const cost = lim ? lim.costSeconds[name] ?? 0 : 0;
    if (cost > 0) this.operatingSpent.set(key, [...(this.operatingSpent.get(key) ?? []), { at: Date.now(), cost }]);
    return { answer, ...this.operating(key) };
  }

  private invoke(name: string, params: Record<string, unknown>, ctx: CallCtx): Answer {
    // Injected failure of a named method, alone or inside a batch (where it lands in result_error).
    if ((this.faults.failMethods[name] ?? 0) > 0) {
      this.faults.failMethods[name]! -= 1;
      // Source: docs/reference/bitrix24.md#errors: 500 INTERNAL_SERVER_ERROR "Internal server error".
      throw new RestError('INTERNAL_SERVER_ERROR', 'Internal server error', 500);
    }
    const def = this.registry.get(name);
    // Source: docs/reference/bitrix24.md#errors: 404 ERROR_METHOD_NOT_FOUND "Method not found!".
    if (!def) throw new RestError('ERROR_METHOD_NOT_FOUND', 'Method not found!', 404);
    // Source: docs/reference/bitrix24.md#errors: 401 insufficient_scope (application variant of the message).
    if (def.scope !== 'basic' && !ctx.app.scopes.includes(def.scope)) {
      throw new RestError('insufficient_scope', 'The request requires higher privileges than provided by the access token', 401);
    }
    return def.fn(params, ctx);
  }

  /**
   * batch {halt, cmd}: ≤ 50 commands, `$result[key][field]…` references, per-command errors in `result_error`,
   * empty maps as `[]`, no nested batch. Always HTTP 200. Source: docs/reference/bitrix24.md#calling-rest; docs/reference/bitrix24.md#batch; fixtures
   * rest.batch*.json.
   */
  private async batch(params: Record<string, unknown>, ctx: CallCtx): Promise<Record<string, unknown>> {
    const cmd = params.cmd;
    if (!cmd || typeof cmd !== 'object') throw new RestError('ERROR_BATCH_LENGTH_EXCEEDED', 'No commands', 400);
    const entries = Object.entries(cmd as Record<string, unknown>);
    if (entries.length > 50) throw new RestError('ERROR_BATCH_LENGTH_EXCEEDED', 'Max batch length exceeded', 400);
    const halt = params.halt === true || toInt(params.halt, 0) === 1;
    const result: Record<string, unknown> = {};
    const resultError: Record<string, unknown> = {};
    const resultTotal: Record<string, unknown> = {};
    const resultNext: Record<string, unknown> = {};
    const resultTime: Record<string, unknown> = {};
    const refs = { result, result_error: resultError, result_total: resultTotal, result_next: resultNext, result_time: resultTime };
    for (const [key, raw] of entries) {
      if (this.faults.batchCommandMs > 0) await new Promise((r) => setTimeout(r, this.faults.batchCommandMs));
      const started = Date.now();
      const line = String(raw);
      const q = line.indexOf('?');
      const method = (q === -1 ? line : line.slice(0, q)).replace(/\.json$/, '');
      const omit = Object.keys(this.faults.omitAnswers).find((k) => this.faults.omitAnswers[k]! > 0 && (k === method || line.startsWith(k)));
      if (omit !== undefined) {
        this.faults.omitAnswers[omit]! -= 1;
        this.callLog.push({ at: isoDate(), method, userId: ctx.user.id, status: 0, viaBatch: true, error: 'omitted' });
        continue;
      }
      const sub = substitute(parseQuery(q === -1 ? '' : line.slice(q + 1)), refs) as Record<string, unknown>;
      delete sub.auth;
      let status = 200;
      try {
        if (method.toLowerCase() === 'batch') throw new RestError('ERROR_BATCH_METHOD_NOT_ALLOWED', 'Method is not allowed for batch usage', 405);
        const subCtx: CallCtx = { ...ctx, write: { userId: ctx.user.id, authConnector: typeof sub.auth_connector === 'string' && sub.auth_connector ? sub.auth_connector : ctx.write.authConnector } };
        const { answer, operating, resetAt } = this.metered(method, subCtx, () => this.invoke(method, sub, subCtx));
        result[key] = answer.result;
        if (answer.total !== undefined) resultTotal[key] = answer.total;
        if (answer.next !== undefined) resultNext[key] = answer.next;
        const { operating_reset_at: _r, operating: _o, ...t } = timeBlock(started);
        resultTime[key] = { ...t, operating, ...(this.operatingLimit ? { operating_reset_at: resetAt } : {}) };
      } catch (err) {
        const e = toRestError(err);
        status = e.status;
        resultError[key] = { error: e.code, error_description: e.description };
      }
      this.callLog.push({ at: isoDate(), method, userId: ctx.user.id, status, viaBatch: true, ...(status !== 200 ? { error: String((resultError[key] as { error: unknown }).error) } : {}) });
      this.counters[method] = (this.counters[method] ?? 0) + 1;
      if (halt && status !== 200) break;
    }
    const orEmpty = (o: Record<string, unknown>) => (Object.keys(o).length ? o : []);
    return { result: orEmpty(result), result_error: orEmpty(resultError), result_total: orEmpty(resultTotal), result_next: orEmpty(resultNext), result_time: orEmpty(resultTime) };
  }

  /** Other portals whose tokens this server renews: oauth.bitrix.info is one OAuth server for every portal. */
  readonly peers: Portal[] = [];
  /** Test control: a token request waits for this before it is looked at (to line up concurrent renewals). */
  refreshGate: (() => Promise<void>) | null = null;
  /** Test control: the next `batch` call whose command lines `match` is applied, then its answer held (holdBatchAnswer). */
  batchHold: BatchHold | null = null;

  /**
   * POST /oauth/token/ with grant_type=refresh_token: single-use refresh tokens (rotation), `invalid_grant` for a
   * used/unknown/expired one, `invalid_client` for wrong client credentials. Response fields as
   * fixture oauth.refresh.response.json: the portal's `member_id` and `client_endpoint`, while `domain` names the
   * OAuth server itself ("oauth.bitrix.info" in the fixture). One server answers for every portal in `peers`.
   * Source: docs/reference/bitrix24.md#oauth-tokens.
   */
  oauthToken(params: Record<string, unknown>): { status: number; body: unknown } {
    const log = (status: number, error?: string) => this.callLog.push({ at: isoDate(), method: 'oauth/token', userId: null, status, error });
    if (params.grant_type !== 'refresh_token') { log(400, 'unsupported_grant_type'); return { status: 400, body: { error: 'unsupported_grant_type', error_description: 'The grant type is not supported' } }; }
    const token = String(params.refresh_token ?? '');
    const portal = [this.portal, ...this.peers].find((p) => p.refreshTokens.has(token)) ?? this.portal;
    const app = portal.appByClientId(String(params.client_id ?? ''));
    if (!app || params.client_secret !== app.clientSecret) {
      log(401, 'invalid_client');
      return { status: 401, body: { error: 'invalid_client', error_description: 'Invalid client credentials' } };
    }
    const rt = portal.refreshTokens.get(token);
    // A refresh token is good only with the client credentials of the app it was issued to. After an uninstall it
    // is refused as a spent one is — invalid_grant, "invalid authorization tokens were provided … during renewal"
    // (docs/reference/bitrix24.md#errors) — so a refused refresh alone cannot tell an uninstall from a lost race.
    if (!rt || rt.used || rt.revoked || rt.expiresAt <= Date.now() || !app.present || rt.clientId !== app.clientId) {
      log(400, 'invalid_grant');
      return { status: 400, body: { error: 'invalid_grant', error_description: 'Invalid refresh token' } };
    }
    rt.used = true;
    const { access, refresh } = portal.issueTokens(rt.userId, app.clientId);
    log(200);
    return {
      status: 200,
      body: {
        access_token: access.token,
        expires: Math.floor(access.expiresAt / 1000),
        expires_in: portal.accessTokenTtlSeconds,
        scope: app.scopes.join(','),
        domain: new URL(this.portal.baseUrl).host,
        server_endpoint: portal.serverEndpoint,
        status: 'L',
        client_endpoint: portal.clientEndpoint,
        member_id: portal.memberId,
        user_id: rt.userId,
        refresh_token: refresh.token,
      },
    };
  }

  /** Latency and dropped connections, for REST and OAuth alike. */
  faultMiddleware() {
    return async (req: Request, res: Response, next: NextFunction) => {
      if (!/^\/(rest|oauth)\//.test(req.path)) return next();
      this.trackConcurrency(req, res);
      if (this.faults.latencyMs > 0) await new Promise((r) => setTimeout(r, this.faults.latencyMs));
      const drop = this.faults.dropNext > 0 || (this.faults.dropRate > 0 && Math.random() < this.faults.dropRate);
      if (drop) {
        if (this.faults.dropNext > 0) this.faults.dropNext--;
        this.callLog.push({ at: isoDate(), method: req.path.replace(/^\/rest\/+/, ''), userId: null, status: 0, error: 'dropped' });
        req.socket.destroy();
        return;
      }
      next();
    };
  }
}

function envelope(answer: Answer, started: number): Record<string, unknown> {
  const body: Record<string, unknown> = { result: answer.result };
  if (answer.next !== undefined) body.next = answer.next;
  if (answer.total !== undefined) body.total = answer.total;
  body.time = timeBlock(started);
  return body;
}

function toRestError(err: unknown): RestError {
  if (err instanceof RestError) return err;
  return new RestError('INTERNAL_SERVER_ERROR', err instanceof Error ? err.message : 'Internal server error', 500);
}

const REF = /\$(result|result_error|result_total|result_next|result_time)\[([^\]]+)\]((?:\[[^\]]*\])*)/g;

/** Replaces `$result[key][field]…` in every string value; a whole-value reference keeps the referenced type. */
function substitute(v: unknown, refs: Record<string, Record<string, unknown>>): unknown {
  if (Array.isArray(v)) return v.map((x) => substitute(x, refs));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, refs)]));
  if (typeof v !== 'string' || !v.includes('$result')) return v;
  const resolve = (kind: string, key: string, path: string): unknown => {
    let node: unknown = refs[kind]?.[key];
    for (const m of path.matchAll(/\[([^\]]*)\]/g)) {
      if (node === null || typeof node !== 'object') return undefined;
      node = (node as Record<string, unknown>)[m[1]!];
    }
    return node;
  };
  const whole = new RegExp(`^${REF.source}$`).exec(v);
  if (whole) {
    const val = resolve(whole[1]!, whole[2]!, whole[3] ?? '');
    return val === undefined ? v : val;
  }
  return v.replace(REF, (m, kind: string, key: string, path: string) => {
    const val = resolve(kind, key, path ?? '');
    return val === undefined || (val !== null && typeof val === 'object') ? m : String(val);
  });
}

/** A held batch answer (Bitrix24Emulator.holdBatchAnswer). */
export interface BatchHold {
  match: (commands: string[]) => boolean;
  /** Held before the commands run (a request the portal never got to work), not after. */
  beforeApplying: boolean;
  released: Promise<void>;
  held(answer: unknown): void;
  lost(): void;
}

/** The armed hold when this call is a batch whose command lines it matches; it is taken (one batch per hold). */
function heldFor(svc: RestService, method: string, params: Record<string, unknown>): BatchHold | null {
  const hold = svc.batchHold;
  if (!hold || method.replace(/\.json$/, '').toLowerCase() !== 'batch') return null;
  const cmd = params.cmd && typeof params.cmd === 'object' ? Object.values(params.cmd as Record<string, unknown>).map(String) : [];
  if (!hold.match(cmd)) return null;
  svc.batchHold = null;
  return hold;
}

/** Builds the Express app for REST + OAuth; the portal shell is mounted by the caller. */
export function buildRestApp(svc: RestService): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // App frames on another origin call REST directly from the browser (b24jssdk B24Frame uses axios against
  // `${PROTOCOL}://${DOMAIN}/rest/`), so REST answers CORS requests, preflights included.
  app.use((req, res, next) => {
    if (!req.path.startsWith('/rest/')) return next();
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Headers', 'Content-Type');
    res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
    if (req.method === 'OPTIONS') return void res.status(204).end();
    next();
  });
  app.use(svc.faultMiddleware());
  app.use(express.json({ limit: '10mb' }));
  // Form bodies are decoded with PHP parse_str semantics (no qs array limit: 60 product rows stay a list).
  app.use(express.text({ type: 'application/x-www-form-urlencoded', limit: '10mb' }));
  const bodyOf = (req: Request): Record<string, unknown> =>
    typeof req.body === 'string' ? parseQuery(req.body) : ((req.body as Record<string, unknown> | undefined) ?? {});
  const queryOf = (req: Request) => {
    const i = req.originalUrl.indexOf('?');
    return i === -1 ? {} : parseQuery(req.originalUrl.slice(i + 1));
  };
  app.all(/^\/oauth\/token\/?$/, async (req, res) => {
    if (svc.refreshGate) await svc.refreshGate();
    const out = svc.oauthToken({ ...queryOf(req), ...bodyOf(req) });
    res.status(out.status).json(out.body);
  });
  app.all(/^\/rest\/+[^/]+$/, async (req, res) => {
    const method = decodeURIComponent(req.path.replace(/^\/rest\/+/, ''));
    const params = { ...queryOf(req), ...bodyOf(req) };
    const hold = heldFor(svc, method, params);
    const gone = new Promise<boolean>((resolve) => res.once('close', () => resolve(true)));
    if (hold?.beforeApplying) {
      // The request has not reached the portal's code yet: a caller that dies now leaves nothing behind.
      hold.held(null);
      if (await Promise.race([gone, hold.released.then(() => false)])) return hold.lost();
    }
    const out = await svc.handle(method, params);
    if (hold && !hold.beforeApplying && out.status === 200) {
      // The commands are applied; the answer waits until the test lets it go or the caller's connection closes (a
      // killed caller: Bitrix24 finished the batch, the answer reaches nobody).
      hold.held(out.body);
      if (await Promise.race([gone, hold.released.then(() => false)])) return hold.lost();
    }
    res.status(out.status).json(out.body);
  });
  return app;
}
