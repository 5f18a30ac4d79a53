/**
 * Existing documents: "Send existing invoices". Never automatic. The preview lists the portal's invoices that are
 * not in Xero yet (smart invoices of every pipeline and classic invoices), reads them as a push would, and tells how
 * many, their date range, their pipelines, and what blocks some (with the same checks and words as the push: no
 * customer, no rows, a currency Xero lacks, an account or a VAT rate still to choose). Sending queues exactly the
 * previewed documents as push jobs; the outbox sends them 50 per Xero request, and the progress is read from their
 * jobs and links as they go.
 */
import { clock } from '../../clock.js';
import { randomUUID } from 'node:crypto';
import { AppError } from '../../errors.js';
import type { Store } from '../../store/index.js';
import type { PortalClients } from '../../bitrix/portal-client.js';
import { keyOf, readDocuments, type DocumentRef } from '../../bitrix/documents.js';
import { allDocumentIds } from '../../bitrix/document-ids.js';
import { toXeroInvoice } from '../../xero/invoice-mapper.js';
import { pushJobKey } from '../intake/intake.js';
import { salesMapping } from './mapping.js';
import type { OrgDataCache } from './org-data.js';

export interface BackfillDeps {
  store: Store;
  portals: PortalClients;
  orgData: OrgDataCache;
}

export interface BackfillPreview {
  id: string;
  /** Invoices not in Xero yet. */
  count: number;
  /** Of those, how many can go as they are. */
  ready: number;
  /** Issue dates (YYYY-MM-DD), earliest and latest. */
  dateRange: { from: string | null; to: string | null };
  /** `smart_invoice:0` / `invoice` → how many. */
  pipelines: { key: string; count: number }[];
  /** What blocks some: per cause, how many and one example message. */
  blocked: { code: string; count: number; example: string }[];
  at: number;
}

export interface BackfillProgress {
  id: string;
  total: number;
  sent: number;
  waiting: number;
  blocked: { code: string; count: number }[];
  finished: boolean;
  startedAt: number;
}

interface StoredPreview extends BackfillPreview {
  refs: DocumentRef[];
  /** Cause per document key (for the comparison with the outcome). */
  causes: Record<string, string>;
}

interface StoredRun {
  id: string;
  refs: DocumentRef[];
  startedAt: number;
}

const PREVIEW_KEY = 'backfill.preview';
const RUN_KEY = 'backfill.run';
/** How long a preview can be sent from. (Default: 30 minutes) */
const PREVIEW_TTL_MS = 30 * 60_000;

export async function previewBackfill(deps: BackfillDeps, memberId: string): Promise<BackfillPreview> {
  const { store } = deps;
  const client = await deps.portals.for(memberId);
  const refs: DocumentRef[] = [];
  for (const r of await listInvoices(deps, memberId)) if (!(await store.links.find(memberId, r.type, r.id))) refs.push(r);
  const read = await readDocuments(client, refs, { accountCodePropertyId: await store.settings.get<number>(memberId, 'b24.accountCodePropertyId') ?? null });
  const docs = [...read.values()].flatMap((r) => (r.ok ? [r.doc] : []));
  const mapping = await salesMapping(store, deps.orgData, memberId, docs);
  const causes: Record<string, string> = {};
  const examples = new Map<string, string>();
  const pipelines = new Map<string, number>();
  const dates: string[] = [];
  for (const ref of refs) {
    const key = keyOf(ref);
    const r = read.get(key);
    let problem: { code: string; message: string } | null = null;
    if (!r || !r.ok) problem = r ? r.failure : { code: 'SYNC.READ_FAILED', message: `The invoice ${ref.id} could not be read.` };
    else {
      const doc = r.doc;
      pipelines.set(doc.type === 'smart_invoice' ? `smart_invoice:${doc.categoryId ?? 0}` : doc.type, (pipelines.get(doc.type === 'smart_invoice' ? `smart_invoice:${doc.categoryId ?? 0}` : doc.type) ?? 0) + 1);
      if (doc.issueDate) dates.push(doc.issueDate);
      // The push's checks, in its order: customer, mapping, then the mapper's own (rows, total, currency, account).
      problem = (doc.customer ? null : { code: 'SYNC.NO_CUSTOMER', message: `Invoice ${doc.number} has no company or contact. Choose the customer on the invoice.` }) ?? await mapping.holdOf(doc);
      if (!problem) {
        try {
          toXeroInvoice(doc, { contactId: 'preview', settings: mapping.settings, currencies: mapping.org.currencies });
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          problem = { code: err.code, message: err.message };
        }
      }
    }
    if (problem) {
      causes[key] = problem.code;
      if (!examples.has(problem.code)) examples.set(problem.code, problem.message);
    }
  }
  dates.sort();
  const counts = new Map<string, number>();
  for (const code of Object.values(causes)) counts.set(code, (counts.get(code) ?? 0) + 1);
  const preview: StoredPreview = {
    id: randomUUID(), count: refs.length, ready: refs.length - Object.keys(causes).length,
    dateRange: { from: dates[0] ?? null, to: dates.at(-1) ?? null },
    pipelines: [...pipelines].map(([key, count]) => ({ key, count })).sort((a, b) => a.key.localeCompare(b.key)),
    blocked: [...counts].map(([code, count]) => ({ code, count, example: examples.get(code)! })).sort((a, b) => b.count - a.count),
    at: clock.now(), refs, causes,
  };
  await store.settings.set(memberId, PREVIEW_KEY, preview);
  const { refs: _refs, causes: _causes, ...shown } = preview;
  return shown;
}

