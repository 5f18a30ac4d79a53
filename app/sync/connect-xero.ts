/**
 * Connecting a portal to one Xero organisation, and disconnecting it.
 *
 * Standard app: the admin clicks "Connect Xero" → a single-use state bound to the portal → Xero's consent
 * page → callback with the code → tokens → the authorised organisations → connected at once when there is
 * one, or a choice when there are several. Custom connection: the client-credentials grant, no browser step.
 * A portal has at most one active connection; reconnecting resumes the jobs a lost authorisation paused.
 */
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Connection } from '../store/connections.js';
import type { Store } from '../store/index.js';
import type { XeroConnections } from '../xero/connections.js';
import type { XeroIdentity, XeroTenant, XeroTokens } from '../xero/identity.js';
import { ORG_DATA_JOB } from './org-data.js';

/** How long a "Connect Xero" click stays valid. */
const STATE_TTL_MS = 10 * 60_000;
/** How long the admin has to choose among several organisations. */
const CHOICE_TTL_MS = 10 * 60_000;

interface TenantChoice {
  tokens: XeroTokens;
  tenants: XeroTenant[];
}

export type ConsentOutcome =
  | { kind: 'connected'; connection: Connection }
  | { kind: 'choose'; choiceId: string; memberId: string; tenants: XeroTenant[] };

export class ConnectXero {
  constructor(
    private readonly store: Store,
    private readonly identity: XeroIdentity,
    private readonly connections: XeroConnections,
    private readonly logger: Logger,
  ) {}

  /** Step 1: the consent URL for an admin of `memberId`. */
  begin(memberId: string, userId: number): string {
    this.identity.assertConfigured();
    const state = this.store.consents.create({ memberId, purpose: 'state', userId, ttlMs: STATE_TTL_MS });
    return this.identity.authorizeUrl(state);
  }

  /** Step 2: Xero redirected back. The state is taken once; a replay or a forged state is refused. */
  async complete(state: string, code: string): Promise<ConsentOutcome> {
    const consent = this.store.consents.consume(state, 'state');
    if (!consent) {
      throw new AppError(
        'XERO.STATE_INVALID',
        'This Xero sign-in link was already used or has expired. Start again with "Connect Xero" in the app.',
        400,
      );
    }
    const tokens = await this.identity.exchangeCode(code);
    const tenants = (await this.identity.tenants(tokens.accessToken)).filter((t) => t.tenantType === 'ORGANISATION');
    if (tenants.length === 0) {
      throw new AppError('XERO.NO_ORGANISATION', 'No Xero organisation was authorised. Start again and tick an organisation.', 400);
    }
    if (tenants.length === 1) {
      return { kind: 'connected', connection: this.connect(consent.memberId, tokens, tenants[0], 'authorization_code') };
    }
    const choiceId = this.store.consents.create({
      memberId: consent.memberId,
      purpose: 'tenant_choice',
      userId: consent.userId,
      payload: { tokens, tenants } satisfies TenantChoice,
      ttlMs: CHOICE_TTL_MS,
    });
    return { kind: 'choose', choiceId, memberId: consent.memberId, tenants };
  }

  /** The organisations offered by a pending choice (to show them), without taking it. */
  offered(choiceId: string): XeroTenant[] {
    const choice = this.store.consents.peek<TenantChoice>(choiceId, 'tenant_choice');
    if (!choice?.payload) throw choiceExpired();
    return choice.payload.tenants;
  }

  /** Step 3 (several organisations): the admin picked one. */
  choose(choiceId: string, tenantId: string): Connection {
    const choice = this.store.consents.consume<TenantChoice>(choiceId, 'tenant_choice');
    if (!choice?.payload) throw choiceExpired();
    const tenant = choice.payload.tenants.find((t) => t.tenantId === tenantId);
    if (!tenant) throw new AppError('XERO.UNKNOWN_TENANT', 'That organisation was not among the ones authorised.', 400);
    return this.connect(choice.memberId, choice.payload.tokens, tenant, 'authorization_code');
  }

  /** Custom connection: connects the single organisation with the client-credentials grant. */
  async connectCustom(memberId: string): Promise<Connection> {
    const tokens = await this.identity.clientCredentials();
    let tenant: XeroTenant = { id: '', tenantId: 'custom-connection', tenantName: 'Xero organisation', tenantType: 'ORGANISATION' };
    try {
      const listed = await this.identity.tenants(tokens.accessToken);
      if (listed.length === 1) tenant = listed[0];
    } catch (err) {
      // Custom connections need no tenant id (xero-api.md §1); the list is only for the organisation's name.
      this.logger.info({ err }, 'custom connection: organisation list unavailable; connecting without a tenant id');
    }
    return this.connect(memberId, tokens, tenant, 'client_credentials');
  }

  /** Disconnect: revoke at Xero (best effort), forget the tokens, keep links and history. */
  async disconnect(memberId: string): Promise<void> {
    for (const c of this.store.connections.listForPortal(memberId).filter((c) => c.state !== 'disconnected')) {
      try {
        if (c.grantType === 'authorization_code') {
          if (c.accessToken && c.xeroConnectionId) await this.identity.deleteConnection(c.accessToken, c.xeroConnectionId);
          if (c.refreshToken) await this.identity.revoke(c.refreshToken);
        }
      } catch (err) {
        this.logger.warn({ err, connectionId: c.id }, 'Xero revocation failed; forgetting the tokens anyway');
      }
      this.store.transaction(() => {
        this.store.connections.forget(c.id);
        this.store.activity.record({
          memberId,
          level: 'info',
          kind: 'xero.disconnected',
          subject: `connection:${c.id}`,
          message: `Disconnected from ${c.tenantName ?? 'Xero'}.`,
        });
      });
      this.connections.forget(c.id);
    }
  }

  private connect(memberId: string, tokens: XeroTokens, tenant: XeroTenant, grantType: Connection['grantType']): Connection {
    const connection = this.store.transaction(() => {
      for (const other of this.store.connections.listForPortal(memberId)) {
        if (other.tenantId !== tenant.tenantId && other.state !== 'disconnected') this.store.connections.forget(other.id);
      }
      const saved = this.store.connections.upsert({
        memberId,
        tenantId: tenant.tenantId,
        tenantName: tenant.tenantName,
        tenantType: tenant.tenantType,
        xeroConnectionId: tenant.id || null,
        grantType,
        accessToken: tokens.accessToken,
        refreshToken: tokens.refreshToken,
        expiresAt: tokens.expiresAt,
        scope: tokens.scope,
      });
      const resumed = this.store.jobs.resume(memberId);
      // The organisation's accounts, tax rates, … are read at once, for the settings and the automatic matches.
      this.store.jobs.enqueue({ memberId, kind: ORG_DATA_JOB, key: `${ORG_DATA_JOB}:${memberId}`, payload: {} });
      this.store.activity.record({
        memberId,
        level: 'info',
        kind: 'xero.connected',
        subject: `connection:${saved.id}`,
        message: `Connected to ${tenant.tenantName}.${resumed ? ` ${resumed} paused job(s) resumed.` : ''}`,
      });
      return saved;
    });
    this.connections.forget(connection.id);
    this.logger.info({ memberId, connectionId: connection.id, grantType }, 'Xero connected');
    return connection;
  }
}

function choiceExpired(): AppError {
  return new AppError(
    'XERO.CHOICE_EXPIRED',
    'This choice of organisation has expired or was already made. Start again with "Connect Xero" in the app.',
    400,
  );
}
