/**
 * Repository of links: one Bitrix24 object mapped to one Xero object, with what the push and the status pull keep on
 * it — the content sent, Xero's figures, the contact details agreed, and the status-pull state (migration 3): the
 * amount Xero last reported paid, the stage the sync last moved a document to, the echo it expects back from
 * Bitrix24, and whether "Paid in Xero" has fired.
 */
import { clock } from '../clock.js';
import type { SqlDb } from './sql.js';
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
  /** The drivers prepare each statement text once (save and find run once per record of an import). */
  constructor(private readonly db: SqlDb) {}

  async find(memberId: string, b24Type: B24Type, b24Id: string): Promise<Link | undefined> {
    const row = await this.db.get<LinkRow>('SELECT * FROM links WHERE member_id = ? AND b24_type = ? AND b24_id = ?', [memberId, b24Type, b24Id]);
    return row && fromRow(row);
  }

  /** Links whose Xero number is `xeroNumber` (case-insensitive). */
  async findByXeroNumber(memberId: string, xeroNumber: string): Promise<Link[]> {
    return ((await this.db.all('SELECT * FROM links WHERE member_id = ? AND lower(xero_number) = lower(?) LIMIT 20', [memberId, xeroNumber])) as LinkRow[]).map(fromRow);
  }

  /** Creates or updates the link of a Bitrix24 object. */
  async save(l: LinkInput, now = clock.now()): Promise<Link> {
    await this.db.run(
        `INSERT INTO links (member_id, connection_id, b24_type, b24_id, xero_type, xero_id, xero_number, content_hash,
           xero_status, xero_updated_at, last_synced_at, b24_stage_id)
         VALUES (@memberId, @connectionId, @b24Type, @b24Id, @xeroType, @xeroId, @xeroNumber, @contentHash,
           @xeroStatus, @xeroUpdatedAt, @now, @b24StageId)
         ON CONFLICT (member_id, b24_type, b24_id) DO UPDATE SET connection_id = excluded.connection_id,
           xero_type = excluded.xero_type, xero_id = excluded.xero_id, xero_number = excluded.xero_number,
           content_hash = excluded.content_hash, xero_status = excluded.xero_status,
           xero_updated_at = excluded.xero_updated_at, last_synced_at = excluded.last_synced_at,
           b24_stage_id = coalesce(excluded.b24_stage_id, links.b24_stage_id)`,
      { memberId: l.memberId, connectionId: l.connectionId, b24Type: l.b24Type, b24Id: l.b24Id, xeroType: l.xeroType, xeroId: l.xeroId, xeroNumber: l.xeroNumber, contentHash: l.contentHash, xeroStatus: l.xeroStatus, xeroUpdatedAt: l.xeroUpdatedAt, b24StageId: l.b24StageId ?? null, now },
    );
    return (await this.find(l.memberId, l.b24Type, l.b24Id))!;
  }

  /** Marks documents as sent to Xero before the request goes out (see migration 5). */
  async markSent(memberId: string, refs: { b24Type: B24Type; b24Id: string }[], now = clock.now()): Promise<void> {
    await this.db.transaction(async () => {
      for (const r of refs) await this.db.run('INSERT INTO sends (member_id, b24_type, b24_id, sent_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING', [memberId, r.b24Type, r.b24Id, now]);
    });
  }

  /** Documents sent before whose answer was never recorded (a crash, or a lost answer). */
  async wasSent(memberId: string, b24Type: B24Type, b24Id: string): Promise<boolean> {
    return Boolean((await this.db.get('SELECT 1 FROM sends WHERE member_id = ? AND b24_type = ? AND b24_id = ?', [memberId, b24Type, b24Id])));
  }

  /** When such a document was sent (ms), or undefined when its answer was recorded. */
  async sentAt(memberId: string, b24Type: B24Type, b24Id: string): Promise<number | undefined> {
    const row = (await this.db.get('SELECT sent_at FROM sends WHERE member_id = ? AND b24_type = ? AND b24_id = ?', [memberId, b24Type, b24Id])) as { sent_at: number } | undefined;
    return row?.sent_at;
  }

  async clearSent(memberId: string, b24Type: B24Type, b24Id: string): Promise<void> {
    await this.db.run('DELETE FROM sends WHERE member_id = ? AND b24_type = ? AND b24_id = ?', [memberId, b24Type, b24Id]);
  }

  /** Records the Bitrix24 stage the push has seen (and acted on, when it had to). */
  async setB24Stage(id: number, stageId: string | null): Promise<void> {
    await this.db.run('UPDATE links SET b24_stage_id = ? WHERE id = ?', [stageId, id]);
  }

  /** Bitrix24 product id → Xero item code, for the products linked to Xero items (imported or matched by code). */
  async itemCodes(memberId: string, productIds: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const ids = [...new Set(productIds)];
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const rows = (await this.db.all(`SELECT b24_id, xero_number FROM links WHERE member_id = ? AND b24_type = 'product' AND xero_type = 'item' AND xero_number IS NOT NULL AND b24_id IN (${chunk.map(() => '?').join(', ')})`, [memberId, ...chunk])) as { b24_id: string; xero_number: string }[];
      for (const r of rows) out.set(r.b24_id, r.xero_number);
    }
    return out;
  }

  /** Whether a connection has any link to a Xero object of this type (e.g. contacts worth polling). */
  async hasXeroType(connectionId: number, xeroType: XeroType): Promise<boolean> {
    return Boolean((await this.db.get('SELECT 1 FROM links WHERE connection_id = ? AND xero_type = ? LIMIT 1', [connectionId, xeroType])));
  }

  /** The contact details both sides last agreed on (migration 6), or null before the first sync. */
  async contactFields<T = Record<string, string>>(id: number): Promise<T | null> {
    const row = (await this.db.get('SELECT contact_fields FROM links WHERE id = ?', [id])) as { contact_fields: string | null } | undefined;
    return row?.contact_fields ? (JSON.parse(row.contact_fields) as T) : null;
  }

  async setContactFields(id: number, fields: object): Promise<void> {
    await this.db.run('UPDATE links SET contact_fields = ? WHERE id = ?', [JSON.stringify(fields), id]);
  }

  /** The note the card shows for a link (migration 7), e.g. that Xero carries a rounding line; null when none. */
  async note(id: number): Promise<string | null> {
    return ((await this.db.get('SELECT note FROM links WHERE id = ?', [id])) as { note: string | null } | undefined)?.note ?? null;
  }

  async setNote(id: number, note: string | null): Promise<void> {
    await this.db.run('UPDATE links SET note = ? WHERE id = ?', [note, id]);
  }

  /**
   * Xero's figures of a linked invoice or quote as the last push or status pull read them (migration 14), with the
   * link's Xero status; null until Xero's answer carrying them was seen.
   */
  async figures(id: number): Promise<LinkFigures | null> {
    const r = (await this.db.get(`SELECT xero_status, xero_total, xero_amount_paid, xero_amount_due, xero_currency, xero_due_date, xero_figures_at, xero_online_url
       FROM links WHERE id = ?`, [id])) as FiguresRow | undefined;
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
  async setFigures(id: number, f: Omit<LinkFigures, 'asOf' | 'onlineUrl' | 'status'>, asOf = clock.now()): Promise<void> {
    await this.db.run(`UPDATE links SET xero_total = @total, xero_amount_paid = @amountPaid, xero_amount_due = @amountDue,
         xero_currency = @currency, xero_due_date = @dueDate, xero_figures_at = @asOf
       WHERE id = @id AND (xero_figures_at IS NULL OR xero_figures_at <= @asOf)`, { id, total: f.total, amountPaid: f.amountPaid, amountDue: f.amountDue, currency: f.currency, dueDate: f.dueDate, asOf });
  }

  /** The online invoice's address Xero gave for this link (it does not change while the invoice exists). */
  async setOnlineUrl(id: number, url: string | null): Promise<void> {
    await this.db.run('UPDATE links SET xero_online_url = ? WHERE id = ?', [url, id]);
  }

  /** The links of one Xero object (a contact may be linked to a company and to its people). */
  async findByXero(connectionId: number, xeroType: XeroType, xeroId: string): Promise<Link[]> {
    return (await this.db.all<LinkRow>('SELECT * FROM links WHERE connection_id = ? AND xero_type = ? AND xero_id = ? ORDER BY id', [connectionId, xeroType, xeroId])).map(fromRow);
  }

  /** Links of a connection to the given Xero objects (ids compared case-insensitively, as Xero GUIDs). */
  async pulledByXero(connectionId: number, xeroType: XeroType, xeroIds: string[]): Promise<PulledLink[]> {
    const wanted = [...new Set(xeroIds.flatMap((id) => [id, id.toLowerCase()]))];
    const out: PulledLink[] = [];
    for (let i = 0; i < wanted.length; i += IN_CHUNK) {
      const chunk = wanted.slice(i, i + IN_CHUNK);
      const rows = (await this.db.all(`SELECT ${PULLED_COLUMNS} FROM links WHERE connection_id = ? AND xero_type = ? AND xero_id IN (${chunk.map(() => '?').join(', ')})`, [connectionId, xeroType, ...chunk])) as PulledRow[];
      out.push(...rows.map(pulledOf));
    }
    return [...new Map(out.map((l) => [l.id, l])).values()];
  }

  /** Count of links of a connection to Xero objects of a type, and the earliest time one was synced. */
  async span(connectionId: number, xeroType: XeroType): Promise<{ count: number; oldestSyncedAt: number | null }> {
    const row = (await this.db.get('SELECT count(*) AS n, min(last_synced_at) AS oldest FROM links WHERE connection_id = ? AND xero_type = ?', [connectionId, xeroType])) as { n: number; oldest: number | null };
    return { count: row.n, oldestSyncedAt: row.oldest };
  }

  /** Records what the pull wrote to Bitrix24 for a link, and the echo it expects. */
  async recordPulled(id: number, s: PulledState, now = clock.now()): Promise<void> {
    await this.db.run(`UPDATE links SET xero_status = @xeroStatus, xero_amount_paid = @amountPaid,
         xero_total = @total, xero_amount_due = @amountDue, xero_currency = @currency, xero_due_date = @dueDate,
         xero_figures_at = @now,
         xero_updated_at = coalesce(@xeroUpdatedAt, xero_updated_at),
         sync_stage_id = coalesce(@movedToStage, sync_stage_id),
         echo_stage_id = @stageAfterWrite, echo_expected_at = @now,
         paid_trigger_at = coalesce(paid_trigger_at, @triggerFiredAt),
         last_synced_at = @now
       WHERE id = @id`, { ...s, id, movedToStage: s.movedToStage ?? null, triggerFiredAt: s.triggerFiredAt ?? null, now });
  }

  /**
   * For the push side: is this Bitrix24 change of a document the echo of the status pull's own write (the document
   * stands at the stage the pull left it at, within ECHO_TTL_MS of that write)? An expectation is used up by the
   * first look, echo or not, so a later change by a person is never mistaken for one.
   * `stageId` is the smart invoice's / quote's `stageId`, or the classic invoice's `STATUS_ID`.
   */
  async isExpectedEcho(memberId: string, b24Type: B24Type, b24Id: string | number, stageId: string, now = clock.now()): Promise<boolean> {
    const row = (await this.db.get('SELECT id, echo_stage_id, echo_expected_at FROM links WHERE member_id = ? AND b24_type = ? AND b24_id = ?', [memberId, b24Type, String(b24Id)])) as { id: number; echo_stage_id: string | null; echo_expected_at: number | null } | undefined;
    if (!row || row.echo_expected_at === null) return false;
    // Used up only by the look that clears it: of two instances looking at once, one sees the echo.
    const { changes } = await this.db.run('UPDATE links SET echo_expected_at = NULL WHERE id = ? AND echo_expected_at = ?', [row.id, row.echo_expected_at]);
    if (changes === 0) return false;
    return row.echo_stage_id === stageId && now - row.echo_expected_at <= ECHO_TTL_MS;
  }

  async count(memberId?: string): Promise<number> {
    const row = (
      memberId
        ? (await this.db.get('SELECT count(*) AS n FROM links WHERE member_id = ?', [memberId]))
        : (await this.db.get('SELECT count(*) AS n FROM links'))
    ) as { n: number };
    return row.n;
  }
}
