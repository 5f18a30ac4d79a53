/**
 * One xero-node client per connection, always holding a usable access token.
 *
 * Refresh is single-flight per connection: concurrent callers share one refresh, and the rotated refresh
 * token is saved in the same statement as the access token (docs/reference/xero.md#oauth: Xero rotates on every refresh,
 * and a lost rotation ends in `invalid_grant`). `invalid_grant` marks the connection "needs reconnect"
 * and pauses its jobs instead of failing them; reconnecting resumes them.
 */
import { clock } from '../clock.js';
import axios from 'axios';
import { XeroClient } from 'xero-node';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Connection } from '../store/connections.js';
import type { Store } from '../store/index.js';
import { isInvalidGrant, type XeroIdentity, type XeroTokens } from './identity.js';

/** Milliseconds any single Xero API call may take (xero-node uses the default axios instance). */
export const XERO_API_TIMEOUT_MS = 30_000;
axios.defaults.timeout ||= XERO_API_TIMEOUT_MS;

/** Renew this many seconds before the access token's expiry. */
const EXPIRY_MARGIN_S = 60;

/** Job kinds that talk to Xero and wait while a connection needs reconnecting. */
export const XERO_JOB_KINDS = ['push-invoice', 'push-quote', 'push-contact', 'pull-statuses', 'import-from-xero', 'xero-webhook', 'pull-contact'];

function fresh(c: Connection): boolean {
  return Boolean(c.accessToken) && (c.expiresAt ?? 0) - EXPIRY_MARGIN_S > clock.now() / 1000;
}

export interface XeroSession {
  connection: Connection;
  xero: XeroClient;
  /** Value for the `xero-tenant-id` argument ('' for custom connections, which need none). */
  tenantId: string;
}

export class XeroConnections {
  readonly #clients = new Map<number, { xero: XeroClient; accessToken: string }>();
  readonly #renewing = new Map<number, Promise<Connection>>();
  /** Count of token renewals made, for health and tests. */
  renewals = 0;

  constructor(
    private readonly store: Store,
    private readonly config: Config,
    private readonly identity: XeroIdentity,
    private readonly logger: Logger,
  ) {}

  /** A client with a fresh token for the connection; renews first when the token is (nearly) expired. */
  async session(connectionId: number): Promise<XeroSession> {
    let connection = await this.active(connectionId);
    if (!fresh(connection)) {
      connection = await this.renew(connectionId, connection.accessToken ?? '');
    }
    return this.sessionFor(connection);
  }

  /**
   * After a 401 from the API with `staleAccessToken`: renews unless another caller already did.
   */
  async sessionAfterUnauthorized(connectionId: number, staleAccessToken: string): Promise<XeroSession> {
    const connection = await this.active(connectionId);
    if (connection.accessToken && connection.accessToken !== staleAccessToken) return this.sessionFor(connection);
    return this.sessionFor(await this.renew(connectionId, staleAccessToken));
  }

