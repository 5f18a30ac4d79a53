/** Repository of connections: authorised Xero organisations, with their sealed tokens. */
import { clock } from '../clock.js';
import type { SqlDb } from './sql.js';
import type { SecretBox } from './secret-box.js';
import { countsOf, rowMapper } from './rows.js';

export type ConnectionState = 'active' | 'needs_reconnect' | 'disconnected';
export type XeroGrantType = 'authorization_code' | 'client_credentials';

export interface Connection {
  id: number;
  memberId: string;
  tenantId: string;
  tenantName: string | null;
  tenantType: string | null;
  xeroConnectionId: string | null;
  grantType: XeroGrantType;
  accessToken: string | null;
  refreshToken: string | null;
  /** Unix seconds at which the access token expires. */
  expiresAt: number | null;
  scope: string | null;
  state: ConnectionState;
  stateReason: string | null;
  createdAt: number;
  updatedAt: number;
}

interface ConnectionRow {
  id: number;
  member_id: string;
  tenant_id: string;
  tenant_name: string | null;
  tenant_type: string | null;
  xero_connection_id: string | null;
  grant_type: XeroGrantType;
  access_token: string | null;
  refresh_token: string | null;
  expires_at: number | null;
  scope: string | null;
  state: ConnectionState;
  state_reason: string | null;
  created_at: number;
  updated_at: number;
}

export type ConnectionInput = Pick<
  Connection,
  'memberId' | 'tenantId' | 'tenantName' | 'tenantType' | 'xeroConnectionId' | 'grantType' | 'accessToken' | 'refreshToken' | 'expiresAt' | 'scope'
>;

export interface ConnectionTokens {
  accessToken: string;
  refreshToken: string | null;
  expiresAt: number;
}

export class ConnectionRepository {
  private readonly fromRow: (row: ConnectionRow) => Connection;

  constructor(
    private readonly db: SqlDb,
    private readonly box: SecretBox,
  ) {
    this.fromRow = rowMapper<ConnectionRow, Connection>()(
      ['id', 'member_id', 'tenant_id', 'tenant_name', 'tenant_type', 'xero_connection_id', 'grant_type', 'access_token', 'refresh_token', 'expires_at', 'scope', 'state', 'state_reason', 'created_at', 'updated_at'],
      {
        accessToken: (r) => box.openOptional(r.access_token, secretContext('access_token', r.member_id, r.tenant_id)),
        refreshToken: (r) => box.openOptional(r.refresh_token, secretContext('refresh_token', r.member_id, r.tenant_id)),
      },
    );
  }

  async get(id: number): Promise<Connection | undefined> {
    const row = (await this.db.get('SELECT * FROM connections WHERE id = ?', [id])) as ConnectionRow | undefined;
    return row && this.fromRow(row);
  }

  /**
   * The portal's connection: its newest one that is not disconnected (active, or waiting for a reconnect); undefined
   * when there is none. Whoever needs it to work checks that its state is `active`.
   */
  async current(memberId: string): Promise<Connection | undefined> {
    const row = (await this.db.get(`SELECT * FROM connections WHERE member_id = ? AND state != 'disconnected' ORDER BY id DESC LIMIT 1`, [memberId])) as ConnectionRow | undefined;
    return row && this.fromRow(row);
  }

  /** Connections of a portal, oldest first. */
  async listForPortal(memberId: string): Promise<Connection[]> {
    return ((await this.db.all('SELECT * FROM connections WHERE member_id = ? ORDER BY id', [memberId])) as ConnectionRow[]).map(this.fromRow);
  }

  async list(): Promise<Connection[]> {
    return ((await this.db.all('SELECT * FROM connections ORDER BY id')) as ConnectionRow[]).map(this.fromRow);
  }

  /** Creates or re-authorises the connection of a portal to a tenant; it becomes active. */
  async upsert(c: ConnectionInput, now = clock.now()): Promise<Connection> {
    await this.db.run(`INSERT INTO connections (member_id, tenant_id, tenant_name, tenant_type, xero_connection_id, grant_type,
           access_token, refresh_token, expires_at, scope, state, state_reason, created_at, updated_at)
         VALUES (@memberId, @tenantId, @tenantName, @tenantType, @xeroConnectionId, @grantType,
           @accessToken, @refreshToken, @expiresAt, @scope, 'active', NULL, @now, @now)
         ON CONFLICT (member_id, tenant_id) DO UPDATE SET tenant_name = excluded.tenant_name,
           tenant_type = excluded.tenant_type, xero_connection_id = excluded.xero_connection_id,
           grant_type = excluded.grant_type, access_token = excluded.access_token,
           refresh_token = excluded.refresh_token, expires_at = excluded.expires_at, scope = excluded.scope,
           state = 'active', state_reason = NULL, updated_at = excluded.updated_at`, {
        ...c,
        now,
        accessToken: this.box.sealOptional(c.accessToken, secretContext('access_token', c.memberId, c.tenantId)),
        refreshToken: this.box.sealOptional(c.refreshToken, secretContext('refresh_token', c.memberId, c.tenantId)),
      });
    const row = (await this.db.get('SELECT * FROM connections WHERE member_id = ? AND tenant_id = ?', [c.memberId, c.tenantId])) as ConnectionRow;
    return this.fromRow(row);
  }

  /** Saves a rotated token set in one statement (access and refresh token never disagree). */
  async saveTokens(id: number, t: ConnectionTokens, now = clock.now()): Promise<void> {
    const key = (await this.db.get('SELECT member_id, tenant_id FROM connections WHERE id = ?', [id])) as { member_id: string; tenant_id: string } | undefined;
    if (!key) return;
    await this.db.run('UPDATE connections SET access_token = ?, refresh_token = ?, expires_at = ?, updated_at = ? WHERE id = ?', [this.box.seal(t.accessToken, secretContext('access_token', key.member_id, key.tenant_id)),
        this.box.sealOptional(t.refreshToken, secretContext('refresh_token', key.member_id, key.tenant_id)),
        t.expiresAt, now, id]);
  }

  async setState(id: number, state: ConnectionState, reason: string | null, now = clock.now()): Promise<void> {
    await this.db.run('UPDATE connections SET state = ?, state_reason = ?, updated_at = ? WHERE id = ?', [state, reason, now, id]);
  }

  /** Disconnect: forget the tokens, keep the links. */
  async forget(id: number, now = clock.now()): Promise<void> {
    await this.db.run(`UPDATE connections SET access_token = NULL, refresh_token = NULL, expires_at = NULL,
           state = 'disconnected', state_reason = NULL, updated_at = ? WHERE id = ?`, [now, id]);
  }

  async countByState(): Promise<Record<ConnectionState, number>> {
    const rows = (await this.db.all('SELECT state AS key, count(*) AS n FROM connections GROUP BY state')) as { key: ConnectionState; n: number }[];
    return countsOf({ active: 0, needs_reconnect: 0, disconnected: 0 }, rows);
  }
}

/** Where a connection's token is stored: the secret box binds it there (AAD). */
export function secretContext(column: 'access_token' | 'refresh_token', memberId: string, tenantId: string): string {
  return `connections.${column}:${memberId}:${tenantId}`;
}
