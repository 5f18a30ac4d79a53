/**
 * All REST speech with one Bitrix24 portal goes through a PortalClient: one `B24OAuth` instance per portal
 * (`member_id`), tokens refreshed through B24_OAUTH_URL and the rotated pair persisted atomically.
 *
 * Retry policy: the SDK retries 503 QUERY_LIMIT_EXCEEDED with back-off and waits at least 10 s on 429
 * OPERATION_TIME_LIMIT (3 attempts in all). Once it gives up — and for batch commands, which it does not retry — the
 * limit becomes one `LimitReached` (`limitOf`, `operatingLimitReached`, `queryLimitReached`): the work waits in the
 * queue with the reason shown, its attempt not counted, never failing for it. An operating-time block waits until the
 * method's `operating_reset_at` — the blocked answer's own (`result_time` of the same method's commands that ran), else
 * the last one a success of that method showed — and a minute (the next bucket leaving) only when no answer told.
 * Network errors are NOT retried by the SDK (a lost `*.add` answer retried blindly makes duplicates). Reads
 * that are safe to repeat ask for `idempotent: true` and are retried here once on a network error.
 */
import { clock } from '../clock.js';
import { ApiVersion, B24OAuth, type B24OAuthParams } from '@bitrix24/b24jssdk';
import type { Config } from '../config.js';
import { AppError, LimitReached, utcTime } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';
import type { Portal } from '../store/portals.js';
import { PortalTokenPairs } from './portal-tokens.js';
import type { Metrics } from '../metrics.js';

/** Milliseconds any single Bitrix24 REST call may take. */
export const B24_TIMEOUT_MS = 30_000;

export type BatchCalls = Record<string, [method: string, params: Record<string, unknown>]>;

export interface BatchOutcome {
  /** Results of the commands that succeeded, by key. */
  results: Record<string, unknown>;
  /** Error messages of the commands that failed, by key. */
  errors: Record<string, string>;
  /** Bitrix24's error code of each failed command, by key (`''` for the legacy methods' code-less refusals). */
  codes: Record<string, string>;
  /** Keys of the commands refused because their method's operating time is spent (OPERATION_TIME_LIMIT). */
  limited: string[];
  /**
   * When the limited commands may be sent again (epoch ms): the latest `operating_reset_at` the answer gives for their
   * methods (in `result_time` of the commands of the same method that ran), else the last one a success of the method
   * showed, else a minute from now (`operatingLimitReached`).
   */
  retryAt?: number;
  /** The wait, when some commands were limited (`limitOf` throws it). */
  limit?: LimitReached;
}

/**
 * Bitrix24 blocks a method whose operating time is spent until enough of it leaves the method's window of ten
 * one-minute buckets (docs/reference/bitrix24.md#limits; https://apidocs.bitrix24.com/limits.html): "stop calling that
 * method until operating_reset_at of the last success, then until the next bucket leaves". When no answer told
 * when, the work waits for the next bucket: a minute.
 */
export const OPERATING_RETRY_MS = 60_000;

/**
 * After the SDK's own retries of 503 QUERY_LIMIT_EXCEEDED, the work waits this long (plus up to half again, jitter)
 * in the queue: the standard bucket drains 2 requests a second, so a few seconds free room for a batch.
 */
export const QUERY_RETRY_MS = 4_000;

/**
 * The one way a Bitrix24 operating-time block becomes a wait (LimitReached `B24.OPERATION_TIME_LIMIT`), for the outbox's
 * jobs and the import alike: until `at` (epoch ms; from `operating_reset_at`), else a minute from now.
 */
export function operatingLimitReached(method: string, at?: number, goesOn: 'retry' | 'import' = 'retry', now = clock.now()): LimitReached {
  const until = at !== undefined && at > now ? at : now + OPERATING_RETRY_MS;
  const then = goesOn === 'import' ? `the import goes on at ${utcTime(until)}` : `retry at ${utcTime(until)}`;
  return new LimitReached('B24.OPERATION_TIME_LIMIT', `Bitrix24 blocks ${method} for now (its operating time limit); ${then}.`, until);
}

