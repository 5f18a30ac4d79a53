/**
 * The status-pull state kept on links (migration 3): the amount Xero last reported paid, the stage the sync last
 * moved a document to, the echo it expects back from Bitrix24, and whether "Paid in Xero" has fired. Functions over
 * `store.db`, so the link repository the push side edits stays untouched.
 */
import { clock } from '../clock.js';
import type { Store } from './index.js';
import type { B24Type, XeroType } from './links.js';

/** How long a write of the sync is expected to come back as a Bitrix24 event. */
export const ECHO_TTL_MS = 15 * 60_000;

export interface PulledLink {
  id: number;
  memberId: string;
  connectionId: number;
  b24Type: B24Type;
  b24Id: string;
  xeroType: XeroType;
  xeroId: string;
  xeroNumber: string | null;
  xeroStatus: string | null;
  /** Decimal text; null while never pulled. */
  amountPaid: string | null;
  syncStageId: string | null;
  paidTriggerAt: number | null;
}

interface Row {
  id: number;
  member_id: string;
  connection_id: number;
  b24_type: B24Type;
  b24_id: string;
  xero_type: XeroType;
  xero_id: string;
  xero_number: string | null;
  xero_status: string | null;
  xero_amount_paid: string | null;
  sync_stage_id: string | null;
  paid_trigger_at: number | null;
}

const IN_CHUNK = 500;

/** Links of a connection to the given Xero objects (ids compared case-insensitively, as Xero GUIDs). */
export function linksToXero(store: Store, connectionId: number, xeroType: XeroType, xeroIds: string[]): PulledLink[] {
  const wanted = [...new Set(xeroIds.flatMap((id) => [id, id.toLowerCase()]))];
  const out: PulledLink[] = [];
  for (let i = 0; i < wanted.length; i += IN_CHUNK) {
    const chunk = wanted.slice(i, i + IN_CHUNK);
    const rows = store.db
      .prepare(
        `SELECT id, member_id, connection_id, b24_type, b24_id, xero_type, xero_id, xero_number, xero_status,
           xero_amount_paid, sync_stage_id, paid_trigger_at
         FROM links WHERE connection_id = ? AND xero_type = ? AND xero_id IN (${chunk.map(() => '?').join(', ')})`,
      )
      .all(connectionId, xeroType, ...chunk) as Row[];
    out.push(...rows.map(fromRow));
  }
  return [...new Map(out.map((l) => [l.id, l])).values()];
}

/** Count of links of a connection to Xero objects of a type, and the earliest time one was synced. */
export function linkSpan(store: Store, connectionId: number, xeroType: XeroType): { count: number; oldestSyncedAt: number | null } {
  const row = store.db
    .prepare('SELECT count(*) AS n, min(last_synced_at) AS oldest FROM links WHERE connection_id = ? AND xero_type = ?')
    .get(connectionId, xeroType) as { n: number; oldest: number | null };
  return { count: row.n, oldestSyncedAt: row.oldest };
}

export interface PulledState {
  xeroStatus: string;
  amountPaid: string;
  /** Xero's other figures of the document in the same answer (decimal text, YYYY-MM-DD). */
  total: string;
  amountDue: string;
  currency: string;
  dueDate: string | null;
  xeroUpdatedAt: number | null;
  /** The stage the sync moved the document to in this write; undefined when it did not move it. */
  movedToStage?: string;
  /** The document's stage once this write lands (the expected echo). */
  stageAfterWrite: string | null;
  /** Set when "Paid in Xero" fired with this write. */
  triggerFiredAt?: number;
}

/** Records what the pull wrote to Bitrix24 for a link, and the echo it expects. */
export function recordPulled(store: Store, linkId: number, s: PulledState, now = clock.now()): void {
  store.db
    .prepare(
      `UPDATE links SET xero_status = @xeroStatus, xero_amount_paid = @amountPaid,
         xero_total = @total, xero_amount_due = @amountDue, xero_currency = @currency, xero_due_date = @dueDate,
         xero_figures_at = @now,
         xero_updated_at = coalesce(@xeroUpdatedAt, xero_updated_at),
         sync_stage_id = coalesce(@movedToStage, sync_stage_id),
         echo_stage_id = @stageAfterWrite, echo_expected_at = @now,
         paid_trigger_at = coalesce(paid_trigger_at, @triggerFiredAt),
         last_synced_at = @now
       WHERE id = @linkId`,
    )
    .run({
      linkId,
      xeroStatus: s.xeroStatus,
      amountPaid: s.amountPaid,
      total: s.total,
      amountDue: s.amountDue,
      currency: s.currency,
      dueDate: s.dueDate,
      xeroUpdatedAt: s.xeroUpdatedAt,
      movedToStage: s.movedToStage ?? null,
      stageAfterWrite: s.stageAfterWrite,
      triggerFiredAt: s.triggerFiredAt ?? null,
      now,
    });
}

/**
 * For the push side: is this Bitrix24 change of a document the echo of the status pull's own write (the document
 * stands at the stage the pull left it at, within ECHO_TTL_MS of that write)? An expectation is used up by the
 * first look, echo or not, so a later change by a person is never mistaken for one.
 * `stageId` is the smart invoice's / quote's `stageId`, or the classic invoice's `STATUS_ID`.
 */
export function isExpectedEcho(store: Store, memberId: string, b24Type: B24Type, b24Id: string | number, stageId: string, now = clock.now()): boolean {
  const row = store.db
    .prepare('SELECT id, echo_stage_id, echo_expected_at FROM links WHERE member_id = ? AND b24_type = ? AND b24_id = ?')
    .get(memberId, b24Type, String(b24Id)) as { id: number; echo_stage_id: string | null; echo_expected_at: number | null } | undefined;
  if (!row || row.echo_expected_at === null) return false;
  store.db.prepare('UPDATE links SET echo_expected_at = NULL WHERE id = ?').run(row.id);
  return row.echo_stage_id === stageId && now - row.echo_expected_at <= ECHO_TTL_MS;
}

function fromRow(r: Row): PulledLink {
  return {
    id: r.id,
    memberId: r.member_id,
    connectionId: r.connection_id,
    b24Type: r.b24_type,
    b24Id: r.b24_id,
    xeroType: r.xero_type,
    xeroId: r.xero_id,
    xeroNumber: r.xero_number,
    xeroStatus: r.xero_status,
    amountPaid: r.xero_amount_paid,
    syncStageId: r.sync_stage_id,
    paidTriggerAt: r.paid_trigger_at,
  };
}
