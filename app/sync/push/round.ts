/**
 * A round of the push: the jobs of one portal and one kind taken together, with what every step needs — the portal,
 * its Xero connection and settings, the kind — and the outcome of each job as the steps settle it.
 */
import type { PipelineCache } from '../../bitrix/stages.js';
import type { Logger } from '../../log.js';
import type { Store } from '../../store/index.js';
import type { Job } from '../../store/jobs.js';
import type { Connection } from '../../store/connections.js';
import type { Link } from '../../store/links.js';
import type { PortalClient, PortalClients } from '../../bitrix/portal-client.js';
import { keyOf, type DocumentRef } from '../../bitrix/documents.js';
import { AppError } from '../../errors.js';
import type { ListLabels } from '../../bitrix/list-labels.js';
import type { XeroGateway, XeroGateways } from '../../xero/gateway.js';
import type { XeroDocumentState } from '../../xero/documents.js';
import type { SalesDocument } from '../../domain/document.js';
import type { DocumentKind, KindContext } from '../document-kind.js';
import type { JobOutcome } from '../outbox.js';
import type { PortalSettings } from '../../domain/settings.js';
import type { SalesMapping } from '../setup/mapping.js';
import type { OrgDataCache } from '../setup/org-data.js';
import { pushMessages, type PushMessages } from './messages.js';

export interface PushPayload {
  type: 'smart_invoice' | 'invoice' | 'quote';
  id: string;
  deleted?: boolean;
  /** What queued it: an event's name, `reconcile`, `backfill` or `manual` ("Send to Xero"). */
  event?: string;
  /** An admin asked for it (backfill, "Send to Xero"): sent even when it was made before the install. */
  adminAsked?: boolean;
}

export interface PushDeps {
  store: Store;
  portals: PortalClients;
  gateways: XeroGateways;
  logger: Logger;
  /** The organisation's lists, for the automatic tax and account matches (mapping.ts). */
  orgData: OrgDataCache;
}

/** A document read from Bitrix24 that needs work: new or changed content, or a stage a person chose. */
export interface Candidate {
  doc: SalesDocument;
  hash: string;
  job: Job;
  link: Link | undefined;
  contentChanged: boolean;
  stageMoved: boolean;
  /** Unchanged, but Bitrix24 does not show its Xero id yet (an earlier write-back failed): written back again. */
  unwritten?: boolean;
}

/** A document Xero now has as it should be: written back to Bitrix24. */
export interface Written {
  doc: SalesDocument;
  state: XeroDocumentState;
}

/** Xero documents already linked, by lower-case Xero id: updated in place while Xero allows. */
export type XeroStates = Map<string, XeroDocumentState>;

export class Round<P> {
  readonly outcomes = new Map<number, JobOutcome>();
  readonly byKey: Map<string, Job>;
  /** Withdrawals of the customers this round announced (`announceCustomers`). */
  readonly announced: (() => void)[] = [];
  readonly gateway: XeroGateway;
  /** The words of its log lines (messages.ts). */
  readonly say: PushMessages;

  constructor(
    readonly deps: PushDeps,
    readonly kind: DocumentKind<P>,
    readonly jobs: Job[],
    readonly memberId: string,
    readonly connection: Connection,
    /** The settings with the automatic tax and account matches (mapping.ts). */
    readonly mapping: SalesMapping,
    /** The labels of Bitrix24 list fields, kept across rounds. */
    readonly listLabels: ListLabels,
    /** The portals' stage lists, kept a few minutes across rounds. */
    readonly pipelines: PipelineCache,
  ) {
    this.byKey = new Map(jobs.map((j) => [keyOf(j.payload as PushPayload), j]));
    this.gateway = deps.gateways.for(connection.id);
    this.say = pushMessages(kind);
  }

  get store(): Store {
    return this.deps.store;
  }
  get settings(): PortalSettings {
    return this.mapping.settings;
  }
  get tenantId(): string {
    return this.connection.tenantId;
  }
  /** The portal's Bitrix24 client, with the connector's own token. */
  client(): Promise<PortalClient> {
    return this.deps.portals.for(this.memberId);
  }
  /** What the kind may consult or record (document-kind.ts). */
  get kindContext(): KindContext {
    return { store: this.store, memberId: this.memberId, connectionId: this.connection.id, gateway: this.gateway, tenantId: this.tenantId };
  }

  /** The document's link to a Xero document of this round's connection, if any. */
  async linkOf(ref: DocumentRef): Promise<Link | undefined> {
    const link = await this.store.links.find(this.memberId, ref.type, ref.id);
    return link && link.connectionId === this.connection.id ? link : undefined;
  }
  /** The job's payload of the document with this key. */
  payloadOf(key: string): PushPayload | undefined {
    return this.byKey.get(key)?.payload as PushPayload | undefined;
  }
  /** Jobs claimed later to top the round up (`ClaimMore`). */
  add(jobs: Job[]): void {
    for (const j of jobs) {
      this.jobs.push(j);
      this.byKey.set(keyOf(j.payload as PushPayload), j);
    }
  }
  settle(key: string, o: JobOutcome): void {
    const job = this.byKey.get(key);
    if (job) this.outcomes.set(job.id, o);
  }
  /** Settles the job as done unless a step settled it already. */
  settleDone(key: string): void {
    const job = this.byKey.get(key);
    if (job && !this.outcomes.has(job.id)) this.outcomes.set(job.id, { kind: 'done' });
  }
  attention(key: string, problem: { code: string; message: string }): void {
    this.settle(key, { kind: 'attention', code: problem.code, message: problem.message });
  }
}

/** Whether Xero refused what was asked for good (a permanent `AppError`): said in words, not retried. */
export function isRefusal(err: unknown): err is AppError {
  return err instanceof AppError && !(err as { transient?: boolean }).transient;
}
