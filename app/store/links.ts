/**
 * Repository of links: one Bitrix24 object mapped to one Xero object, with what the push and the status pull keep on
 * it — the content sent, Xero's figures, the contact details agreed, and the status-pull state (migration 3): the
 * amount Xero last reported paid, the stage the sync last moved a document to, the echo it expects back from
 * Bitrix24, and whether "Paid in Xero" has fired.
 */
import { clock } from '../clock.js';
import type { Statement } from 'better-sqlite3';
import { statementCache, type Db } from './db.js';
import { rowMapper } from './rows.js';

export type B24Type = 'smart_invoice' | 'invoice' | 'quote' | 'company' | 'contact' | 'product';
export type XeroType = 'invoice' | 'quote' | 'contact' | 'contact_person' | 'item';

export interface Link {
  id: number;
  memberId: string;
  connectionId: number | null;
  b24Type: B24Type;
  b24Id: string;
  xeroType: XeroType;
  xeroId: string;
  xeroNumber: string | null;
  contentHash: string | null;
  xeroStatus: string | null;
  xeroUpdatedAt: number | null;
  lastSyncedAt: number;
  /** The Bitrix24 stage (or classic STATUS_ID) the push last saw; null until seen. */
  b24StageId: string | null;
}

interface LinkRow {
  id: number;
  member_id: string;
  connection_id: number | null;
  b24_type: B24Type;
  b24_id: string;
  xero_type: XeroType;
  xero_id: string;
  xero_number: string | null;
  content_hash: string | null;
  xero_status: string | null;
  xero_updated_at: number | null;
  last_synced_at: number;
  b24_stage_id: string | null;
}

/** Xero's figures of an invoice or quote, decimal text; `asOf` when Xero's answer was read. */
export interface LinkFigures {
  status: string;
  total: string;
  amountPaid: string;
  amountDue: string;
  currency: string;
  dueDate: string | null;
  asOf: number;
  onlineUrl: string | null;
}

interface FiguresRow {
  xero_status: string | null;
  xero_total: string | null;
  xero_amount_paid: string | null;
  xero_amount_due: string | null;
  xero_currency: string | null;
  xero_due_date: string | null;
  xero_figures_at: number | null;
  xero_online_url: string | null;
}

export type LinkInput = Omit<Link, 'id' | 'lastSyncedAt' | 'b24StageId'> & { b24StageId?: string | null };

/** How long a write of the sync is expected to come back as a Bitrix24 event. */
export const ECHO_TTL_MS = 15 * 60_000;

/** A link as the status pull reads it. */
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

interface PulledRow {
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

/** What the status pull wrote to Bitrix24 for a link, with Xero's figures it read. */
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

const fromRow = rowMapper<LinkRow, Link>()(
  ['id', 'member_id', 'connection_id', 'b24_type', 'b24_id', 'xero_type', 'xero_id', 'xero_number', 'content_hash', 'xero_status', 'xero_updated_at', 'last_synced_at', 'b24_stage_id'],
  {},
);

const pulledOf = rowMapper<PulledRow, PulledLink>()(
  ['id', 'member_id', 'connection_id', 'b24_type', 'b24_id', 'xero_type', 'xero_id', 'xero_number', 'xero_status', 'sync_stage_id', 'paid_trigger_at'],
  { amountPaid: (r) => r.xero_amount_paid },
);
const PULLED_COLUMNS = 'id, member_id, connection_id, b24_type, b24_id, xero_type, xero_id, xero_number, xero_status, xero_amount_paid, sync_stage_id, paid_trigger_at';

const IN_CHUNK = 500;

export class LinkRepository {
  /** Statements are prepared once (save and find run once per record of an import). None of them is iterated. */
  private readonly sql: (text: string) => Statement<unknown[]>;

  constructor(private readonly db: Db) {
    this.sql = statementCache(db);
  }

