/**
 * A round of the pull: the Xero changes of one connection and one kind applied together, with what every step needs
 * — the portal, the connection, the kind, the admin's stage map — and what the round did: documents updated, and the
 * Xero ids of those that failed (read again next time; the watermark does not pass them).
 */
import type { DocumentRef } from '../../bitrix/documents.js';
import type { PortalClient, PortalClients } from '../../bitrix/portal-client.js';
import type { Pipeline, PipelineCache } from '../../bitrix/stages.js';
import type { DocumentWrite } from '../../bitrix/write-back.js';
import type { Decimal } from '../../domain/money.js';
import type { DocumentType } from '../../domain/document.js';
import type { Logger } from '../../log.js';
import type { Connection } from '../../store/connections.js';
import type { Store } from '../../store/index.js';
import type { PulledLink } from '../../store/links.js';
import type { XeroChange } from '../../xero/changes.js';
import type { XeroGateways } from '../../xero/gateway.js';
import type { DocumentKind } from '../document-kind.js';
import { portalSettings } from '../settings.js';

export interface PullDeps {
  store: Store;
  gateways: XeroGateways;
  portals: PortalClients;
  logger: Logger;
}

/** One linked document to bring up to date, with what Xero says now. */
export interface Pending {
  link: PulledLink;
  change: XeroChange;
  /** The Bitrix24 document. */
  ref: DocumentRef;
}

/** A document to write, where it stands now. */
export interface Current extends Pending {
  /** Its stage now; null when Bitrix24 listed it nowhere (gone, or out of sight): it is not moved. */
  stage: string | null;
  /** Its pipeline among the kind's (smart invoices' `categoryId`). */
  categoryId: number | null;
  /** Its pipeline's stages, for kinds whose statuses move documents. */
  pipeline: Pipeline | undefined;
}

/** One document's write, with what the log says of it. */
export interface Plan extends Current {
  write: DocumentWrite;
  /** The stage the write moves the document to. */
  movedTo: string | null;
  /** The stage a person chose, kept rather than moved back from. */
  keptByHand: string | null;
  /** The amount paid since the link last saw it. */
  received: Decimal;
}

export interface RoundReport {
  updated: number;
  /** Xero ids (lower case) of the documents that failed this round. */
  failedIds: Set<string>;
}

export class PullRound {
  readonly report: RoundReport = { updated: 0, failedIds: new Set() };

  constructor(
    readonly deps: PullDeps,
    readonly connection: Connection,
    readonly kind: DocumentKind,
    /** The portals' stage lists, kept a few minutes across rounds. */
    readonly pipelines: PipelineCache,
  ) {}

  get store(): Store {
    return this.deps.store;
  }
  get memberId(): string {
    return this.connection.memberId;
  }
  /** The portal's Bitrix24 client, with the connector's own token. */
  client(): Promise<PortalClient> {
    return this.deps.portals.for(this.memberId);
  }
  /** The admin's stage map: pipeline key → Xero status → stage id. */
  get stageMap(): Promise<Record<string, Record<string, string>>> {
    return portalSettings(this.store, this.memberId).then((s) => s.stageMap ?? {});
  }

  /** What a link of this round names in Bitrix24. */
  refOf(link: PulledLink): DocumentRef {
    return { type: link.b24Type as DocumentType, id: link.b24Id };
  }
  /** The document failed this round: it is tried again, and the watermark does not pass its change. */
  fail(p: Pending): void {
    this.report.failedIds.add(p.change.id.toLowerCase());
  }
}
