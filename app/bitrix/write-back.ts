/**
 * The one writer of Xero's state onto Bitrix24 documents: the sync fields (sync-fields.ts) by the names the installer
 * created, and for the status pull a stage move, a timeline comment and the "Paid in Xero" trigger, a document's
 * commands always in the same batch of ≤ 50. The portal raises an update event for each write: an echo, recognised
 * by the unchanged content hash (push) or the expected stage (pull).
 */
import type { SalesDocument } from '../domain/document.js';
import type { XeroDocumentState } from '../xero/documents.js';
import { keyOf, type DocumentRef } from './documents.js';
import { ENTITY_TYPE } from './entity-types.js';
import { AUTH_CONNECTOR, PAID_TRIGGER } from './portal-setup.js';
import { limitOf, type BatchCalls, type BatchOutcome, type PortalClient } from './portal-client.js';
import { syncFieldName, syncFieldsOf, type SyncFieldValues } from './sync-fields.js';

/** Commands per Bitrix24 batch (docs/reference/bitrix24.md#batch). */
const BATCH_LIMIT = 50;
/** The classic invoice's object type, for the methods that take any owner (docs/reference/bitrix24.md#crm-object-types). */
const CLASSIC_INVOICE_TYPE = 5;

/** One document's write: sync fields and, for the status pull, a stage, a timeline comment, the paid trigger. */
export interface DocumentWrite {
  ref: DocumentRef;
  fields: SyncFieldValues;
  /** The stage to move to (`stageId`; a classic invoice's `STATUS_ID`). */
  stageId?: string | null;
  /** A comment for the document's timeline. */
  comment?: string | null;
  /** Whether the "Paid in Xero" automation trigger fires for the document. */
  paidTrigger?: boolean;
}

/** What became of one document's write. */
export type WriteOutcome =
  | { written: true; /** Why the trigger asked for did not start, if it did not. */ triggerFailed?: string }
  | { written: false; error: string; /** Bitrix24's operating time limit blocked it: it waits, it did not fail. */ limited: boolean };

export interface WriteReport {
  /** By document key (`keyOf`). Documents after a limited batch have none: they were not sent. */
  outcomes: Map<string, WriteOutcome>;
  /** The limit a batch met; the writes before it and those of its batch that went through stay written. */
  limit?: BatchOutcome['limit'];
}

/**
 * The Xero id Bitrix24 shows on the document as read (its custom fields, camelCase on items, UF_CRM_… on classic
 * invoices), or undefined when the field was not among them.
 */
export function shownXeroId(doc: Pick<SalesDocument, 'type' | 'fields'>): string | null | undefined {
  const wanted = syncFieldName(doc.type, 'id').replace(/_/g, '').toLowerCase();
  const hit = Object.entries(doc.fields ?? {}).find(([k]) => k.replace(/_/g, '').toLowerCase() === wanted);
  return hit ? (hit[1] ? String(hit[1]) : null) : undefined;
}

/** Writes the documents in batches of ≤ 50 commands, stopping after a batch that met the operating time limit. */
export async function writeDocuments(client: PortalClient, writes: DocumentWrite[]): Promise<WriteReport> {
  const report: WriteReport = { outcomes: new Map() };
  for (const batch of packBatches(writes.map(commandsOf))) {
    // https://apidocs.bitrix24.com/settings/how-to-call-rest-api/batch.html
    const answer = await client.batch(Object.assign({}, ...batch.map((c) => c.calls)));
    const { results, errors } = answer;
    const answered = (key: string) => errors[key] === undefined && key in results;
    for (const c of batch) {
      const limited = Object.keys(c.calls).some((k) => answer.limited.includes(k));
      // A command with neither a result nor an error was not run (docs/reference/bitrix24.md#batch): not written.
      if (limited || !answered(c.update)) report.outcomes.set(c.key, { written: false, error: errors[c.update] ?? 'Bitrix24 gave no answer', limited });
      else if (c.trigger && !answered(c.trigger)) report.outcomes.set(c.key, { written: true, triggerFailed: errors[c.trigger] ?? 'Bitrix24 gave no answer' });
      else report.outcomes.set(c.key, { written: true });
    }
    if (answer.limit) return { ...report, limit: answer.limit };
  }
  return report;
}

