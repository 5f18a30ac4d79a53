/** Repository of links: one Bitrix24 object mapped to one Xero object. */
import type { Db } from './db.js';

export type B24Type = 'smart_invoice' | 'invoice' | 'quote' | 'company' | 'contact' | 'product';
export type XeroType = 'invoice' | 'quote' | 'contact' | 'item';

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
}

export type LinkInput = Omit<Link, 'id' | 'lastSyncedAt'>;

export class LinkRepository {
  constructor(private readonly db: Db) {}

  find(memberId: string, b24Type: B24Type, b24Id: string): Link | undefined {
    const row = this.db
      .prepare('SELECT * FROM links WHERE member_id = ? AND b24_type = ? AND b24_id = ?')
      .get(memberId, b24Type, b24Id) as LinkRow | undefined;
    return row && fromRow(row);
  }

  findByXero(connectionId: number, xeroType: XeroType, xeroId: string): Link[] {
    return (
      this.db
        .prepare('SELECT * FROM links WHERE connection_id = ? AND xero_type = ? AND xero_id = ?')
        .all(connectionId, xeroType, xeroId) as LinkRow[]
    ).map(fromRow);
  }

  /** Creates or updates the link of a Bitrix24 object. */
  save(l: LinkInput, now = Date.now()): Link {
    this.db
      .prepare(
        `INSERT INTO links (member_id, connection_id, b24_type, b24_id, xero_type, xero_id, xero_number, content_hash,
           xero_status, xero_updated_at, last_synced_at)
         VALUES (@memberId, @connectionId, @b24Type, @b24Id, @xeroType, @xeroId, @xeroNumber, @contentHash,
           @xeroStatus, @xeroUpdatedAt, @now)
         ON CONFLICT (member_id, b24_type, b24_id) DO UPDATE SET connection_id = excluded.connection_id,
           xero_type = excluded.xero_type, xero_id = excluded.xero_id, xero_number = excluded.xero_number,
           content_hash = excluded.content_hash, xero_status = excluded.xero_status,
           xero_updated_at = excluded.xero_updated_at, last_synced_at = excluded.last_synced_at`,
      )
      .run({ ...l, now });
    return this.find(l.memberId, l.b24Type, l.b24Id)!;
  }

  remove(memberId: string, b24Type: B24Type, b24Id: string): void {
    this.db.prepare('DELETE FROM links WHERE member_id = ? AND b24_type = ? AND b24_id = ?').run(memberId, b24Type, b24Id);
  }

  count(memberId?: string): number {
    const row = (
      memberId
        ? this.db.prepare('SELECT count(*) AS n FROM links WHERE member_id = ?').get(memberId)
        : this.db.prepare('SELECT count(*) AS n FROM links').get()
    ) as { n: number };
    return row.n;
  }
}

function fromRow(r: LinkRow): Link {
  return {
    id: r.id,
    memberId: r.member_id,
    connectionId: r.connection_id,
    b24Type: r.b24_type,
    b24Id: r.b24_id,
    xeroType: r.xero_type,
    xeroId: r.xero_id,
    xeroNumber: r.xero_number,
    contentHash: r.content_hash,
    xeroStatus: r.xero_status,
    xeroUpdatedAt: r.xero_updated_at,
    lastSyncedAt: r.last_synced_at,
  };
}
