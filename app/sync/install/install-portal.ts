/**
 * The app's life in a portal: installed (from the installer page or the API-only ONAPPINSTALL), updated
 * (new application token; Bitrix24 drops bindings, so everything is bound again), uninstalled (tokens
 * forgotten once the portal confirms it; with CLEAN the data is purged after a grace period). Custom-connection mode
 * connects Xero to the first verified portal (or the pinned one), never to another.
 *
 * Nothing a request claims about the portal is believed: its identity comes from Bitrix24's OAuth server (see
 * bitrix/portal-identity.ts), the user behind the tokens must be an admin, and nothing is stored before both hold.
 */
import { clock } from '../../clock.js';
import type { Config } from '../../config.js';
import { AppError, forbidden, unauthorized } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Manifest } from '../../manifest.js';
import type { Store } from '../../store/index.js';
import type { Portal } from '../../store/portals.js';
import { confirmUser, sameSecret, type B24Event, type PageUser } from '../../bitrix/request-auth.js';
import { isPinnedPortal, verifyPortalTokens, type VerifiedPortal } from '../../bitrix/portal-identity.js';
import { isNotInstalledRefusal, readAppStatus } from '../../bitrix/app-status.js';
import type { PortalClients } from '../../bitrix/portal-client.js';
import { setUpPortal, type SetupReport } from '../../bitrix/portal-setup.js';
import type { ConnectXero } from './connect-xero.js';
import type { JobHandler } from '../outbox.js';
import { readPortalClock } from '../intake/install-time.js';

/** What an installer POST or ONAPPINSTALL claims; only the refresh token is used to learn the truth. */
export interface InstallClaim {
  /** The `member_id` the request names; must match the one the OAuth server answers with. */
  memberId: string;
  refreshToken: string;
  applicationToken: string;
}

export interface InstallDeps {
  store: Store;
  clients: PortalClients;
  manifest: Manifest;
  publicUrl: string;
  logger: Logger;
  connectXero: ConnectXero;
  xeroGrantType: 'authorization_code' | 'client_credentials';
  bitrix: Config['bitrix'];
}

export interface InstallOutcome {
  portal: Portal;
  setup: SetupReport;
  installedBy: PageUser;
}

/** What the portal said when asked whether an ONAPPUNINSTALL is true. */
export type UninstallOutcome = 'uninstalled' | 'still-installed' | 'unconfirmed';

/** Wait after ONAPPUPDATE before binding again, so the portal has finished dropping the old bindings. */
const REBIND_DELAY_MS = 2000;

export class InstallPortal {
  /** The uninstall check running per portal (at most one at a time). */
  readonly #checks = new Map<string, Promise<UninstallOutcome>>();

  constructor(private readonly deps: InstallDeps) {}

  /**
   * Installer POST or ONAPPINSTALL: the OAuth server names the portal (renewing the posted refresh token), an admin
   * must stand behind it, then the portal is stored and set up.
   */
  async install(claim: InstallClaim): Promise<InstallOutcome> {
    const { store, clients, logger } = this.deps;
    const verified = await this.verify(claim.refreshToken, claim.memberId);
    // step B: race — the portal read here and the upsert below span awaits: two installs of one portal at once may
    // both find it unknown (both set up as 'installed'), or one may pass the endpoint check the other's upsert fails.
    const known = await store.portals.get(verified.memberId);
    if (known && known.clientEndpoint !== verified.clientEndpoint && !(known.state === 'uninstalled' && known.relocationAllowed)) {
      throw new AppError(
        'B24.PORTAL_MISMATCH',
        known.state === 'uninstalled'
          ? `This portal (${known.memberId}) was registered at ${known.domain}; installing it at ${verified.domain} needs an operator's approval (npm run portal -- relocate ${known.memberId}).`
          : `This portal (${known.memberId}) is registered at ${known.domain}; an install from ${verified.domain} is refused. Uninstall the app there first.`,
        409,
      );
    }
    const user = await this.requireAdmin(verified, 'install the connector');
    const portal = await store.portals.upsert({
      memberId: verified.memberId,
      domain: verified.domain,
      clientEndpoint: verified.clientEndpoint,
      serverEndpoint: `${this.deps.bitrix.oauthUrl}/rest/`,
      accessToken: verified.tokens.accessToken,
      refreshToken: verified.tokens.refreshToken,
      expiresAt: verified.tokens.expiresAt,
      applicationToken: claim.applicationToken,
      scope: verified.scope,
      installedBy: user.id,
      state: 'installed',
    });
    clients.forget(portal.memberId);
    await readPortalClock({ store, logger }, await clients.for(portal.memberId), portal.memberId);
    const setup = await this.setUp(portal.memberId, known ? 'reinstalled' : 'installed');
    await this.autoConnectCustom(portal.memberId);
    logger.info({ memberId: portal.memberId, added: setup.added.length, existing: setup.alreadyThere.length }, 'portal installed');
    return { portal: (await store.portals.get(portal.memberId))!, setup, installedBy: user };
  }