/** The portal's request rate is spent (503 QUERY_LIMIT_EXCEEDED after the SDK's retries): the work waits a few seconds. */
export function queryLimitReached(method: string, now = clock.now()): LimitReached {
  const until = now + QUERY_RETRY_MS + Math.round(Math.random() * QUERY_RETRY_MS * 0.5);
  return new LimitReached('B24.QUERY_LIMIT_EXCEEDED', `Bitrix24 asks to slow down (its request limit, while ${method} was sent); retry at ${utcTime(until)}.`, until);
}

/** The limit a batch answer met, when some of its commands were blocked: thrown by readers, after recording by writers. */
export function limitOf(answer: Pick<BatchOutcome, 'limit'>): void {
  if (answer.limit) throw answer.limit;
}

export interface CallOptions {
  /** Safe to repeat after a network error (reads). (Default: false) */
  idempotent?: boolean;
}

export class PortalClient {
  readonly #b24: B24OAuth;
  /** Per method, the latest `operating_reset_at` (epoch ms) a success showed while the method had spent time. */
  readonly #resets = new Map<string, number>();

  constructor(
    readonly memberId: string,
    b24: B24OAuth,
  ) {
    this.#b24 = b24;
  }

  /** Calls one REST method and returns its `result`; throws AppError `B24.<code>` on failure. */
  async call<T = unknown>(method: string, params: Record<string, unknown> = {}, options: CallOptions = {}): Promise<T> {
    const data = await this.callRaw(method, params, options);
    return data.result as T;
  }

  /** Calls one REST method and returns the whole answer (`result`, `total`, `next`). */
  async callRaw(
    method: string,
    params: Record<string, unknown> = {},
    options: CallOptions = {},
  ): Promise<{ result: unknown; total?: number; next?: number }> {
    const attempt = async () => {
      // https://apidocs.bitrix24.com/settings/how-to-call-rest-api/general-principles.html
      const r = await this.#b24.actions.v2.call.make({ method, params });
      if (!r.isSuccess) throw b24Error(method, r.getErrorMessages().join('; '));
      // The SDK's payload leaves out the list envelope's `total`; it is read with getTotal() (restApi v2).
      const data = r.getData() as { result: unknown; next?: number; time?: unknown };
      if (method !== 'batch') this.noteTime(method, data.time);
      return { result: data.result, next: data.next, total: r.getTotal() };
    };
    try {
      return await attempt();
    } catch (err) {
      if (options.idempotent && isNetworkError(err)) {
        try {
          return await attempt();
        } catch (second) {
          throw this.toAppError(method, second);
        }
      }
      throw this.toAppError(method, err);
    }
  }

  /** Keeps a success's `operating_reset_at` while the method has spent operating time (docs/reference/bitrix24.md#limits). */
  private noteTime(method: string, time: unknown): void {
    const t = (time ?? {}) as { operating?: unknown; operating_reset_at?: unknown };
    const at = Number(t.operating_reset_at) * 1000;
    if (Number(t.operating) > 0 && Number.isFinite(at) && at > 0) this.#resets.set(method, Math.max(at, this.#resets.get(method) ?? 0));
  }

  /** When Bitrix24 lets a blocked method run again, as far as its answers told (epoch ms), or undefined. */
  operatingResetAt(method: string): number | undefined {
    const at = this.#resets.get(method);
    return at !== undefined && at > clock.now() ? at : undefined;
  }

  private toAppError(method: string, err: unknown): AppError {
    if (isOperatingLimit(err)) return operatingLimitReached(method, this.operatingResetAt(method));
    if (isQueryLimit(err)) return queryLimitReached(method);
    return toAppError(method, err);
  }

