/**
 * All REST speech with one Bitrix24 portal goes through a PortalClient: one `B24OAuth` instance per portal
 * (`member_id`), tokens refreshed through B24_OAUTH_URL and the rotated pair persisted atomically.
 *
 * Retry policy: the SDK retries 503 QUERY_LIMIT_EXCEEDED with back-off and waits at least 10 s on 429
 * OPERATION_TIME_LIMIT (3 attempts in all); once it gives up — and for batch commands, which it does not retry — the
 * work waits in the queue a minute with the reason shown (`operatingLimitReached`), never failing for it;
 * network errors are NOT retried by the SDK (a lost `*.add` answer retried blindly makes duplicates). Reads
 * that are safe to repeat ask for `idempotent: true` and are retried here once on a network error.
 */
import { clock } from '../clock.js';
import { ApiVersion, B24OAuth, type B24OAuthParams } from '@bitrix24/b24jssdk';
import type { Config } from '../config.js';
import { AppError, LimitReached, utcTime } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';
import type { Portal } from '../store/portals.js';
import { refreshAtOAuthServer } from './portal-identity.js';
import type { Metrics } from '../metrics.js';

/** Milliseconds any single Bitrix24 REST call may take. */
export const B24_TIMEOUT_MS = 30_000;

export type BatchCalls = Record<string, [method: string, params: Record<string, unknown>]>;

export interface BatchOutcome {
  /** Results of the commands that succeeded, by key. */
  results: Record<string, unknown>;
  /** Error messages of the commands that failed, by key. */
  errors: Record<string, string>;
  /** Keys of the commands refused because their method's operating time is spent (OPERATION_TIME_LIMIT). */
  limited: string[];
}

/**
 * Bitrix24 blocks a method whose operating time is spent until enough of it leaves the method's window of ten
 * one-minute buckets (bitrix24-rest.md §9; https://apidocs.bitrix24.com/limits.html): the work waits a minute, when
 * the oldest bucket has left, instead of the call sleeping.
 */
export const OPERATING_RETRY_MS = 60_000;

/** The work that met OPERATION_TIME_LIMIT on `method` waits in the queue (LimitReached), the reason shown. */
export function operatingLimitReached(method: string, now = clock.now()): LimitReached {
  const at = now + OPERATING_RETRY_MS;
  return new LimitReached('B24.OPERATION_TIME_LIMIT', `Bitrix24 blocks ${method} for now (its operating time limit); retry at ${utcTime(at)}.`, at);
}

export interface CallOptions {
  /** Safe to repeat after a network error (reads). (Default: false) */
  idempotent?: boolean;
}

export class PortalClient {
  readonly #b24: B24OAuth;

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
      const data = r.getData() as { result: unknown; next?: number };
      return { ...data, total: r.getTotal() };
    };
    try {
      return await attempt();
    } catch (err) {
      if (options.idempotent && isNetworkError(err)) {
        try {
          return await attempt();
        } catch (second) {
          throw toAppError(method, second);
        }
      }
      throw toAppError(method, err);
    }
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
    if (keys.length === 0) return { results: {}, errors: {}, limited: [] };
    if (keys.length > 50) throw new AppError('B24.BATCH_TOO_LARGE', 'A Bitrix24 batch holds at most 50 commands.');
    const cmd = Object.fromEntries(keys.map((k) => [k, `${calls[k]![0]}?${phpQuery(calls[k]![1])}`]));
    // https://apidocs.bitrix24.com/settings/how-to-call-rest-api/batch.html — {halt, cmd: {key: 'method?query'}} →
    // result.{result, result_error, result_total, result_next, result_time}; empty maps come as [].
    const answer = await this.call<BatchEnvelope>('batch', { halt: options.haltOnError ? 1 : 0, cmd });
    const results = mapOf(answer?.result);
    const errors: Record<string, string> = {};
    const limited: string[] = [];
    for (const [k, e] of Object.entries(mapOf(answer?.result_error))) {
      errors[k] = refusalOf(e);
      if (isOperatingLimit({ code: (e as { error?: unknown } | null)?.error, message: errors[k] })) limited.push(k);
    }
    return { results, errors, limited };
  }

  /**
   * Reads a list method with keyset paging (`start: -1`, ascending by `idKey`, `>idKey` filter), 50 pages of 50 rows
   * per `batch` call: each command's cursor names the last row of the command before it (`$result[p0][49][ID]`,
   * batch.md), so a caller gets 2,500 rows per call yet holds one page at a time (the first call asks for one page
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
      const { results, errors } = await this.batch(calls);
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
      throw toAppError(method, err);
    }
  }
}

/** Keeps one PortalClient per portal, built from the stored tokens. */
export class PortalClients {
  readonly #clients = new Map<string, PortalClient>();

  constructor(
    private readonly store: Store,
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly metrics?: Metrics,
  ) {}

  for(memberId: string): PortalClient {
    const cached = this.#clients.get(memberId);
    if (cached) return cached;
    const portal = this.store.portals.get(memberId);
    if (!portal || portal.state === 'uninstalled' || !portal.accessToken || !portal.refreshToken) {
      throw new AppError('B24.PORTAL_NOT_INSTALLED', 'The app is not installed on this Bitrix24 portal.', 409);
    }
    const client = new PortalClient(memberId, this.build(portal));
    this.#clients.set(memberId, client);
    return client;
  }

