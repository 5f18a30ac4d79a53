/** Wires the connector's parts together once per process (or per test). */
import type { Config } from './config.js';
import type { Logger } from './log.js';
import { loadManifest, type Manifest } from './manifest.js';
import type { Store } from './store/index.js';
import { PortalClients } from './bitrix/portal-client.js';
import { SessionTokens } from './http/session.js';
import { ConnectXero } from './sync/connect-xero.js';
import { InstallPortal } from './sync/install-portal.js';
import { XeroConnections } from './xero/connections.js';
import { XeroIdentity } from './xero/identity.js';
import { XeroGateways } from './xero/gateway.js';
import { Outbox } from './sync/outbox.js';
import { PullStatuses } from './sync/pull-statuses.js';
import { StatusPollSchedule } from './sync/schedules.js';

export interface Services {
  config: Config;
  store: Store;
  logger: Logger;
  manifest: Manifest;
  sessions: SessionTokens;
  portals: PortalClients;
  identity: XeroIdentity;
  xero: XeroConnections;
  connectXero: ConnectXero;
  installPortal: InstallPortal;
  gateways: XeroGateways;
  outbox: Outbox;
  /** Xero → Bitrix24 statuses: `pollConnection` for the schedule and the bench, the `xero-webhook` handler. */
  pullStatuses: PullStatuses;
  /** The Xero status poll; started and stopped by main.ts. */
  statusPoll: StatusPollSchedule;
}

export function createServices(input: { config: Config; store: Store; logger: Logger; appSecret: string; manifest?: Manifest }): Services {
  const { config, store, logger } = input;
  const manifest = input.manifest ?? loadManifest();
  const portals = new PortalClients(store, config, logger);
  const identity = new XeroIdentity(config);
  const xero = new XeroConnections(store, config, identity, logger);
  const connectXero = new ConnectXero(store, identity, xero, logger);
  const installPortal = new InstallPortal({
    store,
    clients: portals,
    manifest,
    publicUrl: config.publicUrl,
    logger,
    connectXero,
    xeroGrantType: config.xero.grantType,
  });
  const gateways = new XeroGateways(xero, logger);
  const outbox = new Outbox(store, logger);
  outbox.register('portal-setup', installPortal.setupHandler);
  const pullStatuses = new PullStatuses({ store, gateways, portals, logger });
  outbox.register('xero-webhook', pullStatuses.webhookHandler);
  const statusPoll = new StatusPollSchedule(store, pullStatuses, logger, { defaultIntervalSeconds: config.pollIntervalSeconds });
  return {
    config, store, logger, manifest, sessions: new SessionTokens(input.appSecret), portals, identity, xero, connectXero, installPortal,
    gateways, outbox, pullStatuses, statusPoll,
  };
}