  find(memberId: string, b24Type: B24Type, b24Id: string): Link | undefined {
    const row = this
      .sql('SELECT * FROM links WHERE member_id = ? AND b24_type = ? AND b24_id = ?')
      .get(memberId, b24Type, b24Id) as LinkRow | undefined;
    return row && fromRow(row);
  }

  /** Links whose Xero number is `xeroNumber` (case-insensitive). */
  findByXeroNumber(memberId: string, xeroNumber: string): Link[] {
    return (this.sql('SELECT * FROM links WHERE member_id = ? AND xero_number = ? COLLATE NOCASE LIMIT 20').all(memberId, xeroNumber) as LinkRow[]).map(fromRow);
  }

  /** Creates or updates the link of a Bitrix24 object. */
  save(l: LinkInput, now = clock.now()): Link {
    this
      .sql(
        `INSERT INTO links (member_id, connection_id, b24_type, b24_id, xero_type, xero_id, xero_number, content_hash,
           xero_status, xero_updated_at, last_synced_at, b24_stage_id)
         VALUES (@memberId, @connectionId, @b24Type, @b24Id, @xeroType, @xeroId, @xeroNumber, @contentHash,
           @xeroStatus, @xeroUpdatedAt, @now, @b24StageId)
         ON CONFLICT (member_id, b24_type, b24_id) DO UPDATE SET connection_id = excluded.connection_id,
           xero_type = excluded.xero_type, xero_id = excluded.xero_id, xero_number = excluded.xero_number,
           content_hash = excluded.content_hash, xero_status = excluded.xero_status,
           xero_updated_at = excluded.xero_updated_at, last_synced_at = excluded.last_synced_at,
           b24_stage_id = coalesce(excluded.b24_stage_id, links.b24_stage_id)`,
      )
      .run({ memberId: l.memberId, connectionId: l.connectionId, b24Type: l.b24Type, b24Id: l.b24Id, xeroType: l.xeroType, xeroId: l.xeroId, xeroNumber: l.xeroNumber, contentHash: l.contentHash, xeroStatus: l.xeroStatus, xeroUpdatedAt: l.xeroUpdatedAt, b24StageId: l.b24StageId ?? null, now });
    return this.find(l.memberId, l.b24Type, l.b24Id)!;
  }

  /** Marks documents as sent to Xero before the request goes out (see migration 5). */
  markSent(memberId: string, refs: { b24Type: B24Type; b24Id: string }[], now = clock.now()): void {
    const insert = this.sql('INSERT OR IGNORE INTO sends (member_id, b24_type, b24_id, sent_at) VALUES (?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const r of refs) insert.run(memberId, r.b24Type, r.b24Id, now);
    })();
  }

  /** Documents sent before whose answer was never recorded (a crash, or a lost answer). */
  wasSent(memberId: string, b24Type: B24Type, b24Id: string): boolean {
    return Boolean(this.sql('SELECT 1 FROM sends WHERE member_id = ? AND b24_type = ? AND b24_id = ?').get(memberId, b24Type, b24Id));
  }

  /** When such a document was sent (ms), or undefined when its answer was recorded. */
  sentAt(memberId: string, b24Type: B24Type, b24Id: string): number | undefined {
    const row = this.sql('SELECT sent_at FROM sends WHERE member_id = ? AND b24_type = ? AND b24_id = ?').get(memberId, b24Type, b24Id) as { sent_at: number } | undefined;
    return row?.sent_at;
  }

  clearSent(memberId: string, b24Type: B24Type, b24Id: string): void {
    this.sql('DELETE FROM sends WHERE member_id = ? AND b24_type = ? AND b24_id = ?').run(memberId, b24Type, b24Id);
  }

  /** Records the Bitrix24 stage the push has seen (and acted on, when it had to). */
  setB24Stage(id: number, stageId: string | null): void {
    this.sql('UPDATE links SET b24_stage_id = ? WHERE id = ?').run(stageId, id);
  }

