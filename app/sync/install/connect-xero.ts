/**
 * Connecting a portal to one Xero organisation, and disconnecting it.
 *
 * Standard app, bound to the browser that started it:
 * 1. an admin clicks "Connect Xero" → a single-use start ticket for the portal (`begin`);
 * 2. the Xero window opens the connector's start URL with the ticket → a random browser secret goes into a
 *    first-party cookie, its hash and a PKCE verifier into a new single-use state → redirect to Xero (`start`);
 * 3. Xero redirects back with code and state → the state is taken only with the same browser's cookie → code
 *    exchanged with the PKCE verifier → the authorised organisations (`complete`); nothing is saved yet;
 * 4. the window names the organisation(s) and the Bitrix24 portal; the connection is saved only when that
 *    browser confirms there, with the page's CSRF token and the cookie again (`confirm`).
 * Custom connection: the client-credentials grant, no browser step.
 * A portal has at most one active connection; reconnecting resumes the jobs a lost authorisation paused.
 */
import { createHash, randomBytes } from 'node:crypto';
import { AppError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { sameSecret } from '../../bitrix/request-auth.js';
import type { Connection } from '../../store/connections.js';
import type { Store } from '../../store/index.js';
import type { XeroConnections } from '../../xero/connections.js';
import { newCodeVerifier, type XeroIdentity, type XeroTenant, type XeroTokens } from '../../xero/identity.js';
import { ORG_DATA_JOB } from '../setup/org-data.js';

/** How long a "Connect Xero" click may wait for its window to open. */
const TICKET_TTL_MS = 5 * 60_000;
/** How long the admin has in Xero's consent pages. */
const STATE_TTL_MS = 10 * 60_000;
/** How long the admin has to confirm (and choose among several organisations). */
const CHOICE_TTL_MS = 10 * 60_000;

/** Consent steps kept in the store ('state' rows carry a stage: the click's ticket, then the Xero round trip). */
/** Each step keeps the language of the admin who clicked, so the Xero window speaks it (`lang`, a dictionary's code). */
interface Ticket { stage: 'ticket'; lang?: string }
interface AuthorizeStep { stage: 'authorize'; browserHash: string; codeVerifier: string; lang?: string }
interface PendingConfirmation {
  tokens: XeroTokens;
  tenants: XeroTenant[];
  browserHash: string;
  csrfHash: string;
  lang?: string;
}

/** What the confirmation page shows: the organisations Xero authorised and the portal they would be connected to. */
export interface ConsentConfirmation {
  choiceId: string;
  /** Goes into the confirmation form; required back with the cookie. */
  csrf: string;
  memberId: string;
  portalDomain: string;
  tenants: XeroTenant[];
  /** The language of the admin who clicked "Connect Xero" (undefined when not known). */
  lang: string | undefined;
}

const hashOf = (secret: string) => createHash('sha256').update(secret).digest('base64url');
const randomSecret = () => randomBytes(32).toString('base64url');

export class ConnectXero {
  constructor(
    private readonly store: Store,
    private readonly identity: XeroIdentity,
    private readonly connections: XeroConnections,
    private readonly logger: Logger,
  ) {}

  /** Step 1: a single-use ticket for the Xero window of an admin of `memberId`. */
  async begin(memberId: string, userId: number, lang?: string): Promise<string> {
    this.identity.assertConfigured();
    return await this.store.consents.create({ memberId, purpose: 'state', userId, payload: { stage: 'ticket', lang } satisfies Ticket, ttlMs: TICKET_TTL_MS });
  }

  /** The language a consent step (ticket, state or choice) carries, without taking it; undefined once it is gone. */
  async languageOf(id: string | undefined, purpose: 'state' | 'tenant_choice'): Promise<string | undefined> {
    if (!id) return undefined;
    const lang = (await this.store.consents.peek<{ lang?: unknown }>(id, purpose))?.payload?.lang;
    return typeof lang === 'string' ? lang : undefined;
  }

  /**
   * Step 2: the Xero window opened the start URL. The ticket is taken once; the answer is the secret for the
   * browser's cookie and Xero's consent URL (state and PKCE challenge bound to that secret).
   */
  async start(ticket: string): Promise<{ browserSecret: string; authorizeUrl: string }> {
    const taken = await this.store.consents.consume<Ticket | AuthorizeStep>(ticket, 'state');
    if (!taken || taken.payload?.stage !== 'ticket') throw linkUsed();
    const browserSecret = randomSecret();
    const codeVerifier = newCodeVerifier();
    const state = await this.store.consents.create({
      memberId: taken.memberId,
      purpose: 'state',
      userId: taken.userId,
      payload: { stage: 'authorize', browserHash: hashOf(browserSecret), codeVerifier, lang: taken.payload.lang } satisfies AuthorizeStep,
      ttlMs: STATE_TTL_MS,
    });
    return { browserSecret, authorizeUrl: this.identity.authorizeUrl(state, codeVerifier) };
  }

  /**
   * Step 3: Xero redirected back. The state is taken once, and only by the browser that started it; the
   * organisations are offered for confirmation, nothing is connected yet.
   */
  async complete(state: string, code: string, browserSecret: string | undefined): Promise<ConsentConfirmation> {
    // step B: race — as in confirm(): peek and consume span awaits; consume still takes the state once.
    const step = await this.store.consents.peek<Ticket | AuthorizeStep>(state, 'state');
    if (!step || step.payload?.stage !== 'authorize') throw linkUsed();
    if (!browserSecret || !sameSecret(hashOf(browserSecret), step.payload.browserHash)) throw otherBrowser();
    const consent = await this.store.consents.consume<AuthorizeStep>(state, 'state');
    if (!consent?.payload) throw linkUsed();
    const tokens = await this.identity.exchangeCode(code, consent.payload.codeVerifier);
    const tenants = (await this.identity.tenants(tokens.accessToken)).filter((t) => t.tenantType === 'ORGANISATION');
    if (tenants.length === 0) {
      throw new AppError('XERO.NO_ORGANISATION', 'No Xero organisation was authorised. Start again and tick an organisation.', 400);
    }
    const csrf = randomSecret();
    const choiceId = await this.store.consents.create({
      memberId: consent.memberId,
      purpose: 'tenant_choice',
      userId: consent.userId,
      payload: { tokens, tenants, browserHash: consent.payload.browserHash, csrfHash: hashOf(csrf), lang: consent.payload.lang } satisfies PendingConfirmation,
      ttlMs: CHOICE_TTL_MS,
    });
    const portal = await this.store.portals.get(consent.memberId);
    return { choiceId, csrf, memberId: consent.memberId, portalDomain: portal?.domain ?? consent.memberId, tenants, lang: consent.payload.lang };
  }

  /** Step 4: the same browser confirmed the organisation (one of those offered) for the named portal. */
  async confirm(input: { choiceId: string; tenantId: string; csrf: string; browserSecret: string | undefined }): Promise<Connection> {
    // step B: race — peek and consume span awaits: two confirmations at once both pass the checks on the peeked
    // choice; consume takes it once, so the second still fails (choiceExpired), but only after its checks.
    const pending = await this.store.consents.peek<PendingConfirmation>(input.choiceId, 'tenant_choice');
    if (!pending?.payload) throw choiceExpired();
    if (!input.browserSecret || !sameSecret(hashOf(input.browserSecret), pending.payload.browserHash)) throw otherBrowser();
    if (!sameSecret(hashOf(input.csrf), pending.payload.csrfHash)) {
      throw new AppError('XERO.CSRF', 'This confirmation did not come from the connector\'s own page. Start again with "Connect Xero" in the app.', 403);
    }
    const tenant = pending.payload.tenants.find((t) => t.tenantId === input.tenantId);
    if (!tenant) throw new AppError('XERO.UNKNOWN_TENANT', 'That organisation was not among the ones authorised.', 400);
    const taken = await this.store.consents.consume<PendingConfirmation>(input.choiceId, 'tenant_choice');
    if (!taken?.payload) throw choiceExpired();
    return this.connect(taken.memberId, taken.payload.tokens, tenant, 'authorization_code');
  }

  /** Custom connection: connects the single organisation with the client-credentials grant. */
  async connectCustom(memberId: string): Promise<Connection> {
    const tokens = await this.identity.clientCredentials();
    let tenant: XeroTenant = { id: '', tenantId: 'custom-connection', tenantName: 'Xero organisation', tenantType: 'ORGANISATION' };
    try {
      const listed = await this.identity.tenants(tokens.accessToken);
      if (listed.length === 1) tenant = listed[0];
    } catch (err) {
      // Custom connections need no tenant id (docs/reference/xero.md#custom-connections); the list is only for the organisation's name.
      this.logger.info({ err }, 'custom connection: organisation list unavailable; connecting without a tenant id');
    }
    return this.connect(memberId, tokens, tenant, 'client_credentials');
  }

  /** Disconnect: revoke at Xero (best effort), forget the tokens, keep links and history. */
  async disconnect(memberId: string): Promise<void> {
    for (const c of (await this.store.connections.listForPortal(memberId)).filter((c) => c.state !== 'disconnected')) {
      try {
        if (c.grantType === 'authorization_code') {
          if (c.accessToken && c.xeroConnectionId) await this.identity.deleteConnection(c.accessToken, c.xeroConnectionId);
          if (c.refreshToken) await this.identity.revoke(c.refreshToken);
        }
      } catch (err) {
        this.logger.warn({ err, connectionId: c.id }, 'Xero revocation failed; forgetting the tokens anyway');
      }
      await this.store.transaction(async () => {
        await this.store.connections.forget(c.id);
        await this.store.activity.record({
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

  private async connect(memberId: string, tokens: XeroTokens, tenant: XeroTenant, grantType: Connection['grantType']): Promise<Connection> {
    const connection = (await this.store.transaction(async () => {
      for (const other of (await this.store.connections.listForPortal(memberId))) {
        if (other.tenantId !== tenant.tenantId && other.state !== 'disconnected') await this.store.connections.forget(other.id);
      }
      const saved = (await this.store.connections.upsert({
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
      }));
      const resumed = await this.store.jobs.resume(memberId);
      // The organisation's accounts, tax rates, … are read at once, for the settings and the automatic matches.
      await this.store.jobs.enqueue({ memberId, kind: ORG_DATA_JOB, key: `${ORG_DATA_JOB}:${memberId}`, payload: {} });
      await this.store.activity.record({
        memberId,
        level: 'info',
        kind: 'xero.connected',
        subject: `connection:${saved.id}`,
        message: `Connected to ${tenant.tenantName}.${resumed ? ` ${resumed} paused job(s) resumed.` : ''}`,
      });
      return saved;
    }));
    this.connections.forget(connection.id);
    this.logger.info({ memberId, connectionId: connection.id, grantType }, 'Xero connected');
    return connection;
  }
}

function linkUsed(): AppError {
  return new AppError(
    'XERO.STATE_INVALID',
    'This Xero sign-in link was already used or has expired. Start again with "Connect Xero" in the app.',
    400,
  );
}

function otherBrowser(): AppError {
  return new AppError(
    'XERO.OTHER_BROWSER',
    'This Xero sign-in was started in another browser, so it cannot be finished here. Start again with "Connect Xero" in the Bitrix24 app in this browser.',
    403,
  );
}

function choiceExpired(): AppError {
  return new AppError(
    'XERO.CHOICE_EXPIRED',
    'This confirmation has expired or was already made. Start again with "Connect Xero" in the app.',
    400,
  );
}
