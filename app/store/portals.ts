/** Repository of portals: Bitrix24 installations of the app, with their sealed tokens. */
import { clock } from '../clock.js';
import type { SqlDb } from './sql.js';
import type { SecretBox } from './secret-box.js';
import { countsOf, rowMapper } from './rows.js';

export type PortalState = 'installing' | 'installed' | 'uninstalled';

export interface Portal {
  memberId: string;
  domain: string;
  clientEndpoint: string;
  serverEndpoint: string;
  accessToken: string | null;
  refreshToken: string | null;
  /** Unix seconds at which the access token expires. */
  expiresAt: number | null;
  applicationToken: string | null;
  scope: string | null;
  installedBy: number | null;
  state: PortalState;
  installedAt: number;
  /** When the app was first installed, on the portal's clock (server.time), ms; null when not known (see installedAt). */
  b24InstalledAt: number | null;
  /** How far the portal's clock runs ahead of the connector's, ms (negative: behind), as last measured; 0 when never. */
  b24ClockOffsetMs: number;
  updatedAt: number;
  /** Unix ms after which an uninstalled portal's data is purged (CLEAN); null = kept. */
  purgeAt: number | null;
  /** An operator allowed this uninstalled portal to be installed again at another endpoint. */
  relocationAllowed: boolean;
}

interface PortalRow {
  member_id: string;
  domain: string;
  client_endpoint: string;
  server_endpoint: string;
  access_token: string | null;
  refresh_token: string | null;
  expires_at: number | null;
  application_token: string | null;
  scope: string | null;
  installed_by: number | null;
  state: PortalState;
  installed_at: number;
  b24_installed_at: number | null;
  b24_clock_offset_ms: number;
  updated_at: number;
  purge_at: number | null;
  relocation_allowed: number;
}

export type PortalInput = Omit<Portal, 'installedAt' | 'b24InstalledAt' | 'b24ClockOffsetMs' | 'updatedAt' | 'purgeAt' | 'relocationAllowed'>;

export interface PortalTokens {
  accessToken: string;
  refreshToken: string;
  expiresAt: number;
}

export class PortalRepository {
  private readonly fromRow: (row: PortalRow) => Portal;

  constructor(
    private readonly db: SqlDb,
    private readonly box: SecretBox,
  ) {
    const secret = (column: 'access_token' | 'refresh_token' | 'application_token') => (r: PortalRow) => box.openOptional(r[column], `portals.${column}:${r.member_id}`);
    this.fromRow = rowMapper<PortalRow, Portal>()(
      ['member_id', 'domain', 'client_endpoint', 'server_endpoint', 'access_token', 'refresh_token', 'expires_at', 'application_token', 'scope', 'installed_by', 'state', 'installed_at', 'b24_installed_at', 'b24_clock_offset_ms', 'updated_at', 'purge_at', 'relocation_allowed'],
      {
        accessToken: secret('access_token'), refreshToken: secret('refresh_token'), applicationToken: secret('application_token'),
        b24InstalledAt: (r) => r.b24_installed_at ?? null, b24ClockOffsetMs: (r) => r.b24_clock_offset_ms ?? 0, relocationAllowed: (r) => r.relocation_allowed === 1,
      },
    );
  }

  async get(memberId: string): Promise<Portal | undefined> {
    const row = (await this.db.get('SELECT * FROM portals WHERE member_id = ?', [memberId])) as PortalRow | undefined;
    return row && this.fromRow(row);
  }

  async list(): Promise<Portal[]> {
    return ((await this.db.all('SELECT * FROM portals ORDER BY installed_at')) as PortalRow[]).map(this.fromRow);
  }

  /** Inserts or replaces a portal's installation data; keeps its original install time; cancels a pending purge. */
  async upsert(p: PortalInput, now = clock.now()): Promise<Portal> {
    await this.db.run(`INSERT INTO portals (member_id, domain, client_endpoint, server_endpoint, access_token, refresh_token,
           expires_at, application_token, scope, installed_by, state, installed_at, updated_at)
         VALUES (@memberId, @domain, @clientEndpoint, @serverEndpoint, @accessToken, @refreshToken,
           @expiresAt, @applicationToken, @scope, @installedBy, @state, @now, @now)
         ON CONFLICT (member_id) DO UPDATE SET domain = excluded.domain, client_endpoint = excluded.client_endpoint,
           server_endpoint = excluded.server_endpoint, access_token = excluded.access_token,
           refresh_token = excluded.refresh_token, expires_at = excluded.expires_at,
           application_token = excluded.application_token, scope = excluded.scope,
           installed_by = excluded.installed_by, state = excluded.state, updated_at = excluded.updated_at,
           purge_at = NULL, relocation_allowed = 0`, {
        ...p,
        now,
        accessToken: this.box.sealOptional(p.accessToken, `portals.access_token:${p.memberId}`),
        refreshToken: this.box.sealOptional(p.refreshToken, `portals.refresh_token:${p.memberId}`),
        applicationToken: this.box.sealOptional(p.applicationToken, `portals.application_token:${p.memberId}`),
      });
    return (await this.get(p.memberId))!;
  }

