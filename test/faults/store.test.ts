// Fault campaign, database part: the store refuses writes — another process holds its write lock longer than the busy
// timeout, or the disk is full (SQLite's own limit, `PRAGMA max_page_count`, makes writes that need space fail with
// SQLITE_FULL) — while events arrive and the worker runs. The connector says so (log, /health, dashboard, metric),
// answers events (Bitrix24's and Xero's) 503 instead of pretending to have stored them, keeps jobs from being marked done without their
// writes, and once the database writes again drains Bitrix24's offline queue by itself: every document once in Xero.
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { after, before, describe, it } from 'node:test';
import { DB_FILE } from '../../app/store/db.js';
import { LOCKED_BUSY_TIMEOUT_MS } from '../../app/store/faults.js';
import { tempDir } from '../helpers/tmp.js';
import { startEnvironment, type Environment } from '../helpers/env.js';
import { assertExactlyOnce, assertNothingStuck, createMix, waitFor, type MixDoc } from './mix.js';
import type { SqliteDb } from '../../app/store/sqlite-driver.js';

async function health(env: Environment): Promise<{ status: number; body: { store: { ok: boolean; fault?: { code: string; message: string } } } }> {
  const res = await fetch(`${env.c.url}/health`);
  return { status: res.status, body: (await res.json()) as never };
}

async function metric(env: Environment, line: string): Promise<boolean> {
  return (await (await fetch(`${env.c.url}/metrics`)).text()).split('\n').includes(line);
}

/** The dashboard as the admin opens it in the portal (the sync panel shows the store's state). */
async function dashboard(env: Environment): Promise<string> {
  const res = await fetch(`${env.c.url}/app`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(env.b24.frameAuth(1)) });
  return res.text();
}

/** Answers the connector gave to the events about `docs` (by document id), from Bitrix24's delivery log. */
function answers(env: Environment, docs: MixDoc[], since: number): number[] {
  const ids = new Set(docs.map((d) => d.b24Id));
  return env.b24.deliveryLog.slice(since)
    .filter((d) => /^ONCRM(DYNAMICITEM|INVOICE)/.test(d.event) && ids.has(String((d.body.data as { FIELDS?: { ID?: unknown } })?.FIELDS?.ID)))
    .map((d) => d.status);
}

async function linked(env: Environment, docs: MixDoc[]): Promise<boolean> {
  for (const d of docs) if (!(await env.c.store.links.find(env.memberId, d.b24Type, d.b24Id))) return false;
  return true;
}

/** The file's lock and its disk are SQLite's: under TEST_STORE=postgres these campaigns have nothing to act on. */
const SQLITE_ONLY = process.env.TEST_STORE === 'postgres' ? 'the SQLite file\'s lock and disk (TEST_STORE=postgres)' : false;

describe('fault campaign: the database is locked by another process', { skip: SQLITE_ONLY }, () => {
  let env: Environment;
  const dataDir = tempDir();
  before(async () => {
    env = await startEnvironment({ dataDir, xeroLimits: { backoffMs: 5 } });
    // The first write that meets the lock waits this long (production: 5 s); later ones wait 100 ms while it lasts.
    (env.c.store.db as SqliteDb).raw.pragma('busy_timeout = 300');
    env.c.services.outbox.start();
  });
  after(async () => env.close());

  it('when another connection holds the write lock while pushes run and events arrive, then events get 503, the fault is shown, no job is lost or done without its write, and all goes through once the lock goes', async () => {
    env.xero.setFaults({ latencyMs: 150 });
    const first = createMix(env.b24, 'DL1', { smart: 6, customers: 2 });
    const mark = env.xero.requestLog.length;
    await env.b24.flushEvents();
    // Another process takes the write lock while the worker's first Xero request is out.
    await waitFor('a push in flight', () => env.xero.requestLog.slice(mark).some((r) => /^(PUT|POST) \/(Invoices|Contacts)/.test(r.endpoint)), 30_000, 1);
    const holder = new Database(path.join(dataDir, DB_FILE), { timeout: 5000 });
    holder.exec('BEGIN IMMEDIATE');
    try {
      const since = env.b24.deliveryLog.length;
      const second = createMix(env.b24, 'DL2', { smart: 4, customers: 1 });
      await env.b24.flushEvents();
      assert.deepEqual([...new Set(answers(env, second, since))], [503], 'events that could not be stored are refused');
      // Xero's webhooks too: a refused delivery is one Xero sends again.
      env.xero.configureWebhook({ url: `${env.c.url}/xero/webhooks` });
      const contact = env.xero.seedContact(env.tenantId, { Name: 'Webhook Subject Ltd' });
      env.xero.updateContact(env.tenantId, String(contact.ContactID), { Website: 'https://example.org' });
      await env.xero.flushWebhooks();
      assert.equal(env.xero.webhookDeliveries.at(-1)?.status, 503, 'a Xero webhook that could not be stored is refused');
      const h = await health(env);
      assert.equal(h.status, 503);
      assert.equal(h.body.store.fault?.code, 'STORE.LOCKED');
      assert.equal((env.c.store.db as SqliteDb).raw.pragma('busy_timeout', { simple: true }), LOCKED_BUSY_TIMEOUT_MS, 'while locked, writers wait briefly');
      assert.ok(await metric(env, 'connector_store_fault{code="STORE.LOCKED"} 1'), 'the metric shows the fault');
      assert.ok(env.c.logLines.some((l) => l.includes('store cannot write') && l.includes('STORE.LOCKED')), 'the log says so');
      assert.match(await dashboard(env), /id="store-fault"[^]*Locked[^]*another process holds the database/, 'the dashboard says so');
      // Nothing the worker did while locked was written as done (a look at the queue waits for the groups in flight).
      await env.c.services.outbox.drain();
      const states = holder.prepare(`SELECT state, count(*) AS n FROM jobs WHERE job_key LIKE 'push:%' GROUP BY state`).all() as Array<{ state: string; n: number }>;
      assert.ok(!states.some((s) => s.state === 'done'), `no push marked done during the lock: ${JSON.stringify(states)}`);
      assert.ok(env.b24.offlineQueue().length >= second.length, 'Bitrix24 keeps the refused events in its offline queue');
      holder.exec('ROLLBACK');
      holder.close();
      env.xero.setFaults({});
      // By itself: the worker's next look finds the store writable, writes what it kept, drains the offline queue.
      await waitFor('every document in Xero', () => linked(env, [...first, ...second]), 60_000, 50);
      await waitFor('an idle queue', async () => (await env.c.store.jobs.countByState()).pending + (await env.c.store.jobs.countByState()).running === 0, 30_000, 50);
      await assertExactlyOnce(env.xero, env.tenantId, env.c.store, env.memberId, [...first, ...second]);
      await assertNothingStuck(env.c.store);
      assert.equal((await health(env)).status, 200, '/health is fine again');
      assert.ok(env.c.logLines.some((l) => l.includes('store writes again')), 'the recovery is logged');
      assert.equal((env.c.store.db as SqliteDb).raw.pragma('busy_timeout', { simple: true }), 300, 'writers wait the full busy timeout again');
    } finally {
      if (holder.open) holder.close();
    }
  });
});