  /** Drops the cached client (after re-install, update or uninstall) so the next use reads fresh tokens. */
  forget(memberId: string): void {
    this.#clients.delete(memberId);
  }

  private build(portal: Portal): B24OAuth {
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
      expires: portal.expiresAt ?? 0,
      expiresIn: 3600,
      scope: portal.scope ?? '',
      domain: portal.domain,
      clientEndpoint: portal.clientEndpoint,
      serverEndpoint: `${this.config.bitrix.oauthUrl}/rest/`,
      status: 'L',
    } as B24OAuthParams;
    const b24 = new B24OAuth(params, { clientId, clientSecret }, {
      restrictionParams: {
        // Self-hosted portals have no leaky bucket by default (bitrix24-rest.md §9); these are the
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
    // Refresh always goes to B24_OAUTH_URL, whatever server_endpoint an answer names (portal-identity.ts).
    // Refresh tokens are single-use and the store may be shared with another process (`npm run import`): renewal
    // runs under a lease in SQLite, and the tokens are read again once it is held — when another process renewed
    // meanwhile, its tokens are used instead of spending the refresh token a second time.
    let held = portal.refreshToken;
    const memberId = portal.memberId;
    const fresh = (p: Portal | undefined): p is Portal => Boolean(p?.refreshToken && p.accessToken && (p.expiresAt ?? 0) > Date.now() / 1000 + 60);
    const stored = (p: Portal) => {
      held = p.refreshToken;
      return {
        access_token: p.accessToken, refresh_token: p.refreshToken, expires: p.expiresAt,
        expires_in: Math.max(0, (p.expiresAt ?? 0) - Math.floor(Date.now() / 1000)), domain: portal.domain, member_id: memberId,
        client_endpoint: p.clientEndpoint, server_endpoint: `${this.config.bitrix.oauthUrl}/rest/`, scope: p.scope ?? '', status: 'L',
      } as never;
    };
    b24.setCustomRefreshAuth(() => this.store.leases.withLease(`b24-token:${memberId}`, async () => {
      let current = this.store.portals.get(memberId);
      if (!current?.refreshToken) throw new AppError('B24.PORTAL_NOT_INSTALLED', 'The app was uninstalled.', 409);
      if (current.refreshToken !== held && fresh(current)) return stored(current);
      let answer: Awaited<ReturnType<typeof refreshAtOAuthServer>>;
      for (let attempt = 1; ; attempt++) {
        try {
          answer = await refreshAtOAuthServer(this.config.bitrix, current.refreshToken!);
          break;
        } catch (err) {
          const e = err as AppError;
          // A racing renewal (a process outside the lease, an answer lost after Bitrix24 rotated) spent this refresh
          // token and stored the rotated pair meanwhile: the session goes on with those, or one refresh with them
          // (bitrix24-rest.md §7: a used refresh token is refused with invalid_grant).
          const now = this.store.portals.get(memberId);
          if (e.details?.reason === 'invalid_grant' && now?.refreshToken && now.refreshToken !== current.refreshToken) {
            if (fresh(now)) return stored(now);
            if (attempt === 1) {
              current = now;
              continue;
            }
          }
          this.logger.warn({ memberId, code: e.code, reason: e.details?.reason }, 'Bitrix24 token refresh refused');
          // In the sync a refused refresh is the portal's problem (502), not the caller's.
          throw e.code === 'B24.REFRESH_FAILED' ? new AppError(e.code, e.message, 502, e.details) : e;
        }
      }
      const expires = Number(answer.expires ?? 0) || Math.floor(Date.now() / 1000) + Number(answer.expires_in ?? 3600);
      // Saved before the lease ends, so the next holder reads the rotated pair.
      this.store.portals.saveTokens(memberId, { accessToken: answer.access_token, refreshToken: answer.refresh_token, expiresAt: expires });
      held = answer.refresh_token;
      return {
        ...answer,
        expires,
        // The portal stays the one on record, whatever endpoint an answer names.
        client_endpoint: portal.clientEndpoint,
        server_endpoint: `${this.config.bitrix.oauthUrl}/rest/`,
      } as never;
    }));
    b24.setCallbackRefreshAuth(async ({ b24OAuthParams }) => {
      this.store.portals.saveTokens(portal.memberId, {
        accessToken: b24OAuthParams.accessToken,
        refreshToken: b24OAuthParams.refreshToken,
        expiresAt: b24OAuthParams.expires,
      });
      this.logger.info({ memberId: portal.memberId }, 'Bitrix24 tokens renewed');
    });
    return b24;
  }
}

interface BatchEnvelope { result?: unknown; result_error?: unknown }

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
 * Bitrix24 parses it (batch.md); `undefined` is left out and `null` sent empty.
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

/** OPERATION_TIME_LIMIT (HTTP 429) on a call or a batch command. Source: bitrix24-rest.md §9. */
function isOperatingLimit(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === 'OPERATION_TIME_LIMIT' || /operation time limit/i.test(String(e?.message ?? ''));
}

function toAppError(method: string, err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (isOperatingLimit(err)) return operatingLimitReached(method);
  const e = err as { code?: string; status?: number; message?: string; description?: string };
  const code = String(e?.code ?? 'UNKNOWN');
  const text = e?.description || e?.message || String(err);
  return new AppError(`B24.${code}`, `Bitrix24 ${method} failed: ${text}`, 502, { status: e?.status ?? 0 });
}