  /**
   * Runs up to 50 commands in one `batch` call; each command's failure is reported on its own, with Bitrix24's own
   * words. The batch envelope is read as Bitrix24 sends it (`result.result` and `result.result_error` keyed by
   * command): the SDK's batch wrapper drops a command error whose code is empty — the legacy CRM methods' refusals
   * ("Access denied.", a required field), `throw new RestException(implode("\n", $errors))` — and reports it as an
   * empty result.
   */
  async batch(calls: BatchCalls, options: { haltOnError?: boolean } = {}): Promise<BatchOutcome> {
    const keys = Object.keys(calls);
    if (keys.length === 0) return { results: {}, errors: {}, codes: {}, limited: [] };
    if (keys.length > 50) throw new AppError('B24.BATCH_TOO_LARGE', 'A Bitrix24 batch holds at most 50 commands.');
    const cmd = Object.fromEntries(keys.map((k) => [k, `${calls[k]![0]}?${phpQuery(calls[k]![1])}`]));
    // https://apidocs.bitrix24.com/settings/how-to-call-rest-api/batch.html — {halt, cmd: {key: 'method?query'}} →
    // result.{result, result_error, result_total, result_next, result_time}; empty maps come as [].
    const answer = await this.call<BatchEnvelope>('batch', { halt: options.haltOnError ? 1 : 0, cmd });
    const results = mapOf(answer?.result);
    const errors: Record<string, string> = {};
    const codes: Record<string, string> = {};
    const limited: string[] = [];
    for (const [k, e] of Object.entries(mapOf(answer?.result_error))) {
      errors[k] = refusalOf(e);
      const code = typeof e === 'object' && e !== null ? (e as { error?: unknown }).error : undefined;
      codes[k] = code === undefined || code === null ? '' : String(code);
      if (isOperatingLimit({ code, message: errors[k] })) limited.push(k);
    }
    const times = mapOf(answer?.result_time);
    for (const k of keys) if (times[k] !== undefined) this.noteTime(calls[k]![0], times[k]);
    if (!limited.length) return { results, errors, codes, limited };
    const resetOf = (method: string) => Math.max(0, ...keys.filter((k) => calls[k]![0] === method)
      .map((k) => Number((times[k] as { operating_reset_at?: unknown } | undefined)?.operating_reset_at) || 0)) * 1000 || this.operatingResetAt(method);
    const limits = limited.map((k) => operatingLimitReached(calls[k]![0], resetOf(calls[k]![0])));
    const limit = limits.reduce((a, b) => (b.retryAt > a.retryAt ? b : a));
    return { results, errors, codes, limited, retryAt: limit.retryAt, limit };
  }

  /**
   * Reads a list method with keyset paging (`start: -1`, ascending by `idKey`, `>idKey` filter), 50 pages of 50 rows
   * per `batch` call: each command's cursor names the last row of the command before it (`$result[p0][49][ID]`,
   * docs/reference/bitrix24.md#batch), so a caller gets 2,500 rows per call yet holds one page at a time (the first call asks for one page
   * only, so a short list costs one list command). It stops at the first short page;
   * the later commands of that batch, whose reference had no row to name, are not read.
   */
  async *pages<T = Record<string, unknown>>(
    method: string,
    params: { filter?: Record<string, unknown>; select: string[] },
    keys: { idKey: string; resultKey?: string },
  ): AsyncGenerator<T[]> {
    const { idKey, resultKey } = keys;
    const inner = resultKey ? `[${resultKey}]` : '';
    let last: unknown = 0;
    // The first call reads one page: a short list costs Bitrix24 one list command, not fifty.
    for (let size = 1; ; size = 50) {
      const calls: BatchCalls = {};
      for (let i = 0; i < size; i++) {
        const cursor = i === 0 ? last : `$result[p${i - 1}]${inner}[49][${idKey}]`;
        // https://apidocs.bitrix24.com/settings/performance/huge-data.html (keyset paging), .../batch.html ($result)
        calls[`p${i}`] = [method, { ...params, filter: { ...(params.filter ?? {}), [`>${idKey}`]: cursor }, order: { [idKey]: 'ASC' }, start: -1 }];
      }
      const answer = await this.batch(calls);
      limitOf(answer);
      const { results, errors } = answer;
      for (let i = 0; i < size; i++) {
        const k = `p${i}`;
        if (errors[k] !== undefined) throw new AppError('B24.CALL_FAILED', `Bitrix24 ${method} failed: ${errors[k]}`, 502);
        const raw = results[k];
        const rows = ((resultKey ? (raw as Record<string, unknown> | undefined)?.[resultKey] : raw) ?? []) as T[];
        if (!Array.isArray(rows)) throw new AppError('B24.CALL_FAILED', `Bitrix24 ${method} answered without a list.`, 502);
        if (rows.length) yield rows;
        if (rows.length < 50) return;
        last = (rows[49] as Record<string, unknown>)[idKey];
      }
    }
  }

