/**
 * The app's life in a portal: installed (from the installer page or the API-only ONAPPINSTALL), updated
 * (new application token; Bitrix24 drops bindings, so everything is bound again), uninstalled (tokens
 * forgotten; data kept or purged per CLEAN). Custom-connection mode connects Xero as soon as a portal is in.
 */
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Manifest } from '../manifest.js';
import type { Store } from '../store/index.js';
import type { Portal } from '../store/portals.js';
import { confirmUser } from '../bitrix/request-auth.js';
import type { PortalClients } from '../bitrix/portal-client.js';
import { setUpPortal, type SetupReport } from '../bitrix/portal-setup.js';
import type { ConnectXero } from './connect-xero.js';
import type { JobHandler } from './outbox.js';

export interface InstallInput {
  memberId: string;
  domain: string;
  clientEndpoint: string;
  serverEndpoint: string;
  accessToken: string;
  refreshToken: string;
  /** Unix seconds. */
  expiresAt: number;
  applicationToken: string;
  scope: string | null;
}

export interface InstallDeps {
  store: Store;
  clients: PortalClients;
  manifest: Manifest;
  publicUrl: string;
  logger: Logger;
  connectXero: ConnectXero;
  xeroGrantType: 'authorization_code' | 'client_credentials';
  /** B24_CLIENT_ID: the installer's token must be this app's. */
  b24ClientId: string | undefined;
}

export interface InstallOutcome {
  portal: Portal;
  setup: SetupReport;
  installedBy: { id: number; isAdmin: boolean; name: string };
}

export class InstallPortal {
  constructor(private readonly deps: InstallDeps) {}

  /** Installer POST or ONAPPINSTALL: confirm the tokens with the portal, store it, set it up. */
  async install(input: InstallInput): Promise<InstallOutcome> {
    const { store, clients, logger } = this.deps;
    const known = store.portals.get(input.memberId);
    if (known && known.state !== 'uninstalled' && known.clientEndpoint !== input.clientEndpoint) {
      throw new AppError(
        'B24.PORTAL_MISMATCH',
        `This portal (${input.memberId}) is registered at ${known.domain}; an install from ${input.domain} is refused. Uninstall the app there first.`,
        409,
      );
    }
    // The portal itself must confirm the token (against the endpoint on record for a known portal).
    const user = await confirmUser(known?.state === 'installed' ? known.clientEndpoint : input.clientEndpoint, input.accessToken, this.deps.b24ClientId);
    if (!user.isAdmin) {
      throw new AppError('AUTH.FORBIDDEN', 'Only a Bitrix24 portal administrator can install the connector.', 403);
    }
    const portal = store.portals.upsert({
      memberId: input.memberId,
      domain: input.domain,
      clientEndpoint: input.clientEndpoint,
      serverEndpoint: input.serverEndpoint,
      accessToken: input.accessToken,
      refreshToken: input.refreshToken,
      expiresAt: input.expiresAt,
      applicationToken: input.applicationToken,
      scope: input.scope,
      installedBy: user.id,
      state: 'installed',
    });
    clients.forget(portal.memberId);
    const setup = await this.setUp(portal.memberId, known ? 'reinstalled' : 'installed');
    await this.autoConnectCustom(portal.memberId);
    logger.info({ memberId: portal.memberId, added: setup.added.length, existing: setup.alreadyThere.length }, 'portal installed');
    return { portal: store.portals.get(portal.memberId)!, setup, installedBy: user };
  }

  /** After ONAPPUPDATE (a `portal-setup` job): bind everything again. */
  async update(memberId: string): Promise<SetupReport> {
    this.deps.clients.forget(memberId);
    return this.setUp(memberId, 'updated');
  }

  /** The outbox handler of `portal-setup` jobs. */
  get setupHandler(): JobHandler {
    return {
      run: async (jobs) => {
        for (const job of jobs) if (job.memberId) await this.update(job.memberId);
        return new Map();
      },
    };
  }

  /** ONAPPUNINSTALL: forget the tokens; with CLEAN, purge everything the portal had here. */
  uninstall(memberId: string, clean: boolean): void {
    const { store, clients, logger } = this.deps;
    if (clean) {
      store.portals.purge(memberId);
    } else {
      store.transaction(() => {
        store.portals.forgetTokens(memberId);
        for (const c of store.connections.listForPortal(memberId)) store.connections.forget(c.id);
        store.activity.record({ memberId, level: 'warn', kind: 'portal.uninstalled', message: 'The app was uninstalled from the portal; its tokens were forgotten.' });
      });
    }
    clients.forget(memberId);
    logger.info({ memberId, clean }, 'portal uninstalled');
  }

  /** At start in custom-connection mode: connect every installed portal that has no active connection. */
  async connectCustomWhereMissing(): Promise<void> {
    for (const p of this.deps.store.portals.list().filter((p) => p.state === 'installed')) {
      await this.autoConnectCustom(p.memberId);
    }
  }

  private async setUp(memberId: string, verb: string): Promise<SetupReport> {
    const { store, clients, manifest, publicUrl } = this.deps;
    const setup = await setUpPortal(clients.for(memberId), manifest, publicUrl);
    store.transaction(() => {
      if (setup.productPropertyId) store.settings.set(memberId, 'b24.accountCodePropertyId', setup.productPropertyId);
      store.activity.record({
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
    const active = this.deps.store.connections.listForPortal(memberId).some((c) => c.state === 'active');
    if (active) return;
    try {
      await this.deps.connectXero.connectCustom(memberId);
    } catch (err) {
      this.deps.logger.error({ err, memberId }, 'custom connection to Xero failed');
      this.deps.store.activity.record({
        memberId,
        level: 'error',
        kind: 'xero.connect_failed',
        message: `Connecting the Xero custom connection failed: ${(err as Error).message}`,
      });
    }
  }
}