/** Writes Xero's id, number, status and amount due back onto the documents Xero now has (the push); throws what failed. */
export async function writeBackXeroState(client: PortalClient, written: { doc: SalesDocument; state: XeroDocumentState }[]): Promise<void> {
  const { outcomes, limit } = await writeDocuments(client, written.map(({ doc, state }) => ({
    ref: doc, fields: { id: state.id, number: state.number, status: state.status, amountDue: state.amountDue },
  })));
  // A write blocked by the operating time limit waits with its job (the writes that went through stay written).
  limitOf({ limit });
  const failed = [...outcomes].flatMap(([key, o]) => (o.written ? [] : [`${key}: ${o.error}`]));
  if (failed.length) throw new Error(failed.join('; '));
}

/** A document's commands and their keys. */
interface Commands {
  key: string;
  calls: BatchCalls;
  update: string;
  trigger: string | null;
}

function commandsOf(w: DocumentWrite): Commands {
  const { type, id } = w.ref;
  const fields = syncFieldsOf(type, w.fields);
  const calls: BatchCalls = {};
  const update = `u_${type}_${id}`;
  if (type === 'invoice') {
    if (w.stageId) fields.STATUS_ID = w.stageId;
    // https://apidocs.bitrix24.com/api-reference/crm/outdated/invoice/crm-invoice-update.html
    calls[update] = ['crm.invoice.update', { id: Number(id), fields, auth_connector: AUTH_CONNECTOR }];
  } else {
    if (w.stageId) fields.stageId = w.stageId;
    // UF names as created, not camelCase (docs/reference/bitrix24.md#crm-items: useOriginalUfNames).
    // https://apidocs.bitrix24.com/api-reference/crm/universal/crm-item-update.html
    calls[update] = ['crm.item.update', { entityTypeId: ENTITY_TYPE[type], id: Number(id), fields, useOriginalUfNames: 'Y', auth_connector: AUTH_CONNECTOR }];
  }
  if (w.comment) {
    const entityType = type === 'invoice' ? 'invoice' : type === 'quote' ? 'quote' : `dynamic_${ENTITY_TYPE.smart_invoice}`;
    // https://apidocs.bitrix24.com/api-reference/crm/timeline/comments/crm-timeline-comment-add.html
    calls[`c_${type}_${id}`] = ['crm.timeline.comment.add', { fields: { ENTITY_TYPE: entityType, ENTITY_ID: Number(id), COMMENT: w.comment } }];
  }
  let trigger: string | null = null;
  if (w.paidTrigger) {
    trigger = `t_${type}_${id}`;
    // https://apidocs.bitrix24.com/api-reference/crm/automation/triggers/crm-automation-trigger-execute.html
    calls[trigger] = ['crm.automation.trigger.execute', { CODE: PAID_TRIGGER.code, OWNER_TYPE_ID: type === 'invoice' ? CLASSIC_INVOICE_TYPE : ENTITY_TYPE[type], OWNER_ID: Number(id) }];
  }
  return { key: keyOf(w.ref), calls, update, trigger };
}

/** Groups documents into batches of ≤ 50 commands, a document's commands always together. */
function packBatches(all: Commands[]): Commands[][] {
  const batches: Commands[][] = [];
  let current: Commands[] = [];
  let size = 0;
  for (const c of all) {
    const n = Object.keys(c.calls).length;
    if (size + n > BATCH_LIMIT && current.length) {
      batches.push(current);
      current = [];
      size = 0;
    }
    current.push(c);
    size += n;
  }
  if (current.length) batches.push(current);
  return batches;
}
