/** Repository of Xero consent steps: single-use OAuth states and pending tenant choices. */
import { clock } from '../clock.js';
import { randomBytes } from 'node:crypto';
import type { Db } from './db.js';
import type { SecretBox } from './secret-box.js';

export type ConsentPurpose = 'state' | 'tenant_choice';

export interface Consent<P = unknown> {
  id: string;
  memberId: string;
  purpose: ConsentPurpose;
  userId: number | null;
  payload: P | null;
}

interface ConsentRow {
  member_id: string;
  user_id: number | null;
  payload: string | null;
  expires_at: number;
}

export class ConsentRepository {
  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
  ) {}

  create(input: { memberId: string; purpose: ConsentPurpose; userId: number | null; payload?: unknown; ttlMs: number }, now = clock.now()): string {
    const id = randomBytes(24).toString('base64url');
    this.db
      .prepare('INSERT INTO xero_consents (id, member_id, purpose, user_id, payload, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(
        id,
        input.memberId,
        input.purpose,
        input.userId,
        input.payload === undefined ? null : this.box.seal(JSON.stringify(input.payload), `xero_consents.payload:${id}`),
        now + input.ttlMs,
        now,
      );
    return id;
  }

  /** Takes a consent step once: it is deleted in the same statement, so a replay finds nothing. */
  consume<P>(id: string, purpose: ConsentPurpose, now = clock.now()): Consent<P> | undefined {
    const row = this.db
      .prepare('DELETE FROM xero_consents WHERE id = ? AND purpose = ? RETURNING member_id, user_id, payload, expires_at')
      .get(id, purpose) as ConsentRow | undefined;
    return this.fromRow<P>(id, purpose, row, now);
  }

  /** Reads a consent step without taking it. */
  peek<P>(id: string, purpose: ConsentPurpose, now = clock.now()): Consent<P> | undefined {
    const row = this.db
      .prepare('SELECT member_id, user_id, payload, expires_at FROM xero_consents WHERE id = ? AND purpose = ?')
      .get(id, purpose) as ConsentRow | undefined;
    return this.fromRow<P>(id, purpose, row, now);
  }

  private fromRow<P>(id: string, purpose: ConsentPurpose, row: ConsentRow | undefined, now: number): Consent<P> | undefined {
    if (!row || row.expires_at < now) return undefined;
    return {
      id,
      memberId: row.member_id,
      purpose,
      userId: row.user_id,
      payload: row.payload ? (JSON.parse(this.box.open(row.payload, `xero_consents.payload:${id}`)) as P) : null,
    };
  }

  purgeExpired(now = clock.now()): number {
    return this.db.prepare('DELETE FROM xero_consents WHERE expires_at < ?').run(now).changes;
  }
}
