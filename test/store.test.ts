import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { DB_FILE, latestVersion, StoreError } from '../app/store/db.js';
import { openStore } from '../app/store/index.js';
import { MIGRATIONS, type Migration } from '../app/store/migrations.js';
import { SecretBox } from '../app/store/secret-box.js';
import type { SqliteDb } from '../app/store/sqlite-driver.js';
import { tempDir } from './helpers/tmp.js';
import { testStore } from './helpers/store.js';

const SECRET = 'test-secret-with-enough-length-0123456789';

function tables(dir: string): string[] {
  const db = new Database(path.join(dir, DB_FILE), { readonly: true });
  try {
    return (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as { name: string }[]).map(
      (r) => r.name,
    );
  } finally {
    db.close();
  }
}

async function expectStoreError(fn: () => Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(fn, (err: unknown) => {
    assert.ok(err instanceof StoreError, `expected StoreError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

describe('store migrations', () => {
  it('when the data folder is empty, then the latest schema is created with every table the architecture names', async () => {
    const dir = tempDir();
    const store = await openStore(dir, SECRET);
    assert.equal((await store.schemaVersion()), MIGRATIONS.at(-1)!.version);
    assert.equal((store.db as SqliteDb).raw.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal((store.db as SqliteDb).raw.pragma('foreign_keys', { simple: true }), 1);
    await store.close();
    for (const t of ['portals', 'connections', 'links', 'jobs', 'activity_log', 'settings', 'watermarks', 'schema_migrations']) {
      assert.ok(tables(dir).includes(t), `table ${t} is missing`);
    }
  });

  it('when the store is opened again, then nothing is re-applied and data survives', async () => {
    const dir = tempDir();
    const first = await openStore(dir, SECRET);
    await first.watermarks.set('connection:1', 'xero.invoices', '2026-11-25T10:00:00Z');
    await first.close();
    const again = await openStore(dir, SECRET);
    const applied = (await again.db.get<{ n: number }>('SELECT count(*) AS n FROM schema_migrations'))!;
    assert.equal(applied.n, MIGRATIONS.length);
    assert.equal((await again.watermarks.get('connection:1', 'xero.invoices')), '2026-11-25T10:00:00Z');
    await again.close();
  });

  it('when a migration fails halfway, then it is rolled back and the store stays at the previous version', async () => {
    const dir = tempDir();
    await (await openStore(dir, SECRET)).close();
    const broken: Migration[] = [
      ...MIGRATIONS,
      { version: 99, name: 'half done', sql: `CREATE TABLE half_done (id INTEGER); INSERT INTO no_such_table VALUES (1);` },
    ];
    await expectStoreError(() => openStore(dir, SECRET, { migrations: broken }), 'STORE.MIGRATION_FAILED', new RegExp(`Migration 99 .*rolled back.*version ${latestVersion()}`));
    assert.equal(tables(dir).includes('half_done'), false);
    const store = await openStore(dir, SECRET);
    assert.equal((await store.schemaVersion()), latestVersion());
    await store.close();
  });

  it('when the database was written by a newer connector, then the start is refused naming both versions', async () => {
    const dir = tempDir();
    await (await openStore(dir, SECRET)).close();
    const db = new Database(path.join(dir, DB_FILE));
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(42, 'future', Date.now());
    db.close();
    await expectStoreError(() => openStore(dir, SECRET), 'STORE.SCHEMA_TOO_NEW', new RegExp(`schema version 42, newer than this connector knows \\(${latestVersion()}\\)`));
  });

  it('when the database file is not SQLite, then the start is refused with how to recover', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, DB_FILE), 'this is not a database '.repeat(500));
    await expectStoreError(() => openStore(dir, SECRET), 'STORE.CORRUPT', /not a readable SQLite database.*Restore it from a backup/);
  });

  it('when APP_SECRET changes, then the start is refused instead of failing on the first token', async () => {
    const dir = tempDir();
    await (await openStore(dir, SECRET)).close();
    await expectStoreError(() => openStore(dir, 'another-secret-that-is-long-enough-123'), 'STORE.SECRET_KEY_MISMATCH', /APP_SECRET differs/);
  });
});

describe('secrets at rest', () => {
  it('when a secret is sealed and opened, then it round-trips and each sealing differs', () => {
    const box = new SecretBox(SECRET);
    const a = box.seal('refresh-token-123', 'test');
    const b = box.seal('refresh-token-123', 'test');
    assert.notEqual(a, b);
    assert.equal(box.open(a, 'test'), 'refresh-token-123');
  });

  it('when a sealed secret is tampered with, then opening it fails', () => {
    const box = new SecretBox(SECRET);
    const sealed = box.seal('x', 'test');
    const tampered = sealed.slice(0, -2) + (sealed.endsWith('A') ? 'BB' : 'AA');
    assert.throws(() => box.open(tampered, 'test'), /cannot be decrypted/);
  });

  it('when portal and Xero tokens are stored, then the database file holds none of their plaintext', async () => {
    const dir = tempDir();
    const store = await openStore(dir, SECRET);
    await store.portals.upsert({
      memberId: 'member-1', domain: 'crm.example.com', clientEndpoint: 'https://crm.example.com/rest/',
      serverEndpoint: 'https://oauth.bitrix.info/rest/', accessToken: 'PLAIN-ACCESS-TOKEN-b24',
      refreshToken: 'PLAIN-REFRESH-TOKEN-b24', expiresAt: 2_000_000_000, applicationToken: 'PLAIN-APP-TOKEN',
      scope: 'crm', installedBy: 1, state: 'installed',
    });
    const conn = (await store.connections.upsert({
      memberId: 'member-1', tenantId: 't-1', tenantName: 'Demo Ltd', tenantType: 'ORGANISATION', xeroConnectionId: null,
      grantType: 'authorization_code', accessToken: 'PLAIN-XERO-ACCESS', refreshToken: 'PLAIN-XERO-REFRESH',
      expiresAt: 2_000_000_000, scope: 'offline_access',
    }));
    assert.equal((await store.portals.get('member-1'))!.refreshToken, 'PLAIN-REFRESH-TOKEN-b24');
    assert.equal((await store.connections.get(conn.id))!.refreshToken, 'PLAIN-XERO-REFRESH');
    (store.db as SqliteDb).raw.pragma('wal_checkpoint(TRUNCATE)');
    await store.close();
    const bytes = readFileSync(path.join(dir, DB_FILE)).toString('latin1');
    for (const plain of ['PLAIN-ACCESS-TOKEN-b24', 'PLAIN-REFRESH-TOKEN-b24', 'PLAIN-APP-TOKEN', 'PLAIN-XERO-ACCESS', 'PLAIN-XERO-REFRESH']) {
      assert.equal(bytes.includes(plain), false, `${plain} is stored in clear`);
    }
    assert.ok(bytes.includes('Demo Ltd'), 'the check reads the right file');
  });
});

describe('job outbox', () => {
  async function store() {
    const s = await openStore(tempDir(), SECRET);
    await s.portals.upsert({
      memberId: 'm', domain: 'd', clientEndpoint: 'c', serverEndpoint: 's', accessToken: null, refreshToken: null,
      expiresAt: null, applicationToken: null, scope: null, installedBy: null, state: 'installed',
    });
    return s;
  }

  it('when the same document is enqueued twice, then one job holds the latest payload', async () => {
    const s = await store();
    await s.jobs.enqueue({ memberId: 'm', kind: 'push-invoice', key: 'push-invoice:m:31:7', payload: { v: 1 } });
    const job = await s.jobs.enqueue({ memberId: 'm', kind: 'push-invoice', key: 'push-invoice:m:31:7', payload: { v: 2 } });
    assert.deepEqual(job.payload, { v: 2 });
    assert.equal(job.revision, 2);
    assert.equal((await s.jobs.countByState()).pending, 1);
  });

  it('when a document changes while its job runs, then the job runs again after completing', async () => {
    const s = await store();
    await s.jobs.enqueue({ memberId: 'm', kind: 'push-invoice', key: 'k', payload: { v: 1 } }, 1000);
    const [running] = await s.jobs.claimDue(10, undefined, 1000);
    await s.jobs.enqueue({ memberId: 'm', kind: 'push-invoice', key: 'k', payload: { v: 2 } }, 1001);
    await s.jobs.complete(running, 1002);
    assert.equal((await s.jobs.get(running.id))!.state, 'pending');
    const [again] = await s.jobs.claimDue(10, undefined, 1003);
    await s.jobs.complete(again, 1004);
    assert.equal((await s.jobs.get(running.id))!.state, 'done');
  });

  it('when a job needs attention and its document changes, then it is woken with fresh attempts', async () => {
    const s = await store();
    await s.jobs.enqueue({ memberId: 'm', kind: 'push-invoice', key: 'k', payload: {} }, 1000);
    const [j] = await s.jobs.claimDue(1, undefined, 1000);
    await s.jobs.needsAttention(j.id, { code: 'SYNC.MISSING_ACCOUNT_CODE', message: 'no GL code' });
    const woken = await s.jobs.enqueue({ memberId: 'm', kind: 'push-invoice', key: 'k', payload: { fixed: true } }, 2000);
    assert.equal(woken.state, 'pending');
    assert.equal(woken.attempts, 0);
  });

  it('when a job needing attention is retried and meets the same cause again, then it keeps the time it first stood for it; a new cause starts anew', async () => {
    const s = await store();
    await s.jobs.enqueue({ memberId: 'm', kind: 'push-invoice', key: 'k', payload: {} }, 1000);
    const [j] = await s.jobs.claimDue(1, undefined, 1000);
    await s.jobs.needsAttention(j.id, { code: 'SYNC.MISSING_ACCOUNT_CODE', message: 'no GL code' }, 1500);
    for (const at of [5000, 9000]) {
      await s.jobs.retryNow({ errorCode: 'SYNC.MISSING_ACCOUNT_CODE' }, at);
      const [again] = await s.jobs.claimDue(1, undefined, at);
      await s.jobs.needsAttention(again.id, { code: 'SYNC.MISSING_ACCOUNT_CODE', message: 'still no GL code' }, at + 10);
    }
    assert.equal((await s.jobs.get(j.id))!.attentionSince, 1500);
    await s.jobs.retryNow({ ids: [j.id] }, 12_000);
    const [third] = await s.jobs.claimDue(1, undefined, 12_000);
    await s.jobs.needsAttention(third.id, { code: 'SYNC.CUSTOMER_NOT_FOUND', message: 'no customer' }, 12_010);
    assert.equal((await s.jobs.get(j.id))!.attentionSince, 12_010);
  });

  it('when the process stops with running jobs, then they are returned to the queue', async () => {
    const s = await store();
    await s.jobs.enqueue({ memberId: 'm', kind: 'push-invoice', key: 'a', payload: {} }, 1000);
    await s.jobs.claimDue(1, undefined, 1000);
    assert.equal((await s.jobs.countByState()).running, 1);
    assert.equal((await s.jobs.releaseRunning()), 1);
    assert.equal((await s.jobs.countByState()).pending, 1);
  });

  it('when jobs are paused for a reconnect, then resuming puts them back in the queue', async () => {
    const s = await store();
    await s.jobs.enqueue({ memberId: 'm', kind: 'push-invoice', key: 'a', payload: {} });
    await s.jobs.enqueue({ memberId: 'm', kind: 'push-invoice', key: 'b', payload: {} });
    assert.equal((await s.jobs.pause('m', ['push-invoice'], 'Xero needs reconnecting')), 2);
    assert.equal((await s.jobs.claimDue(10)).length, 0);
    assert.equal((await s.jobs.resume('m')), 2);
    assert.equal((await s.jobs.claimDue(10)).length, 2);
  });
});

describe('Xero limits as last known', () => {
  it('when two processes saved what they knew of a connection, then the next start gets every call either counted, the longest pause and Xero\'s latest word on the day', async () => {
    const s = await testStore('m');
    const c = await s.connections.upsert({ memberId: 'm', tenantId: 't', tenantName: null, tenantType: 'ORGANISATION', xeroConnectionId: null, grantType: 'authorization_code', accessToken: null, refreshToken: null, expiresAt: null, scope: null });
    const now = 10_000_000_000;
    await s.xeroLimits.save(c.id, { minuteCalls: [now - 3000, now - 1000], pausedUntil: 0, minuteRemaining: 40, dayRemaining: 4000, dayReadAt: now - 1000, daySpentUntil: 0 }, 'connector', now - 1000);
    await s.xeroLimits.save(c.id, { minuteCalls: [now - 2000], pausedUntil: now + 5000, minuteRemaining: 37, dayRemaining: 3990, dayReadAt: now - 500, daySpentUntil: 0 }, 'import', now - 500);
    assert.deepEqual((await s.xeroLimits.load(c.id, now)), { minuteCalls: [now - 3000, now - 2000, now - 1000], pausedUntil: now + 5000, minuteRemaining: 37, dayRemaining: 3990, dayReadAt: now - 500, daySpentUntil: 0 });
    // A day later, a save drops what is that old.
    await s.xeroLimits.save(c.id, { minuteCalls: [], pausedUntil: 0, minuteRemaining: null, dayRemaining: null, dayReadAt: null, daySpentUntil: 0 }, 'connector', now + 86_400_000);
    assert.equal((await s.db.get<{ n: number }>('SELECT count(*) AS n FROM xero_limits'))!.n, 1);
  });
});

describe("the portal's connection", () => {
  const tenant = (tenantId: string) => ({ memberId: 'm', tenantId, tenantName: tenantId, tenantType: 'ORGANISATION', xeroConnectionId: null, grantType: 'authorization_code' as const, accessToken: 'a', refreshToken: 'r', expiresAt: null, scope: null });

  it('when a portal disconnected one organisation and connected another that now needs a reconnect, then its connection is the newer one, needing a reconnect', async () => {
    const s = await testStore('m');
    assert.equal((await s.connections.current('m')), undefined, 'none before the first connect');
    const first = await s.connections.upsert(tenant('t-1'));
    assert.equal((await s.connections.current('m'))!.id, first.id);
    await s.connections.forget(first.id);
    const second = await s.connections.upsert(tenant('t-2'));
    await s.connections.setState(second.id, 'needs_reconnect', 'refresh token expired');
    const current = (await s.connections.current('m'))!;
    assert.equal(current.id, second.id);
    assert.equal(current.state, 'needs_reconnect');
    assert.equal((await s.connections.current('other')), undefined, "another portal's connection is not this one's");
  });

  it('when every connection of the portal is disconnected, then the portal has none', async () => {
    const s = await testStore('m');
    for (const id of ['t-1', 't-2']) await s.connections.forget((await s.connections.upsert(tenant(id))).id);
    assert.equal((await s.connections.current('m')), undefined);
  });
});

describe('rows read back', () => {
  it('when a portal, a connection, a link, a job and an activity are saved, then each reads back with every field of its type, converted, and nothing else', async () => {
    const s = await testStore('m');
    const portal = (await s.portals.get('m'))!;
    assert.deepEqual(Object.keys(portal).sort(), ['accessToken', 'applicationToken', 'b24ClockOffsetMs', 'b24InstalledAt', 'clientEndpoint', 'domain', 'expiresAt', 'installedAt', 'installedBy', 'memberId', 'purgeAt', 'refreshToken', 'relocationAllowed', 'scope', 'serverEndpoint', 'state', 'updatedAt']);
    assert.equal(portal.relocationAllowed, false);
    const c = await s.connections.upsert({ memberId: 'm', tenantId: 't', tenantName: 'Demo', tenantType: 'ORGANISATION', xeroConnectionId: 'x', grantType: 'authorization_code', accessToken: 'AT', refreshToken: 'RT', expiresAt: 5, scope: 's' });
    assert.deepEqual({ ...c, createdAt: 0, updatedAt: 0 }, { id: c.id, memberId: 'm', tenantId: 't', tenantName: 'Demo', tenantType: 'ORGANISATION', xeroConnectionId: 'x', grantType: 'authorization_code', accessToken: 'AT', refreshToken: 'RT', expiresAt: 5, scope: 's', state: 'active', stateReason: null, createdAt: 0, updatedAt: 0 });
    const link = await s.links.save({ memberId: 'm', connectionId: c.id, b24Type: 'smart_invoice', b24Id: '7', xeroType: 'invoice', xeroId: 'X-1', xeroNumber: 'INV-1', contentHash: 'h', xeroStatus: 'DRAFT', xeroUpdatedAt: null, b24StageId: 'DT31_2:N' });
    await s.links.setNote(link.id, 'a note the link type does not carry');
    assert.deepEqual({ ...(await s.links.find('m', 'smart_invoice', '7'))!, lastSyncedAt: 0 }, { id: link.id, memberId: 'm', connectionId: c.id, b24Type: 'smart_invoice', b24Id: '7', xeroType: 'invoice', xeroId: 'X-1', xeroNumber: 'INV-1', contentHash: 'h', xeroStatus: 'DRAFT', xeroUpdatedAt: null, lastSyncedAt: 0, b24StageId: 'DT31_2:N' });
    assert.deepEqual((await s.links.pulledByXero(c.id, 'invoice', ['X-1'])), [{ id: link.id, memberId: 'm', connectionId: c.id, b24Type: 'smart_invoice', b24Id: '7', xeroType: 'invoice', xeroId: 'X-1', xeroNumber: 'INV-1', xeroStatus: 'DRAFT', amountPaid: null, syncStageId: null, paidTriggerAt: null }]);
    const job = await s.jobs.enqueue({ memberId: 'm', kind: 'push-invoice', key: 'k:1', payload: { id: '7' } });
    assert.equal(job.key, 'k:1');
    assert.deepEqual(job.payload, { id: '7' });
    assert.equal(Object.keys(job).includes('jobKey'), false);
    await s.activity.record({ memberId: 'm', level: 'info', kind: 'invoice.created', message: 'made', details: { total: '1.00' } });
    const [a] = await s.activity.list({ memberId: 'm' });
    assert.deepEqual({ ...a!, id: 0, createdAt: 0 }, { id: 0, memberId: 'm', level: 'info', kind: 'invoice.created', subject: null, message: 'made', details: { total: '1.00' }, createdAt: 0 });
  });
});
