/** Repository of Xero consent steps: single-use OAuth states and pending tenant choices. */
import { clock } from '../clock.js';
import { randomBytes } from 'node:crypto';
import type { SqlDb } from './sql.js';
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
    private readonly db: SqlDb,
    private readonly box: SecretBox,
  ) {}

  async create(input: { memberId: string; purpose: ConsentPurpose; userId: number | null; payload?: unknown; ttlMs: number }, now = clock.now()): Promise<string> {
    const id = randomBytes(24).toString('base64url');
    await this.db.run('INSERT INTO xero_consents (id, member_id, purpose, user_id, payload, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
        id,
        input.memberId,
        input.purpose,
        input.userId,
        input.payload === undefined ? null : this.box.seal(JSON.stringify(input.payload), `xero_consents.payload:${id}`),
        now + input.ttlMs,
        now,
      ]);
    return id;
  }

  /** Takes a consent step once: it is deleted in the same statement, so a replay finds nothing. */
  async consume<P>(id: string, purpose: ConsentPurpose, now = clock.now()): Promise<Consent<P> | undefined> {
    const row = await this.db.get<ConsentRow>('DELETE FROM xero_consents WHERE id = ? AND purpose = ? RETURNING member_id, user_id, payload, expires_at', [id, purpose]);
    return this.fromRow<P>(id, purpose, row, now);
  }

  /** Reads a consent step without taking it. */
  async peek<P>(id: string, purpose: ConsentPurpose, now = clock.now()): Promise<Consent<P> | undefined> {
    const row = await this.db.get<ConsentRow>('SELECT member_id, user_id, payload, expires_at FROM xero_consents WHERE id = ? AND purpose = ?', [id, purpose]);
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

  async purgeExpired(now = clock.now()): Promise<number> {
    return (await this.db.run('DELETE FROM xero_consents WHERE expires_at < ?', [now])).changes;
  }
}