  /**
   * Single-flight renewal: every concurrent caller in this process awaits the same promise, and processes sharing
   * the store take turns through a lease in SQLite. Once the lease is held the tokens are read again: when another
   * process renewed since `staleAccessToken` was read, its fresh token is used and the refresh token is not spent.
   */
  renew(connectionId: number, staleAccessToken?: string): Promise<Connection> {
    const inFlight = this.#renewing.get(connectionId);
    if (inFlight) return inFlight;
    const p = this.store.leases
      .withLease(`xero-token:${connectionId}`, async () => {
        const now = await this.active(connectionId);
        if (staleAccessToken !== undefined && now.accessToken && now.accessToken !== staleAccessToken && fresh(now)) return now;
        return this.doRenew(connectionId);
      })
      .finally(() => this.#renewing.delete(connectionId));
    this.#renewing.set(connectionId, p);
    return p;
  }

  /**
   * After Xero refused the organisation (403, or 401 to a token just renewed): asks Xero which organisations the token
   * still reaches (GET /connections, docs/reference/xero.md#tenants). When this one is gone — a Xero user removed the app from the
   * organisation, or the authorisation was revoked — the connection needs reconnecting and its jobs pause; returns
   * whether that happened. A custom connection has no consent to renew, so it is left as it is.
   */
  async confirmTenant(session: XeroSession): Promise<boolean> {
    const { connection } = session;
    if (connection.grantType === 'client_credentials' || !connection.accessToken) return false;
    let reached: boolean;
    try {
      reached = (await this.identity.tenants(connection.accessToken)).some((t) => t.tenantId.toLowerCase() === connection.tenantId.toLowerCase());
    } catch (err) {
      if ((err as AppError).details?.status !== 401) return false; // Xero could not say: the call's own error stands
      reached = false;
    }
    if (reached) return false;
    // step B: race — read then marked: a reconnect finished meanwhile would be marked as needing one again.
    const current = await this.store.connections.get(connection.id);
    if (current?.state === 'active') await this.markNeedsReconnect(current, `Xero no longer lets the connector reach ${connection.tenantName ?? 'the organisation'} (the app was disconnected in Xero or its access revoked).`);
    return true;
  }

  /** Marks the connection as needing a reconnect and pauses its Xero jobs. */
  async markNeedsReconnect(connection: Connection, reason: string): Promise<void> {
    await this.store.transaction(async () => {
      await this.store.connections.setState(connection.id, 'needs_reconnect', reason);
      await this.store.jobs.pause(connection.memberId, XERO_JOB_KINDS, reason);
      await this.store.activity.record({
        memberId: connection.memberId,
        level: 'error',
        kind: 'xero.needs_reconnect',
        subject: `connection:${connection.id}`,
        message: `${connection.tenantName ?? 'Xero'} needs reconnecting: ${reason} Sync with it is paused until an admin reconnects.`,
      });
    });
    this.forget(connection.id);
    this.logger.warn({ connectionId: connection.id }, 'Xero connection needs reconnecting; its jobs are paused');
  }

  forget(connectionId: number): void {
    this.#clients.delete(connectionId);
  }

  private async active(connectionId: number): Promise<Connection> {
    const connection = await this.store.connections.get(connectionId);
    if (!connection) throw new AppError('XERO.NO_CONNECTION', 'This Xero connection no longer exists.', 404);
    if (connection.state === 'needs_reconnect') {
      throw new AppError('XERO.NEEDS_RECONNECT', `${connection.tenantName ?? 'Xero'} needs reconnecting by a portal admin.`, 409);
    }
    if (connection.state === 'disconnected') {
      throw new AppError('XERO.DISCONNECTED', `${connection.tenantName ?? 'Xero'} was disconnected.`, 409);
    }
    return connection;
  }

  private async doRenew(connectionId: number, again = false): Promise<Connection> {
    const connection = await this.active(connectionId);
    let tokens: XeroTokens;
    try {
      if (connection.grantType === 'client_credentials') tokens = await this.identity.clientCredentials();
      else if (connection.refreshToken) tokens = await this.identity.refresh(connection.refreshToken);
      else throw new AppError('XERO.INVALID_GRANT', 'No refresh token is stored for this connection.', 401);
    } catch (err) {
      // A racing renewal (a process outside the lease, or an answer seen elsewhere) spent the refresh token and stored
      // the rotated pair meanwhile: the session goes on with those — or one more refresh with them — instead of
      // asking for a reconnect (docs/reference/xero.md#oauth: a used refresh token is refused once its grace period is over).
      const rotated = isInvalidGrant(err) ? await this.store.connections.get(connectionId) : undefined;
      if (rotated?.state === 'active' && rotated.refreshToken && rotated.refreshToken !== connection.refreshToken) {
        if (fresh(rotated) && rotated.accessToken !== connection.accessToken) return rotated;
        if (!again) return this.doRenew(connectionId, true);
      }
      if (isInvalidGrant(err)) {
        await this.markNeedsReconnect(connection, 'Xero no longer accepts its authorisation (it was revoked or expired).');
        throw new AppError('XERO.NEEDS_RECONNECT', `${connection.tenantName ?? 'Xero'} needs reconnecting by a portal admin.`, 409);
      }
      throw err;
    }
    this.renewals += 1;
    await this.store.connections.saveTokens(connection.id, {
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken ?? connection.refreshToken,
      expiresAt: tokens.expiresAt,
    });
    this.logger.info({ connectionId: connection.id }, 'Xero tokens renewed');
    return (await this.store.connections.get(connection.id))!;
  }

  private sessionFor(connection: Connection): XeroSession {
    let cached = this.#clients.get(connection.id);
    if (!cached) {
      const xero = new XeroClient({
        clientId: this.config.xero.clientId ?? '',
        clientSecret: this.config.xero.clientSecret ?? '',
        grantType: connection.grantType,
        httpTimeout: XERO_API_TIMEOUT_MS,
      });
      xero.openIdClient = this.identity.openIdClient;
      xero.accountingApi.basePath = `${this.config.xero.apiUrl}/api.xro/2.0`;
      cached = { xero, accessToken: '' };
      this.#clients.set(connection.id, cached);
    }
    if (cached.accessToken !== connection.accessToken) {
      // Build a new token set object per change: never mutate what the SDK holds (docs/reference/xero.md#xero-node).
      cached.xero.setTokenSet({
        access_token: connection.accessToken!,
        refresh_token: connection.refreshToken ?? undefined,
        expires_at: connection.expiresAt ?? undefined,
        token_type: 'Bearer',
      });
      cached.accessToken = connection.accessToken!;
    }
    return {
      connection,
      xero: cached.xero,
      tenantId: connection.grantType === 'client_credentials' ? '' : connection.tenantId,
    };
  }
}