describe('fault campaign: the disk is full', { skip: SQLITE_ONLY }, () => {
  let env: Environment;
  before(async () => {
    env = await startEnvironment({ xeroLimits: { backoffMs: 5 } });
    env.c.services.outbox.start();
  });
  after(async () => env.close());

  it('when writes fail with SQLITE_FULL while events arrive, then the events that could not be stored get 503, /health, the dashboard and the metric say "disk full", no new work starts, and it all goes through once space returns', async () => {
    const db = (env.c.store.db as SqliteDb).raw;
    const base = createMix(env.b24, 'DF0', { smart: 3, customers: 1 });
    await waitFor('the first documents in Xero', async () => { await env.b24.flushEvents(); return linked(env, base); }, 30_000, 50);
    // The disk fills up: the database may not grow beyond its size now, and what is free inside it is used up.
    db.pragma('max_page_count = 1');
    for (const size of [4000, 500, 50]) {
      for (let i = 0; ; i++) {
        try { db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run(`filler-${size}-${i}`, 'f'.repeat(size)); } catch (err) {
          assert.equal((err as { code?: string }).code, 'SQLITE_FULL');
          break;
        }
      }
    }
    const docs: MixDoc[] = [];
    const since = env.b24.deliveryLog.length;
    // Events keep coming until one cannot be stored (the last free bytes of a page may still take a few).
    for (let round = 0; round < 40 && !answers(env, docs, since).includes(503); round++) {
      docs.push(...createMix(env.b24, `DF${round + 1}`, { smart: 2, customers: 1 }));
      await env.b24.flushEvents();
    }
    const got = answers(env, docs, since);
    assert.ok(got.includes(503), `an event was refused (${got.join(',')})`);
    assert.ok(got.every((s) => s === 200 || s === 503), `answers: ${got.join(',')}`);
    // Whatever was answered 200 is in the outbox (or already in Xero): nothing acknowledged was dropped.
    for (const d of docs) {
      const ok = answers(env, [d], since).includes(200);
      if (ok) assert.ok(await env.c.store.jobs.findLive(`push:${env.memberId}:${d.b24Type}:${d.b24Id}`) || await env.c.store.links.find(env.memberId, d.b24Type, d.b24Id), `${d.number} was acknowledged but not kept`);
    }
    const h = await health(env);
    assert.equal(h.status, 503);
    assert.equal(h.body.store.fault?.code, 'STORE.DISK_FULL');
    assert.match(h.body.store.fault!.message, /disk .* is full/);
    assert.ok(await metric(env, 'connector_store_fault{code="STORE.DISK_FULL"} 1'));
    assert.match(await dashboard(env), /id="store-fault"[^]*Disk full/);
    // No new work: a look at the queue (after the groups in flight end) claims nothing while the disk is full.
    await env.c.services.outbox.drain();
    const xeroCalls = env.xero.requestLog.length;
    const claimed = (await env.c.store.jobs.countByState()).running;
    await env.c.services.outbox.drain();
    assert.equal(env.xero.requestLog.length, xeroCalls, 'no Xero call while the disk is full');
    assert.equal((await env.c.store.jobs.countByState()).running, claimed, 'no job claimed while the disk is full');
    // Space returns.
    db.pragma('max_page_count = 1073741823');
    db.prepare(`DELETE FROM meta WHERE key LIKE 'filler-%'`).run();
    await waitFor('every document in Xero', () => linked(env, [...base, ...docs]), 60_000, 50);
    await waitFor('an idle queue', async () => (await env.c.store.jobs.countByState()).pending + (await env.c.store.jobs.countByState()).running === 0, 30_000, 50);
    await assertExactlyOnce(env.xero, env.tenantId, env.c.store, env.memberId, [...base, ...docs]);
    await assertNothingStuck(env.c.store);
    assert.equal((await health(env)).status, 200);
    assert.ok(await metric(env, 'connector_store_fault{code="STORE.DISK_FULL"} 0'));
  });
});