  /** Saves rotated OAuth tokens in one statement, so access and refresh token never disagree. */
  async saveTokens(memberId: string, t: PortalTokens, now = clock.now()): Promise<void> {
    await this.db.run('UPDATE portals SET access_token = ?, refresh_token = ?, expires_at = ?, updated_at = ? WHERE member_id = ?', [this.box.seal(t.accessToken, `portals.access_token:${memberId}`), this.box.seal(t.refreshToken, `portals.refresh_token:${memberId}`), t.expiresAt, now, memberId]);
  }

  async setApplicationToken(memberId: string, applicationToken: string, now = clock.now()): Promise<void> {
    await this.db.run('UPDATE portals SET application_token = ?, updated_at = ? WHERE member_id = ?', [this.box.seal(applicationToken, `portals.application_token:${memberId}`), now, memberId]);
  }

  /** Records the first install on the portal's clock; never moves one already recorded. */
  async keepB24InstalledAt(memberId: string, at: number): Promise<void> {
    await this.db.run('UPDATE portals SET b24_installed_at = ? WHERE member_id = ? AND b24_installed_at IS NULL', [at, memberId]);
  }

  /** Records how far the portal's clock runs ahead of the connector's (ms), as just measured. */
  async setB24ClockOffset(memberId: string, offsetMs: number): Promise<void> {
    await this.db.run('UPDATE portals SET b24_clock_offset_ms = ? WHERE member_id = ?', [Math.round(offsetMs), memberId]);
  }

  async setState(memberId: string, state: PortalState, now = clock.now()): Promise<void> {
    await this.db.run('UPDATE portals SET state = ?, updated_at = ? WHERE member_id = ?', [state, now, memberId]);
  }

  /** Forgets every token of the portal (uninstall) but keeps its data. */
  async forgetTokens(memberId: string, now = clock.now()): Promise<void> {
    await this.db.run(`UPDATE portals SET access_token = NULL, refresh_token = NULL, expires_at = NULL, application_token = NULL,
           state = 'uninstalled', updated_at = ? WHERE member_id = ?`, [now, memberId]);
  }

  /** Uninstalled with CLEAN: the data goes at `at` (unix ms) unless an operator restores it first. */
  async schedulePurge(memberId: string, at: number, now = clock.now()): Promise<void> {
    await this.db.run('UPDATE portals SET purge_at = ?, updated_at = ? WHERE member_id = ?', [at, now, memberId]);
  }

  /** Operator: keep an uninstalled portal's data (cancels the purge). Returns false for an unknown portal. */
  async cancelPurge(memberId: string, now = clock.now()): Promise<boolean> {
    return (await this.db.run('UPDATE portals SET purge_at = NULL, updated_at = ? WHERE member_id = ?', [now, memberId])).changes > 0;
  }

  /** Operator: let an uninstalled portal be installed again at another endpoint. False unless it is uninstalled. */
  async allowRelocation(memberId: string, now = clock.now()): Promise<boolean> {
    return (await this.db.run(`UPDATE portals SET relocation_allowed = 1, updated_at = ? WHERE member_id = ? AND state = 'uninstalled'`, [now, memberId])).changes > 0;
  }

  /** Purges every uninstalled portal whose grace period ended; returns their member ids. */
  async purgeDue(now = clock.now()): Promise<string[]> {
    const due = ((await this.db.all(`SELECT member_id FROM portals WHERE state = 'uninstalled' AND purge_at IS NOT NULL AND purge_at <= ?`, [now])) as { member_id: string }[]).map((r) => r.member_id);
    for (const memberId of due) await this.purge(memberId);
    return due;
  }

  /** Removes the portal and, through foreign keys, everything that belongs to it. */
  async purge(memberId: string): Promise<void> {
    await this.db.run('DELETE FROM portals WHERE member_id = ?', [memberId]);
  }

  async countByState(): Promise<Record<PortalState, number>> {
    const rows = (await this.db.all('SELECT state AS key, count(*) AS n FROM portals GROUP BY state')) as { key: PortalState; n: number }[];
    return countsOf({ installing: 0, installed: 0, uninstalled: 0 }, rows);
  }
}