  /**
   * ONAPPUPDATE. Checked first, without calling anyone: the portal must be on record and installed, and an endpoint
   * the event names must be its own. Signed with the stored application token, it only rebinds (the tokens on record
   * stay; the posted ones are not needed). A new application token (an update brings one:
   * docs/reference/bitrix24.md#events) is adopted only when the OAuth server says the posted refresh token belongs to this portal (same member_id
   * and endpoint) and its user is an admin; the pair from that refresh is kept, since the refresh consumed the posted
   * one. `beforeOAuth` runs just before that refresh (the route's bounds per address and member_id).
   */
  async update(event: B24Event, beforeOAuth: () => Promise<void> = async () => {}): Promise<void> {
    const { store, clients } = this.deps;
    const portal = await store.portals.get(event.auth.member_id);
    if (!portal || portal.state !== 'installed') throw unauthorized('Unknown portal.');
    if (event.auth.client_endpoint && !sameOrigin(event.auth.client_endpoint, portal.clientEndpoint)) throw unauthorized('The update is not signed by this portal.');
    if (sameSecret(portal.applicationToken, event.auth.application_token)) {
      await this.queueRebind(portal.memberId);
      return;
    }
    if (!event.auth.refresh_token) throw unauthorized('The update is not signed by this portal.');
    await beforeOAuth();
    const verified = await this.verify(event.auth.refresh_token, portal.memberId).catch((err: unknown) => {
      throw err instanceof AppError && err.status < 500 ? unauthorized('The update is not signed by this portal.') : err;
    });
    if (verified.clientEndpoint !== portal.clientEndpoint) throw unauthorized('The update is not signed by this portal.');
    const user = await this.requireAdmin(verified, 'update the connector');
    await store.transaction(async () => {
      await store.portals.saveTokens(portal.memberId, verified.tokens);
      await store.portals.setApplicationToken(portal.memberId, event.auth.application_token);
      await store.activity.record({ memberId: portal.memberId, level: 'info', kind: 'portal.update_accepted', message: `App update confirmed by ${user.name} (portal administrator); the new application token is in use.` });
    });
    clients.forget(portal.memberId);
    await this.queueRebind(portal.memberId);
  }

  /** After ONAPPUPDATE (a `portal-setup` job): bind everything again. */
  async rebind(memberId: string): Promise<SetupReport> {
    this.deps.clients.forget(memberId);
    await readPortalClock(this.deps, await this.deps.clients.for(memberId), memberId);
    return this.setUp(memberId, 'updated');
  }

  /** The outbox handler of `portal-setup` jobs. */
  get setupHandler(): JobHandler {
    return {
      run: async (jobs) => {
        for (const job of jobs) if (job.memberId) await this.rebind(job.memberId);
        return new Map();
      },
    };
  }

  /**
   * ONAPPUNINSTALL (signed only with the application token every user's browser holds): work stops only when the
   * portal confirms it (bitrix/app-status.ts). When the portal cannot be asked now, a `portal-uninstall` job asks
   * again later. One check per portal runs at a time: events arriving meanwhile wait for its answer.
   */
  uninstallIfConfirmed(memberId: string, clean: boolean): Promise<UninstallOutcome> {
    return this.checkOnce(memberId, async () => {
      const { store, logger } = this.deps;
      const answer = await this.askPortalIfInstalled(memberId);
      if (answer === 'installed') {
        await store.activity.record({ memberId, level: 'warn', kind: 'portal.uninstall_ignored', message: 'An uninstall event arrived, but the portal says the app is still installed; nothing was changed.' });
        logger.warn({ memberId }, 'uninstall event not confirmed by the portal; ignored');
        return 'still-installed';
      }
      if (answer === 'unknown') {
        await store.jobs.enqueue({ memberId, kind: 'portal-uninstall', key: `portal-uninstall:${memberId}`, payload: { clean } });
        return 'unconfirmed';
      }
      await this.uninstall(memberId, clean);
      return 'uninstalled';
    });
  }

