/** Wires the connector's parts together once per process (or per test). */
import { spendingAs, spendingHandler } from './xero/budget.js';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import { loadManifest, type Manifest } from './manifest.js';
import type { Store } from './store/index.js';
import { PortalClients } from './bitrix/portal-client.js';
import { SessionTokens } from './page-sessions.js';
import { ConnectXero } from './sync/install/connect-xero.js';
import { InstallPortal } from './sync/install/install-portal.js';
import { XeroConnections } from './xero/connections.js';
import { XeroIdentity } from './xero/identity.js';
import { XeroGateways, DEFAULT_XERO_LIMITS, type XeroLimits } from './xero/gateway.js';
import { Outbox, type JobHandler } from './sync/outbox.js';
import { PushDocuments } from './sync/push/push-documents.js';
import { invoiceKind } from './sync/invoice-kind.js';
import { quoteKind } from './sync/quote-kind.js';
import { drainOfflineEvents } from './sync/intake/drain-offline.js';
import { reconcile } from './sync/intake/reconcile.js';
import { IntakeSchedule } from './sync/intake/intake-schedule.js';
import { PullStatuses } from './sync/pull/pull-statuses.js';
import { StatusPollSchedule } from './sync/schedules.js';
import { OrgDataCache, ORG_DATA_JOB } from './sync/setup/org-data.js';
import { Metrics } from './metrics.js';
import { ImportFromXero, IMPORT_JOB } from './sync/import/import-from-xero.js';
import { SyncContacts, PULL_CONTACT_JOB, PUSH_CONTACT_JOB } from './sync/contacts/sync-contacts.js';

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
  intakeSchedule: IntakeSchedule;
  /** Xero → Bitrix24 statuses: `pollConnection` for the schedule and the bench, the `xero-webhook` handler. */
  pullStatuses: PullStatuses;
  /** The connected organisation's lists (accounts, tax rates, …), cached with their age. */
  orgData: OrgDataCache;
  /** The Xero status poll; started and stopped by main.ts. */
  statusPoll: StatusPollSchedule;
  /** Prometheus metrics of this instance (GET /metrics). */
  metrics: Metrics;
  /** Import from Xero (slider and command line): preview, run, cancel, summary. */
  importFromXero: ImportFromXero;
  /** Contacts kept in step both ways (push-contact, pull-contact jobs; the contact poll). */
  syncContacts: SyncContacts;
}

export function createServices(input: { config: Config; store: Store; logger: Logger; appSecret: string; manifest?: Manifest; xeroLimits?: Partial<XeroLimits> }): Services {
  const { config, store, logger } = input;
  const manifest = input.manifest ?? loadManifest();
  const metrics = new Metrics(store);
  const portals = new PortalClients(store, config, logger, metrics);
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
    bitrix: config.bitrix,
  });
  const gateways = new XeroGateways(xero, logger, { ...DEFAULT_XERO_LIMITS, perDay: config.xeroDailyLimit, ...input.xeroLimits }, store.xeroLimits);
  metrics.watchGateways(gateways);
  // Requests are scarce when Bitrix24 throttles the portal or Xero's minute is half spent: batches then fill longer.
  const xeroMinuteBusy = () => gateways.all().some((g) => g.windowUsed >= g.limitsKept.perMinute / 2);
  const outbox = new Outbox(store, logger, { throttled: (memberId) => portals.throttled(memberId) || xeroMinuteBusy() }, metrics);
  outbox.register('portal-setup', installPortal.setupHandler);
  outbox.register('portal-uninstall', installPortal.uninstallHandler);
  const orgData = new OrgDataCache({ store, gateways, portals, logger });
  outbox.register(ORG_DATA_JOB, orgData.handler);
  outbox.register('push-invoice', new PushDocuments({ store, portals, gateways, logger, orgData }, invoiceKind));
  outbox.register('push-quote', new PushDocuments({ store, portals, gateways, logger, orgData }, quoteKind));
  outbox.register('drain-offline', perPortal((memberId) => drainOfflineEvents({ store, portals, logger, metrics }, memberId)));
  outbox.register('reconcile', perPortal((memberId) => reconcile({ store, portals, logger }, memberId)));
  const intakeSchedule = new IntakeSchedule(store, outbox, logger, config.retention);
  const pullStatuses = new PullStatuses({ store, gateways, portals, logger });
  outbox.register('xero-webhook', pullStatuses.webhookHandler);
  const importFromXero = new ImportFromXero({ store, portals, gateways, logger, requestLimitMs: config.b24RequestLimitSeconds * 1000 });
  outbox.register(IMPORT_JOB, importFromXero.handler);
  const syncContacts = new SyncContacts({ store, portals, gateways, logger });
  // Contact sync spends the Xero budget last, like imports (xero/budget.ts).
  outbox.register(PUSH_CONTACT_JOB, spendingHandler('import', syncContacts.pushHandler));
  outbox.register(PULL_CONTACT_JOB, spendingHandler('import', syncContacts.pullHandler));
  // One poll tick reads changed invoices and quotes, then changed contacts (linked ones are updated in Bitrix24).
  const polls = {
    pollConnection: async (connectionId: number) => {
      const report = await pullStatuses.pollConnection(connectionId);
      const skip = !gateways.for(connectionId).budget.allows('import');
      const contacts = await (skip ? Promise.resolve({ xeroCalls: 0, updated: 0 }) : spendingAs('import', () => syncContacts.pollConnection(connectionId))).catch((err: unknown) => {
        logger.warn({ err, connectionId }, 'Xero contact poll failed; the next one will try again');
        return { xeroCalls: 0, updated: 0 };
      });
      return { ...report, xeroCalls: report.xeroCalls + contacts.xeroCalls, updated: report.updated + contacts.updated };
    },
  };
  watchStoreFaults(store, logger, intakeSchedule);
  const statusPoll = new StatusPollSchedule(store, polls, logger, { defaultIntervalSeconds: config.pollIntervalSeconds, budgetOf: (id) => gateways.for(id).budget });
  return {
    config, store, logger, manifest, sessions: new SessionTokens(input.appSecret, { store, appClientId: config.bitrix.clientId }), portals, identity, xero, connectXero, installPortal,
    gateways, outbox, intakeSchedule, pullStatuses, statusPoll, metrics, importFromXero, syncContacts, orgData,
  };
}

/** A handler for portal-wide jobs (one per portal at a time): runs `work` for the job's portal. */
function perPortal(work: (memberId: string) => Promise<unknown>): JobHandler {
  return {
    async run(jobs) {
      for (const memberId of new Set(jobs.map((j) => j.memberId).filter((m): m is string => Boolean(m)))) await work(memberId);
      return new Map();
    },
  };
}

/**
 * A store fault is logged when it starts and when it ends; once writes work again the offline queues are drained at
 * once, since events answered 503 meanwhile wait there (Bitrix24 does not resend online events).
 */
function watchStoreFaults(store: Store, logger: Logger, intake: IntakeSchedule): void {
  store.faults.on((event, fault) => {
    if (event === 'fault') {
      logger.error({ code: fault.code }, `store cannot write: ${fault.message}`);
      return;
    }
    logger.warn({ code: fault.code, seconds: Math.round((Date.now() - fault.since) / 1000), refusedWrites: fault.failures }, 'store writes again; draining the offline queues');
    void intake.queue('drain-offline'); // queue() notes and logs its own failures
  });
}