  /** Reads every row of a list method with keyset paging (`start: -1`, `>ID` filter). */
  async list<T = Record<string, unknown>>(
    method: string,
    params: Record<string, unknown>,
    keys: { idKey: string; resultKey?: string },
  ): Promise<T[]> {
    try {
      // https://apidocs.bitrix24.com/settings/performance/huge-data.html
      const r = await this.#b24.actions.v2.callList.make({
        method,
        params,
        idKey: keys.idKey,
        customKeyForResult: keys.resultKey,
      });
      if (!r.isSuccess) throw b24Error(method, r.getErrorMessages().join('; '));
      return (r.getData() ?? []) as T[];
    } catch (err) {
      throw this.toAppError(method, err);
    }
  }
}

/**
 * Keeps one PortalClient per portal, built from the stored tokens. Every renewal goes through the portal's token pair
 * (bitrix/portal-tokens.ts: single-flight in this process and under the lease across processes).
 */
/** How long after Bitrix24's last 503 QUERY_LIMIT_EXCEEDED a portal counts as throttling the connector, ms. */
export const THROTTLED_FOR_MS = 30_000;

export class PortalClients {
  readonly #clients = new Map<string, PortalClient>();
  /** Per portal, when Bitrix24 last answered 503 QUERY_LIMIT_EXCEEDED (the SDK's own retries included). */
  readonly #throttledAt = new Map<string, number>();
  readonly tokens: PortalTokenPairs;

  constructor(
    private readonly store: Store,
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly metrics?: Metrics,
  ) {
    this.tokens = new PortalTokenPairs(store, config.bitrix, logger);
  }

  async for(memberId: string): Promise<PortalClient> {
    const cached = this.#clients.get(memberId);
    if (cached) return cached;
    const portal = await this.installed(memberId);
    const client = new PortalClient(memberId, this.build(portal, 'renew'));
    this.#clients.set(memberId, client);
    return client;
  }

  /**
   * A client that sends the pair as stored now and never renews it (not cached): for asking the portal what it says
   * to the connector's own token when renewing it was refused. The SDK is told the access token is good, so it sends
   * it as it is; a 401 `expired_token`/`invalid_token` ends the call as `B24.TOKEN_NOT_RENEWED`.
   */
  async asStored(memberId: string): Promise<PortalClient> {
    return new PortalClient(memberId, this.build(await this.installed(memberId), 'as-stored'));
  }

