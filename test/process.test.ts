import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, it } from 'node:test';
import { DB_FILE } from '../app/store/db.js';
import { openStore } from '../app/store/index.js';
import { runFailingStart, spawnConnector } from './helpers/process.js';
import { tempDir } from './helpers/tmp.js';

describe('connector process', () => {
  it('when started on an empty data folder, then /health answers and SIGTERM stops it cleanly', async () => {
    const dir = tempDir();
    const running = await spawnConnector({ DATA_DIR: dir });
    const res = await fetch(`${running.url}/health`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { status: string }).status, 'ok');
    running.child.kill('SIGTERM');
    assert.equal(await running.exited, 0);
    assert.ok(running.output.some((l) => l.includes('shutdown complete')));
    // A cleanly closed WAL database leaves no -wal file behind.
    assert.equal(existsSync(path.join(dir, `${DB_FILE}-wal`)), false);
  });

  it('when stopped while jobs are running, then they are back in the queue afterwards', async () => {
    const dir = tempDir();
    const running = await spawnConnector({ DATA_DIR: dir, APP_SECRET: 's'.repeat(40) });
    // Another connection marks a job as running, as a worker in the process would.
    const side = await openStore(dir, 's'.repeat(40));
    await side.jobs.enqueue({ memberId: null, kind: 'demo', key: 'demo:1', payload: {} });
    await side.jobs.claimDue(1);
    await side.close();
    running.child.kill('SIGINT');
    assert.equal(await running.exited, 0);
    const after = await openStore(dir, 's'.repeat(40));
    assert.deepEqual(
      (await after.jobs.list()).map((j) => j.state),
      ['pending'],
    );
    await after.close();
  });

  it('when a variable is invalid, then the process exits 1 naming it', async () => {
    const { code, output } = await runFailingStart({ DATA_DIR: tempDir(), POLL_INTERVAL_SECONDS: '5' });
    assert.equal(code, 1);
    assert.match(output, /cannot start/);
    assert.match(output, /POLL_INTERVAL_SECONDS must be at least 30/);
  });

  it('when DATA_DIR cannot be used, then the process exits 1 naming the folder', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'file');
    writeFileSync(file, '');
    const { code, output } = await runFailingStart({ DATA_DIR: file });
    assert.equal(code, 1);
    assert.match(output, /DATA_DIR .*file cannot be used/);
  });

  it('when the database is corrupt, then the process exits 1 with how to recover', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, DB_FILE), 'garbage'.repeat(1000));
    const { code, output } = await runFailingStart({ DATA_DIR: dir });
    assert.equal(code, 1);
    assert.match(output, /not a readable SQLite database/);
  });

  it('when another process holds the database\'s write lock at start, then the process exits 1 saying the database is locked and what to do', async () => {
    const dir = tempDir();
    await (await openStore(dir, 's'.repeat(40))).close();
    const holder = new Database(path.join(dir, DB_FILE));
    holder.exec('BEGIN IMMEDIATE');
    try {
      const { code, output } = await runFailingStart({ DATA_DIR: dir, APP_SECRET: 's'.repeat(40) });
      assert.equal(code, 1);
      assert.match(output, /cannot start[^]*database is locked by another process[^]*Stop it and start the connector again/);
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
  });
});