/** Queues the previewed invoices (the preview must be recent); returns the run's first progress. */
export async function startBackfill(deps: BackfillDeps, memberId: string, previewId: string, now = clock.now()): Promise<BackfillProgress> {
  const { store } = deps;
  // The preview is read and spent in one transaction: one preview sent twice at once starts one run.
  await store.transaction(async () => {
    const preview = await store.settings.get<StoredPreview>(memberId, PREVIEW_KEY);
    if (!preview || preview.id !== previewId || now - preview.at > PREVIEW_TTL_MS) {
      throw new AppError('BACKFILL.PREVIEW_EXPIRED', 'This preview is out of date. Look at the preview again, then send.', 409);
    }
    for (const ref of preview.refs) {
      await store.jobs.enqueue({ memberId, kind: 'push-invoice', key: pushJobKey(memberId, ref), payload: { type: ref.type, id: ref.id, deleted: false, event: 'backfill', adminAsked: true } });
    }
    await store.settings.set(memberId, RUN_KEY, { id: preview.id, refs: preview.refs, startedAt: now } satisfies StoredRun);
    await store.settings.set(memberId, PREVIEW_KEY, null);
    await store.activity.record({ memberId, level: 'info', kind: 'backfill.started', message: `Sending ${preview.refs.length} existing invoice(s) to Xero.` });
  });
  return (await backfillProgress(store, memberId))!;
}

/** How the last run stands: sent (linked), waiting (queued), blocked (needs attention, by cause). */
export async function backfillProgress(store: Store, memberId: string): Promise<BackfillProgress | null> {
  const run = await store.settings.get<StoredRun>(memberId, RUN_KEY);
  if (!run) return null;
  let sent = 0;
  let waiting = 0;
  const blocked = new Map<string, number>();
  for (const ref of run.refs) {
    if (await store.links.find(memberId, ref.type, ref.id)) { sent++; continue; }
    const job = await store.jobs.findLive(pushJobKey(memberId, ref));
    if (job?.state === 'needs_attention') blocked.set(job.lastErrorCode ?? 'UNKNOWN', (blocked.get(job.lastErrorCode ?? 'UNKNOWN') ?? 0) + 1);
    else if (job) waiting++;
    else blocked.set('UNKNOWN', (blocked.get('UNKNOWN') ?? 0) + 1);
  }
  return {
    id: run.id, total: run.refs.length, sent, waiting,
    blocked: [...blocked].map(([code, count]) => ({ code, count })), finished: waiting === 0, startedAt: run.startedAt,
  };
}

/** Every smart invoice (all pipelines) and classic invoice of the portal, ids only (keyset paging). */
async function listInvoices(deps: BackfillDeps, memberId: string): Promise<DocumentRef[]> {
  const client = await deps.portals.for(memberId);
  const smart = await allDocumentIds(client, 'smart_invoice');
  let classic: string[] = [];
  try {
    classic = await allDocumentIds(client, 'invoice');
  } catch {
    // Classic invoices are switched off on newer portals.
  }
  return [
    ...smart.map((id) => ({ type: 'smart_invoice' as const, id })),
    ...classic.map((id) => ({ type: 'invoice' as const, id })),
  ];
}