  /** The outbox handler of `portal-uninstall` jobs: asks the portal again (transient until it answers). */
  get uninstallHandler(): JobHandler {
    return {
      run: async (jobs) => {
        for (const job of jobs) {
          const memberId = job.memberId;
          if (!memberId || (await this.deps.store.portals.get(memberId))?.state !== 'installed') continue;
          const outcome = await this.checkOnce(memberId, async () => {
            const answer = await this.askPortalIfInstalled(memberId);
            if (answer === 'gone') await this.uninstall(memberId, Boolean((job.payload as { clean?: boolean }).clean));
            return answer === 'gone' ? 'uninstalled' : answer === 'installed' ? 'still-installed' : 'unconfirmed';
          });
          if (outcome === 'unconfirmed') throw new AppError('B24.UNREACHABLE', 'The portal could not be asked whether the app was uninstalled, or did not say; asking again later.', 502);
        }
        return new Map();
      },
    };
  }

  /** Runs `check` unless one runs for this portal already; then its answer is everyone's. */
  private checkOnce(memberId: string, check: () => Promise<UninstallOutcome>): Promise<UninstallOutcome> {
    const running = this.#checks.get(memberId);
    if (running) return running;
    const outcome = check().finally(() => this.#checks.delete(memberId));
    this.#checks.set(memberId, outcome);
    return outcome;
  }

  /** Confirmed uninstall: forget the tokens; with CLEAN, the data goes after the grace period (UNINSTALL_GRACE_DAYS). */
  private async uninstall(memberId: string, clean: boolean): Promise<void> {
    const { store, clients, logger, bitrix } = this.deps;
    const purgeAt = clean ? clock.now() + bitrix.uninstallGraceDays * 86_400_000 : null;
    await store.transaction(async () => {
      await store.portals.forgetTokens(memberId);
      if (purgeAt !== null) await store.portals.schedulePurge(memberId, purgeAt);
      for (const c of (await store.connections.listForPortal(memberId))) await store.connections.forget(c.id);
      await store.activity.record({
        memberId,
        level: 'warn',
        kind: 'portal.uninstalled',
        message:
          'The app was uninstalled from the portal; its tokens were forgotten.' +
          (purgeAt !== null ? ` Its data will be deleted after ${new Date(purgeAt).toISOString()} unless an operator keeps it (npm run portal -- restore ${memberId}).` : ''),
      });
    });
    clients.forget(memberId);
    logger.info({ memberId, clean, purgeAt }, 'portal uninstalled');
  }

  /**
   * Asks the portal whether the app is still installed: `app.info` through the portal client (the stored pair,
   * renewed one at a time when expired). "Gone" only when Bitrix24 says so: INSTALLED false, or the portal refusing
   * the pair as stored now — read again after the refusal — as the token of an app that is not installed. A refused
   * renewal alone is not an answer: the portal is then asked with the stored pair as it is.
   */
  private async askPortalIfInstalled(memberId: string): Promise<'installed' | 'gone' | 'unknown'> {
    const { store, clients, logger } = this.deps;
    if ((await store.portals.get(memberId))?.state !== 'installed') return 'gone';
    const unknown = (err: unknown) => {
      logger.warn({ memberId, code: (err as AppError).code }, 'could not learn from the portal whether the app is installed');
      return 'unknown' as const;
    };
    try {
      return (await readAppStatus(await clients.for(memberId))) === 'installed' ? 'installed' : 'gone';
    } catch (err) {
      const refused = isNotInstalledRefusal(err) || (err as AppError).code === 'B24.REFRESH_FAILED';
      if (!refused) return unknown(err);
    }
    // The cached client may hold an older pair than the store; ask once more with the pair as stored now.
    clients.forget(memberId);
    try {
      return (await readAppStatus(await clients.asStored(memberId))) === 'installed' ? 'installed' : 'gone';
    } catch (err) {
      return isNotInstalledRefusal(err) ? 'gone' : unknown(err);
    }
  }

  private async queueRebind(memberId: string): Promise<void> {
    // Bitrix24 drops the app's bindings around an update (docs/reference/bitrix24.md#events): bind again once it settled.
    await this.deps.store.jobs.enqueue({ memberId, kind: 'portal-setup', key: `portal-setup:${memberId}`, payload: { reason: 'updated' }, runAt: clock.now() + REBIND_DELAY_MS });
  }

  /** The OAuth server's word on `refreshToken`: its portal must be the claimed one and, if pinned, B24_PORTAL_URL. */
  private async verify(refreshToken: string, claimedMemberId: string): Promise<VerifiedPortal> {
    const verified = await verifyPortalTokens(this.deps.bitrix, refreshToken);
    if (verified.memberId !== claimedMemberId) {
      throw new AppError('B24.PORTAL_MISMATCH', 'The request names one portal, but its tokens belong to another; nothing was changed.', 401);
    }
    if (!isPinnedPortal(this.deps.bitrix, verified.clientEndpoint)) {
      throw forbidden(`This connector serves only the portal at ${this.deps.bitrix.portalUrl} (B24_PORTAL_URL); ${verified.domain} is refused.`);
    }
    return verified;
  }

  /** The user behind verified tokens, asked at the verified endpoint; 403 unless a portal administrator. */
  private async requireAdmin(verified: VerifiedPortal, what: string): Promise<PageUser> {
    const user = await confirmUser(verified.clientEndpoint, verified.tokens.accessToken, this.deps.bitrix.clientId);
    if (!user.isAdmin) throw forbidden(`Only a Bitrix24 portal administrator can ${what}.`);
    return user;
  }

  /** At start in custom-connection mode: connect every installed portal that has no active connection. */
  async connectCustomWhereMissing(): Promise<void> {
    for (const p of (await this.deps.store.portals.list()).filter((p) => p.state === 'installed')) {
      await this.autoConnectCustom(p.memberId);
    }
  }

  private async setUp(memberId: string, verb: string): Promise<SetupReport> {
    const { store, clients, manifest, publicUrl } = this.deps;
    const setup = await setUpPortal(await clients.for(memberId), manifest, publicUrl);
    await store.transaction(async () => {
      if (setup.productPropertyId) await store.settings.set(memberId, 'b24.accountCodePropertyId', setup.productPropertyId);
      await store.activity.record({
        memberId,
        level: setup.problems.length ? 'warn' : 'info',
        kind: `portal.${verb}`,
        message:
          `App ${verb}: ${setup.added.length} item(s) set up, ${setup.alreadyThere.length} already in place.` +
          (setup.problems.length ? ` Problems: ${setup.problems.join(' ')}` : ''),
        details: { added: setup.added, unavailablePlacements: setup.unavailablePlacements },
      });
    });
    return setup;
  }

  private async autoConnectCustom(memberId: string): Promise<void> {
    if (this.deps.xeroGrantType !== 'client_credentials') return;
    if ((await this.deps.store.connections.current(memberId))?.state === 'active') return;
    // The operator's one organisation belongs to the first verified portal (or the pinned one, the only one allowed).
    const owner = (await this.deps.store.connections.list()).find((c) => c.grantType === 'client_credentials' && c.memberId !== memberId);
    if (owner) {
      await this.deps.store.activity.record({
        memberId,
        level: 'warn',
        kind: 'xero.custom_connection_taken',
        message: 'The Xero custom connection already belongs to another Bitrix24 portal, so this portal was not connected. Set B24_PORTAL_URL to serve one portal only.',
      });
      return;
    }
    try {
      await this.deps.connectXero.connectCustom(memberId);
    } catch (err) {
      this.deps.logger.error({ err, memberId }, 'custom connection to Xero failed');
      await this.deps.store.activity.record({
        memberId,
        level: 'error',
        kind: 'xero.connect_failed',
        message: `Connecting the Xero custom connection failed: ${(err as Error).message}`,
      });
    }
  }
}

/** Whether two URLs share scheme, host and port (an unreadable one never matches). */
function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}