  /**
   * Whether Bitrix24 throttles the portal's requests now (a 503 within THROTTLED_FOR_MS); with no portal named,
   * whether it throttles any. The outbox then lets batches fill longer (OutboxOptions.throttled).
   */
  throttled(memberId?: string | null): boolean {
    const recent = (at: number | undefined) => at !== undefined && Date.now() - at < THROTTLED_FOR_MS;
    if (memberId) return recent(this.#throttledAt.get(memberId));
    for (const at of this.#throttledAt.values()) if (recent(at)) return true;
    return false;
  }

  /** Drops the cached client (after re-install, update or uninstall) so the next use reads fresh tokens. */
  forget(memberId: string): void {
    this.#clients.delete(memberId);
  }

  private async installed(memberId: string): Promise<Portal> {
    const portal = await this.store.portals.get(memberId);
    if (!portal || portal.state === 'uninstalled' || !portal.accessToken || !portal.refreshToken) {
      throw new AppError('B24.PORTAL_NOT_INSTALLED', 'The app is not installed on this Bitrix24 portal.', 409);
    }
    return portal;
  }

  private build(portal: Portal, renewal: 'renew' | 'as-stored'): B24OAuth {
    const { clientId, clientSecret } = this.config.bitrix;
    if (!clientId || !clientSecret) {
      throw new AppError(
        'B24.NOT_CONFIGURED',
        'B24_CLIENT_ID and B24_CLIENT_SECRET are not set, so the connector cannot talk to Bitrix24.',
        503,
      );
    }
    const params: B24OAuthParams = {
      applicationToken: portal.applicationToken ?? '',
      userId: portal.installedBy ?? 0,
      memberId: portal.memberId,
      accessToken: portal.accessToken!,
      refreshToken: portal.refreshToken!,
      expires: renewal === 'renew' ? portal.expiresAt ?? 0 : Math.floor(Date.now() / 1000) + 3600,
      expiresIn: 3600,
      scope: portal.scope ?? '',
      domain: portal.domain,
      clientEndpoint: portal.clientEndpoint,
      serverEndpoint: `${this.config.bitrix.oauthUrl}/rest/`,
      status: 'L',
    } as B24OAuthParams;
    const b24 = new B24OAuth(params, { clientId, clientSecret }, {
      restrictionParams: {
        // Self-hosted portals have no leaky bucket by default (docs/reference/bitrix24.md#limits); these are the
        // Enterprise cloud numbers, kept as a courtesy ceiling. The SDK backs off on 503 by itself.
        rateLimit: { burstLimit: 250, drainRate: 5, adaptiveEnabled: true },
        retryOnNetworkError: false,
        maxRetries: 3,
      },
    });
    b24.offClientSideWarning();
    const http = b24.getHttpClient(ApiVersion.v2).ajaxClient;
    http.defaults.timeout = B24_TIMEOUT_MS;
    // Every HTTP answer is counted (the SDK's own retries included): 503 QUERY_LIMIT_EXCEEDED and
    // 429 OPERATION_TIME_LIMIT are Bitrix24's limits (https://apidocs.bitrix24.com/limits.html).
    const metrics = this.metrics;
    const throttledAt = this.#throttledAt;
    http.interceptors.response.use(undefined, (err: { response?: { status?: number } }) => {
      if (err?.response?.status === 503) throttledAt.set(portal.memberId, Date.now());
      return Promise.reject(err);
    });
    if (metrics) {
      http.interceptors.response.use(
        (r) => { metrics.bitrixCall('ok'); return r; },
        (err: { response?: { status?: number } }) => {
          const status = err?.response?.status;
          metrics.bitrixCall(status === undefined ? 'network' : status === 503 || status === 429 ? 'rate_limited' : 'error');
          return Promise.reject(err);
        },
      );
    }
    const memberId = portal.memberId;
    if (renewal === 'as-stored') {
      b24.setCustomRefreshAuth(() => Promise.reject(new AppError('B24.TOKEN_NOT_RENEWED', 'Bitrix24 refused the stored access token, and it is not renewed here.', 502)));
      return b24;
    }
    // Refresh always goes to B24_OAUTH_URL, whatever server_endpoint an answer names (portal-identity.ts), through
    // the portal's one renewal at a time; `held` is the refresh token this client holds.
    let held = portal.refreshToken!;
    b24.setCustomRefreshAuth(async () => {
      const pair = await this.tokens.refresh(memberId, held);
      held = pair.refreshToken;
      return {
        access_token: pair.accessToken, refresh_token: pair.refreshToken, expires: pair.expiresAt,
        expires_in: Math.max(0, pair.expiresAt - Math.floor(Date.now() / 1000)), domain: portal.domain, member_id: memberId,
        // The portal stays the one on record, whatever endpoint an answer names.
        client_endpoint: portal.clientEndpoint, server_endpoint: `${this.config.bitrix.oauthUrl}/rest/`, scope: portal.scope ?? '', status: 'L',
      } as never;
    });
    return b24;
  }
}

interface BatchEnvelope { result?: unknown; result_error?: unknown; result_time?: unknown }

const mapOf = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/** A command's error in Bitrix24's words: its description, with its code when it has one. */
function refusalOf(e: unknown): string {
  if (typeof e === 'string') return e;
  const { error, error_description: description } = (e ?? {}) as { error?: unknown; error_description?: unknown };
  const code = error === undefined || error === null ? '' : String(error);
  const text = description === undefined || description === null ? '' : String(description).trim();
  if (!text) return code || 'Bitrix24 gave no reason';
  return code && code !== '0' ? `${text} (${code})` : text;
}

/**
 * A command's parameters as the query string of a batch line, nested the PHP way (`fields[EMAIL][0][VALUE]=…`), as
 * Bitrix24 parses it (docs/reference/bitrix24.md#batch); `undefined` is left out and `null` sent empty.
 */
export function phpQuery(params: Record<string, unknown>): string {
  const parts: string[] = [];
  const walk = (key: string, v: unknown): void => {
    if (v === undefined) return;
    if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(`${key}[${k}]`, x);
      return;
    }
    parts.push(`${encodeURIComponent(key)}=${v === null ? '' : encodeURIComponent(String(v))}`);
  };
  for (const [k, v] of Object.entries(params)) walk(k, v);
  return parts.join('&');
}

function isNetworkError(err: unknown): boolean {
  const e = err as { status?: number; code?: string; message?: string };
  return (e?.status === 0 || e?.status === undefined) && /network|ECONN|socket|timeout|ETIMEDOUT|EPIPE/i.test(`${e?.code} ${e?.message}`);
}

function b24Error(method: string, message: string): AppError {
  return new AppError('B24.CALL_FAILED', `Bitrix24 ${method} failed: ${message}`, 502);
}

/** OPERATION_TIME_LIMIT (HTTP 429) on a call or a batch command (docs/reference/bitrix24.md#limits). */
function isOperatingLimit(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === 'OPERATION_TIME_LIMIT' || /operation time limit/i.test(String(e?.message ?? ''));
}

/** 503 QUERY_LIMIT_EXCEEDED: the portal's request bucket is full (docs/reference/bitrix24.md#limits). */
function isQueryLimit(err: unknown): boolean {
  const e = err as { code?: string; message?: string; status?: number };
  return e?.code === 'QUERY_LIMIT_EXCEEDED' || /QUERY_LIMIT_EXCEEDED|too many requests/i.test(String(e?.message ?? ''));
}

function toAppError(method: string, err: unknown): AppError {
  if (err instanceof AppError) return err;
  // A renewal refused in the custom refresh reaches here wrapped by the SDK (JSSDK_UNKNOWN_ERROR): its own error wins.
  const original = (err as { originalError?: unknown } | null)?.originalError;
  if (original instanceof AppError) return original;
  const e = err as { code?: string; status?: number; message?: string; description?: string };
  const code = String(e?.code ?? 'UNKNOWN');
  const text = e?.description || e?.message || String(err);
  return new AppError(`B24.${code}`, `Bitrix24 ${method} failed: ${text}`, 502, { status: e?.status ?? 0 });
}
