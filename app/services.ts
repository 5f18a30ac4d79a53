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
import { PushInvoices } from './sync/push-invoice.js';

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
  outbox.register('push-invoice', new PushInvoices({ store, portals, gateways, logger }));
  return {
    config, store, logger, manifest, sessions: new SessionTokens(input.appSecret), portals, identity, xero, connectXero, installPortal,
    gateways, outbox,
  };
}