  /** Bitrix24 product id → Xero item code, for the products linked to Xero items (imported or matched by code). */
  itemCodes(memberId: string, productIds: string[]): Map<string, string> {
    const out = new Map<string, string>();
    const ids = [...new Set(productIds)];
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const rows = this.db
        .prepare(`SELECT b24_id, xero_number FROM links WHERE member_id = ? AND b24_type = 'product' AND xero_type = 'item' AND xero_number IS NOT NULL AND b24_id IN (${chunk.map(() => '?').join(', ')})`)
        .all(memberId, ...chunk) as { b24_id: string; xero_number: string }[];
      for (const r of rows) out.set(r.b24_id, r.xero_number);
    }
    return out;
  }

  /** Whether a connection has any link to a Xero object of this type (e.g. contacts worth polling). */
  hasXeroType(connectionId: number, xeroType: XeroType): boolean {
    return Boolean(this.sql('SELECT 1 FROM links WHERE connection_id = ? AND xero_type = ? LIMIT 1').get(connectionId, xeroType));
  }

  /** The contact details both sides last agreed on (migration 6), or null before the first sync. */
  contactFields<T = Record<string, string>>(id: number): T | null {
    const row = this.sql('SELECT contact_fields FROM links WHERE id = ?').get(id) as { contact_fields: string | null } | undefined;
    return row?.contact_fields ? (JSON.parse(row.contact_fields) as T) : null;
  }

  setContactFields(id: number, fields: object): void {
    this.sql('UPDATE links SET contact_fields = ? WHERE id = ?').run(JSON.stringify(fields), id);
  }

  /** The note the card shows for a link (migration 7), e.g. that Xero carries a rounding line; null when none. */
  note(id: number): string | null {
    return (this.sql('SELECT note FROM links WHERE id = ?').get(id) as { note: string | null } | undefined)?.note ?? null;
  }

  setNote(id: number, note: string | null): void {
    this.sql('UPDATE links SET note = ? WHERE id = ?').run(note, id);
  }

  /**
   * Xero's figures of a linked invoice or quote as the last push or status pull read them (migration 14), with the
   * link's Xero status; null until Xero's answer carrying them was seen.
   */
  figures(id: number): LinkFigures | null {
    const r = this.sql(
      `SELECT xero_status, xero_total, xero_amount_paid, xero_amount_due, xero_currency, xero_due_date, xero_figures_at, xero_online_url
       FROM links WHERE id = ?`,
    ).get(id) as FiguresRow | undefined;
    if (!r || r.xero_figures_at === null || r.xero_total === null) return null;
    return {
      status: r.xero_status ?? '',
      total: r.xero_total,
      amountPaid: r.xero_amount_paid ?? '0.00',
      amountDue: r.xero_amount_due ?? '0.00',
      currency: r.xero_currency ?? '',
      dueDate: r.xero_due_date,
      asOf: r.xero_figures_at,
      onlineUrl: r.xero_online_url,
    };
  }

  /** Keeps Xero's figures read in an answer at `asOf` (never older ones over newer). */
  setFigures(id: number, f: Omit<LinkFigures, 'asOf' | 'onlineUrl' | 'status'>, asOf = clock.now()): void {
    this.sql(
      `UPDATE links SET xero_total = @total, xero_amount_paid = @amountPaid, xero_amount_due = @amountDue,
         xero_currency = @currency, xero_due_date = @dueDate, xero_figures_at = @asOf
       WHERE id = @id AND (xero_figures_at IS NULL OR xero_figures_at <= @asOf)`,
    ).run({ id, total: f.total, amountPaid: f.amountPaid, amountDue: f.amountDue, currency: f.currency, dueDate: f.dueDate, asOf });
  }

  /** The online invoice's address Xero gave for this link (it does not change while the invoice exists). */
  setOnlineUrl(id: number, url: string | null): void {
    this.sql('UPDATE links SET xero_online_url = ? WHERE id = ?').run(url, id);
  }

  /** The links of one Xero object (a contact may be linked to a company and to its people). */
  findByXero(connectionId: number, xeroType: XeroType, xeroId: string): Link[] {
    this.#byXero ??= this.sql('SELECT * FROM links WHERE connection_id = ? AND xero_type = ? AND xero_id = ? ORDER BY id');
    return (this.#byXero.all(connectionId, xeroType, xeroId) as LinkRow[]).map(fromRow);
  }

  #byXero: Statement<unknown[]> | undefined;

  /** Links of a connection to the given Xero objects (ids compared case-insensitively, as Xero GUIDs). */
  pulledByXero(connectionId: number, xeroType: XeroType, xeroIds: string[]): PulledLink[] {
    const wanted = [...new Set(xeroIds.flatMap((id) => [id, id.toLowerCase()]))];
    const out: PulledLink[] = [];
    for (let i = 0; i < wanted.length; i += IN_CHUNK) {
      const chunk = wanted.slice(i, i + IN_CHUNK);
      const rows = this.db
        .prepare(`SELECT ${PULLED_COLUMNS} FROM links WHERE connection_id = ? AND xero_type = ? AND xero_id IN (${chunk.map(() => '?').join(', ')})`)
        .all(connectionId, xeroType, ...chunk) as PulledRow[];
      out.push(...rows.map(pulledOf));
    }
    return [...new Map(out.map((l) => [l.id, l])).values()];
  }

  /** Count of links of a connection to Xero objects of a type, and the earliest time one was synced. */
  span(connectionId: number, xeroType: XeroType): { count: number; oldestSyncedAt: number | null } {
    const row = this.sql('SELECT count(*) AS n, min(last_synced_at) AS oldest FROM links WHERE connection_id = ? AND xero_type = ?')
      .get(connectionId, xeroType) as { n: number; oldest: number | null };
    return { count: row.n, oldestSyncedAt: row.oldest };
  }

  /** Records what the pull wrote to Bitrix24 for a link, and the echo it expects. */
  recordPulled(id: number, s: PulledState, now = clock.now()): void {
    this.sql(
      `UPDATE links SET xero_status = @xeroStatus, xero_amount_paid = @amountPaid,
         xero_total = @total, xero_amount_due = @amountDue, xero_currency = @currency, xero_due_date = @dueDate,
         xero_figures_at = @now,
         xero_updated_at = coalesce(@xeroUpdatedAt, xero_updated_at),
         sync_stage_id = coalesce(@movedToStage, sync_stage_id),
         echo_stage_id = @stageAfterWrite, echo_expected_at = @now,
         paid_trigger_at = coalesce(paid_trigger_at, @triggerFiredAt),
         last_synced_at = @now
       WHERE id = @id`,
    ).run({ ...s, id, movedToStage: s.movedToStage ?? null, triggerFiredAt: s.triggerFiredAt ?? null, now });
  }

  /**
   * For the push side: is this Bitrix24 change of a document the echo of the status pull's own write (the document
   * stands at the stage the pull left it at, within ECHO_TTL_MS of that write)? An expectation is used up by the
   * first look, echo or not, so a later change by a person is never mistaken for one.
   * `stageId` is the smart invoice's / quote's `stageId`, or the classic invoice's `STATUS_ID`.
   */
  isExpectedEcho(memberId: string, b24Type: B24Type, b24Id: string | number, stageId: string, now = clock.now()): boolean {
    const row = this.sql('SELECT id, echo_stage_id, echo_expected_at FROM links WHERE member_id = ? AND b24_type = ? AND b24_id = ?')
      .get(memberId, b24Type, String(b24Id)) as { id: number; echo_stage_id: string | null; echo_expected_at: number | null } | undefined;
    if (!row || row.echo_expected_at === null) return false;
    this.sql('UPDATE links SET echo_expected_at = NULL WHERE id = ?').run(row.id);
    return row.echo_stage_id === stageId && now - row.echo_expected_at <= ECHO_TTL_MS;
  }

  count(memberId?: string): number {
    const row = (
      memberId
        ? this.sql('SELECT count(*) AS n FROM links WHERE member_id = ?').get(memberId)
        : this.sql('SELECT count(*) AS n FROM links').get()
    ) as { n: number };
    return row.n;
  }
}
