import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openStore } from '../../app/store/index.js';
import { startConnector } from '../helpers/connector.js';
import { TEST_SECRET } from '../helpers/store.js';
import { tempDir } from '../helpers/tmp.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `npm run backup|restore -- FILE` as the operator would (the built script), with DATA_DIR and APP_SECRET. */
async function run(script: 'backup' | 'restore', file: string, env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  const child = spawn(process.execPath, ['scripts/start.mjs', script, '--', file], {
    cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const [code] = (await once(child, 'exit')) as [number];
  return { code, out, err };
}

const count = async (dataDir: string, subject: string) => {
  const store = await openStore(dataDir, TEST_SECRET);
  try {
    return (await store.activity.list({ limit: 100_000 })).filter((a) => a.subject === subject).length;
  } finally {
    await store.close();
  }
};

describe('backup and restore', () => {
  it('when a backup is taken while the connector writes, then restoring it brings back exactly what was stored before it', async () => {
    const dataDir = tempDir();
    const backup = path.join(tempDir(), 'connector-backup.db');
    const c = await startConnector({ dataDir });
    await c.store.portals.upsert({
      memberId: 'm1', domain: 'crm.example.com', clientEndpoint: 'https://crm.example.com/rest/', serverEndpoint: 'https://oauth.bitrix.info/rest/',
      accessToken: 'secret-access', refreshToken: 'secret-refresh', expiresAt: 0, applicationToken: 'app', scope: 'crm', installedBy: 1, state: 'installed',
    });
    for (let i = 0; i < 2000; i++) await c.store.activity.record({ memberId: 'm1', level: 'info', kind: 'test', subject: 'before', message: `row ${i} ${'x'.repeat(200)}` });
    // A writer keeps going while the backup runs.
    let during = 0;
    const writer = setInterval(async () => { await c.store.activity.record({ memberId: 'm1', level: 'info', kind: 'test', subject: 'during', message: 'w' }); during += 1; }, 2);
    const env = { DATA_DIR: dataDir, APP_SECRET: TEST_SECRET };
    let b: Awaited<ReturnType<typeof run>>;
    try {
      b = await run('backup', backup, env);
    } finally {
      clearInterval(writer);
    }
    assert.equal(b.code, 0, b.err);
    const report = JSON.parse(b.out) as { bytes: number; schemaVersion: number };
    assert.ok(report.bytes > 0 && report.schemaVersion === (await c.store.schemaVersion()));
    assert.ok(during > 0, 'the connector wrote during the backup');
    await c.store.activity.record({ memberId: 'm1', level: 'info', kind: 'test', subject: 'after', message: 'after the backup' });
    await c.close();

    const r = await run('restore', backup, env);
    assert.equal(r.code, 0, r.err);
    assert.equal((await count(dataDir, 'before')), 2000);
    assert.equal((await count(dataDir, 'after')), 0, 'what came after the backup is not in it');
    const store = await openStore(dataDir, TEST_SECRET);
    try {
      assert.equal((await store.portals.get('m1'))?.refreshToken, 'secret-refresh', 'sealed tokens open with the same APP_SECRET');
    } finally {
      await store.close();
    }
    assert.ok(readdirSync(dataDir).some((f) => f.startsWith('connector.db.before-restore-')), 'the replaced database is kept');
  });

  it('when the backup was sealed with another APP_SECRET or is not a database, then restore refuses and changes nothing', async () => {
    const dataDir = tempDir();
    const c = await startConnector({ dataDir });
    await c.store.activity.record({ memberId: null, level: 'info', kind: 'test', subject: 'live', message: 'the live store' });
    const backup = path.join(tempDir(), 'b.db');
    assert.equal((await run('backup', backup, { DATA_DIR: dataDir, APP_SECRET: TEST_SECRET })).code, 0);
    await c.close();

    const wrong = await run('restore', backup, { DATA_DIR: dataDir, APP_SECRET: 'another-secret-0123456789-0123456789-xyz' });
    assert.equal(wrong.code, 1);
    assert.match(wrong.err, /sealed with another APP_SECRET/);
    const junk = path.join(tempDir(), 'junk.db');
    writeFileSync(junk, 'this is not sqlite');
    const bad = await run('restore', junk, { DATA_DIR: dataDir, APP_SECRET: TEST_SECRET });
    assert.equal(bad.code, 1);
    assert.match(bad.err, /not a readable SQLite database/);
    assert.equal((await count(dataDir, 'live')), 1);
    assert.ok(!readdirSync(dataDir).some((f) => f.includes('before-restore') || f.includes('restor')), 'nothing moved');
    assert.ok(existsSync(path.join(dataDir, 'connector.db')));
  });
});

describe('retention settings', () => {
  it('when JOB_RETENTION_DAYS and ACTIVITY_RETENTION_DAYS are set, then the daily retention deletes by those ages', async () => {
    const c = await startConnector({ env: { JOB_RETENTION_DAYS: '1', ACTIVITY_RETENTION_DAYS: '3' } });
    try {
      const day = 24 * 60 * 60_000;
      const now = Date.now();
      const job = await c.store.jobs.enqueue({ memberId: null, kind: 'test', key: 'test:1', payload: {} }, now - 2 * day);
      await c.store.db.run(`UPDATE jobs SET state = 'done', updated_at = ? WHERE id = ?`, [now - 2 * day, job.id]);
      await c.store.activity.record({ memberId: null, level: 'info', kind: 'test', subject: 'two days', message: 'kept' }, now - 2 * day);
      await c.store.activity.record({ memberId: null, level: 'info', kind: 'test', subject: 'four days', message: 'deleted' }, now - 4 * day);
      const removed = await c.services.intakeSchedule.housekeeping(now);
      assert.deepEqual({ jobs: removed.jobs, activity: removed.activity }, { jobs: 1, activity: 1 });
      assert.deepEqual((await c.store.activity.list({ limit: 10 })).map((a) => a.subject), ['two days']);
    } finally {
      await c.close();
    }
  });
});
