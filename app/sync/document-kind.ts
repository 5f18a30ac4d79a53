/**
 * What differs between the kinds of document the connector syncs. On the push: the Xero endpoint and payload, the
 * statuses in which Bitrix24 edits still reach Xero, what a Bitrix24 deletion or stage move does there, and the
 * Reference a document is found by. On the pull (`pull`): how Xero's changes are read, the Bitrix24 stage a Xero
 * status maps to, the sync fields written, whether payments are told, and the words of the log line. One small module
 * per kind implements this (`invoice-kind.ts`, `quote-kind.ts`); the push (`push/push-documents.ts`) and the pull
 * (`pull/pull-statuses.ts`) are each the same story for both.
 */
import type { Pipeline, Stage } from '../bitrix/stages.js';
import type { SyncFieldValues } from '../bitrix/sync-fields.js';
import type { ChangesRead, XeroChange } from '../xero/changes.js';
import type { Store } from '../store/index.js';
import type { Link, XeroType } from '../store/links.js';
import type { PushItem, PushResult, XeroDocumentState } from '../xero/documents.js';
import type { XeroGateway } from '../xero/gateway.js';
import type { MappingContext } from '../xero/invoice-mapper.js';
import type { SalesDocument } from '../domain/document.js';
import type { PortalSettings } from '../domain/settings.js';

/** A stage a person chose in Bitrix24 for a linked document, with what the push knows of it. */
export interface StageMove {
  doc: SalesDocument;
  link: Link;
  pipeline: Pipeline | undefined;
  stage: Stage | undefined;
  /** The Xero status the document has now (read, else last known). */
  status: string;
}

/** What a kind did in Xero: the new status, and the sentence for the card and the log. */
export interface XeroAction {
  status: string;
  message: string;
}

/** What a kind may consult or record around a push: the store, the portal, and its Xero organisation. */
export interface KindContext {
  store: Store;
  memberId: string;
  connectionId: number;
  gateway: XeroGateway;
  tenantId: string;
}

/** The pull side of a kind: what Xero's statuses and payments do to the linked Bitrix24 documents. */
export interface PullSide {
  /** Xero's documents of this kind changed since a moment (the status poll). */
  changedSince(gateway: XeroGateway, since: Date): Promise<ChangesRead>;
  /**
   * The stage a Xero status asks for in the document's pipeline (`override`: the admin's map for it, by Xero status),
   * or null: leave the stage. Kinds without it never move a document (Bitrix24 is the master of quotes).
   */
  stageOf?(pipeline: Pipeline, status: string, override: Record<string, string> | undefined): string | null;
  /** The sync fields written from what Xero says now (bitrix/sync-fields.ts). */
  fields(change: XeroChange): SyncFieldValues;
  /** Whether payments are told on the document: a timeline comment for each, the "Paid in Xero" trigger once. */
  readonly tellsPayments: boolean;
  /** What a Xero status says of the document, after its label in the log: "was approved in Xero". */
  said(status: string): string;
}

export interface DocumentKind<P = unknown> {
  readonly xeroType: Extract<XeroType, 'invoice' | 'quote'>;
  /** The word in messages: "invoice", "quote". */
  readonly noun: string;
  /** Xero statuses in which Bitrix24 edits still reach the Xero document. */
  readonly editable: ReadonlySet<string>;
  /** Whether a new document's first stage is acted on like a move (a quote created at "Sent" is sent). (Default: false) */
  readonly followsFirstStage?: boolean;
  /** Whether documents of this kind are synced with these settings. */
  enabled(settings: PortalSettings): boolean;
  /** Completes a document read from Bitrix24 with what the connector knows (an invoice made from a quote names it). */
  prepare?(doc: SalesDocument, ctx: KindContext): Promise<SalesDocument>;
  /** After documents reached Xero: what follows from them elsewhere (the quote an invoice was made from is invoiced). */
  afterWrite?(written: { doc: SalesDocument; state: XeroDocumentState }[], ctx: KindContext): Promise<void>;
  /** The Reference the Xero document carries, by which a lost one is found again. */
  reference(doc: SalesDocument, settings: PortalSettings): string;
  /** What shapes this kind's payload beyond the shared content (for the content hash). */
  hashed(doc: SalesDocument, settings: PortalSettings): unknown[];
  /** The Xero payload; throws `AppError` (SYNC.*) naming what to fix. */
  build(doc: SalesDocument, ctx: MappingContext): P;
  /** Sends ≤ 50 per request; a result per item key. */
  push(gateway: XeroGateway, tenantId: string, items: PushItem<P>[]): Promise<Map<string, PushResult>>;
  /** The Xero documents with these ids, keyed by lower-case id. */
  read(gateway: XeroGateway, tenantId: string, ids: string[]): Promise<Map<string, XeroDocumentState>>;
  /**
   * What a write-back needs of a linked document, from its link alone, where the kind's Xero state holds nothing
   * else Bitrix24 shows (quotes have no amounts due): a write-back missed earlier then costs no Xero read. Kinds
   * without it read Xero first. (Default: read)
   */
  stateOfLink?(link: Link): XeroDocumentState | null;
  /** Documents sent before whose answer was lost (crash healing): reference → Xero documents with it. */
  findLost(gateway: XeroGateway, tenantId: string, lost: { reference: string; sentAt: number }[]): Promise<Map<string, XeroDocumentState[]>>;
  /** Why Bitrix24 edits no longer reach a document in this status, in words for the card. */
  notEditable(doc: SalesDocument, status: string): string;
  /** The document was deleted in Bitrix24: what Xero does with it (null: nothing, said in the log as `kept`). */
  remove(gateway: XeroGateway, tenantId: string, link: Link, state: XeroDocumentState, settings: PortalSettings): Promise<XeroAction | { kept: string } | null>;
  /** A person moved the document to another stage: the Xero change it asks for, or null. Refusals throw `AppError`. */
  stageAction(gateway: XeroGateway, tenantId: string, move: StageMove, settings: PortalSettings): Promise<XeroAction | null>;
  /** The pull: Xero's statuses and payments back onto the Bitrix24 documents. */
  readonly pull: PullSide;
}
