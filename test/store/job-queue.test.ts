// The job queue's contract (app/store/job-queue.ts), the same cases against the embedded queue (SQLite, over
// JobRepository) and the PostgreSQL queue (pg-boss 10). Times are passed as `now` on the connector's clock, as the
// outbox does; only the lease cases wait for real time, since leases are timed by the database's clock
// (docs/reference/pg-boss.md#clocks).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import pg from 'pg';
import type { Job, JobQueue } from '../../app/store/job-queue.js';
import { PgBossJobQueue, type PgBossJobQueueOptions } from '../../app/store/pgboss-job-queue.js';
import { SqliteJobQueue } from '../../app/store/sqlite-job-queue.js';
import { testStore } from '../helpers/store.js';

const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };

/**
 * A fresh PostgreSQL database for this file (dropped at its end), or undefined with a notice when no server answers
 * — except under CI=true, where a missing server fails. (Local until test/helpers/postgres.ts lands; same behaviour.)
 */
async function postgresTestDatabase(): Promise<string | undefined> {
  const admin = new pg.Client({ ...PG, database: 'postgres', connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (err) {
    if (process.env.CI === 'true') throw new Error(`PostgreSQL is required under CI=true and did not answer at ${PG.host}:${PG.port}: ${String(err)}`);
    console.log(`# PostgreSQL not reachable at ${PG.host}:${PG.port} (${String(err)}): its job queue cases are skipped. Start one (trust auth, user postgres) to run them.`);
    return undefined;
  }
  const name = `t_${randomBytes(6).toString('hex')}`;
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  after(async () => {
    const c = new pg.Client({ ...PG, database: 'postgres', connectionTimeoutMillis: 3000 });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.end();
  });
  return `postgres://${PG.user}@${PG.host}:${PG.port}/${name}`;
}

interface Backend {
  name: string;
  skip: string | false;
  /** The test's queue, on empty tables. */
  fresh(): Promise<JobQueue>;
  /** Another claimer on the same jobs (on PostgreSQL, another instance). */
  another(): Promise<JobQueue>;
  /** What follows the death of the claimer `dead` until `survivor` may claim its jobs at `now` (embedded: the restart's release). */
  afterDeath(dead: JobQueue, survivor: JobQueue, now: number): Promise<void>;
}

const LEASE_SECONDS = 1;

function sqliteBackend(): Backend {
  let store: Awaited<ReturnType<typeof testStore>> | undefined;
  return {
    name: 'SQLite (embedded)',
    skip: false,
    async fresh() {
      await store?.close();
      store = await testStore('a', 'b');
      return new SqliteJobQueue(store.jobs);
    },
    // One process owns an embedded store: its claimers share the repository.
    another: async () => new SqliteJobQueue(store!.jobs),
    // The embedded store's claimer dies with its process; the next start releases its runs.
    afterDeath: async (_dead, survivor, now) => void (await survivor.releaseRunning(now)),
  };
}

/** Empties the queue's tables (ours and pg-boss's) between cases. */
async function truncate(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  await c.connect();
  try {
    await c.query('TRUNCATE outbox_jobs RESTART IDENTITY; TRUNCATE pgboss.job');
  } finally {
    await c.end();
  }
}

const pgUrl = await postgresTestDatabase();

function postgresBackend(url: string | undefined): Backend {
  const opened: PgBossJobQueue[] = [];
  const open = async (o: Partial<PgBossJobQueueOptions> = {}) => {
    const q = await PgBossJobQueue.open({ connectionString: url!, leaseSeconds: LEASE_SECONDS, maxConnections: 3, ...o });
    opened.push(q);
    return q;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((q) => q.close()));
  });
  return {
    name: 'PostgreSQL (pg-boss 10)',
    skip: url ? false : 'PostgreSQL is not reachable',
    async fresh() {
      const q = await open();
      await truncate(url!);
      return q;
    },
    another: () => open(),
    // A dead instance renews no lease: once it has run out, another instance's claim takes the job over.
    afterDeath: async (dead) => {
      await dead.close();
      await new Promise((r) => setTimeout(r, LEASE_SECONDS * 1000 + 300));
    },
  };
}

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
const ids = (jobs: Job[]) => jobs.map((j) => j.id);
const attention = (code: string) => ({ code, message: `stopped: ${code}` });

for (const backend of [sqliteBackend(), postgresBackend(pgUrl)]) {
  describe(`job queue contract: ${backend.name}`, { skip: backend.skip }, () => {
    let q: JobQueue;
    beforeEach(async () => {
      q = await backend.fresh();
    });

    /** Enqueues, claims and returns the running job of `key`. */
    async function running(key: string, memberId: string | null = 'a', kind = 'x'): Promise<Job> {
      await q.enqueue({ memberId, kind, key, payload: { key } }, T0);
      const [job] = await q.claimDue(1, [kind], T0, memberId);
      assert.equal(job?.key, key);
      return job!;
    }

    it('when a live key is enqueued again, then the live job takes the new payload and revision, keeps sticky fields and the earlier run-at', async () => {
      const first = await q.enqueue({ memberId: 'a', kind: 'x', key: 'x:1', payload: { v: 1, cause: 'created' }, runAt: T0 + 10_000 }, T0);
      const second = await q.enqueue({ memberId: 'a', kind: 'x', key: 'x:1', payload: { v: 2 }, runAt: T0 + 5_000, sticky: ['cause'] }, T0 + 1);
      const third = await q.enqueue({ memberId: 'a', kind: 'x', key: 'x:1', payload: { v: 3 }, runAt: T0 + 20_000 }, T0 + 2);
      assert.equal(second.id, first.id);
      assert.deepEqual(second.payload, { v: 2, cause: 'created' });
      assert.equal(second.runAt, T0 + 5_000);
      assert.equal(third.id, first.id);
      assert.equal(third.revision, 3);
      assert.equal(third.runAt, T0 + 5_000);
      assert.equal((await q.findLive('x:1'))?.id, first.id);
      assert.equal((await q.countByState()).pending, 1);
    });

    it('when a running job is enqueued again, then its run completes back to pending with the new payload, and only the next run makes it done', async () => {
      const run1 = await running('x:1');
      const during = await q.enqueue({ memberId: 'a', kind: 'x', key: 'x:1', payload: { v: 'newer' } }, T0 + 1);
      assert.equal(during.state, 'running');
      assert.equal(during.revision, 2);
      await q.complete(run1, T0 + 2);
      const back = await q.get(run1.id);
      assert.equal(back?.state, 'pending');
      assert.equal(back?.attempts, 0);
      const [run2] = await q.claimDue(5, ['x'], T0 + 3);
      assert.deepEqual(run2?.payload, { v: 'newer' });
      await q.complete(run2!, T0 + 4);
      assert.equal((await q.get(run1.id))?.state, 'done');
      assert.equal(await q.findLive('x:1'), undefined);
      const again = await q.enqueue({ memberId: 'a', kind: 'x', key: 'x:1', payload: {} }, T0 + 5);
      assert.notEqual(again.id, run1.id);
    });

    it('when a job that needs attention is enqueued again, then it is woken: pending, attempts 0, due at the new run-at', async () => {
      const job = await running('x:1');
      await q.needsAttention(job.id, attention('XERO.VALIDATION'), T0 + 1);
      const woken = await q.enqueue({ memberId: 'a', kind: 'x', key: 'x:1', payload: { fixed: true }, runAt: T0 + 50 }, T0 + 2);
      assert.equal(woken.id, job.id);
      assert.equal(woken.state, 'pending');
      assert.equal(woken.attempts, 0);
      assert.equal(woken.runAt, T0 + 50);
      assert.deepEqual(ids(await q.claimDue(5, ['x'], T0 + 50)), [job.id]);
    });

    it('when jobs are due later, of other kinds or of other portals, then a claim takes only the due ones it asks for', async () => {
      const later = await q.enqueue({ memberId: 'a', kind: 'x', key: 'x:later', payload: {}, runAt: T0 + 60_000 }, T0);
      const ax = await q.enqueue({ memberId: 'a', kind: 'x', key: 'x:a', payload: {} }, T0);
      const bx = await q.enqueue({ memberId: 'b', kind: 'x', key: 'x:b', payload: {} }, T0);
      const nx = await q.enqueue({ memberId: null, kind: 'x', key: 'x:none', payload: {} }, T0);
      const ay = await q.enqueue({ memberId: 'a', kind: 'y', key: 'y:a', payload: {} }, T0);
      assert.deepEqual((await q.dueSummary(['x'], T0)).count, 3);
      assert.deepEqual(ids(await q.claimDue(50, ['x'], T0, 'a')), [ax.id]);
      assert.deepEqual(ids(await q.claimDue(50, ['x'], T0, null)), [nx.id]);
      assert.deepEqual(ids(await q.claimDue(50, ['y'], T0)), [ay.id]);
      assert.deepEqual(ids(await q.claimDue(50, ['x'], T0)), [bx.id]);
      assert.deepEqual(await q.claimDue(50, undefined, T0 + 59_999), []);
      assert.equal(await q.nextRunAt(), T0 + 60_000);
      assert.deepEqual(ids(await q.claimDue(50, undefined, T0 + 60_000)), [later.id]);
    });

    it('when more jobs are due than asked for, then a claim takes the oldest run-at first, never more than 50', async () => {
      for (let i = 0; i < 60; i++) await q.enqueue({ memberId: 'a', kind: 'x', key: `x:${i}`, payload: {}, runAt: T0 - i * 1000 }, T0);
      const five = await q.claimDue(5, ['x'], T0);
      assert.deepEqual(five.map((j) => j.key), ['x:59', 'x:58', 'x:57', 'x:56', 'x:55']);
      assert.ok(five.every((j) => j.state === 'running' && j.attempts === 1 && j.lockedAt === T0));
      const rest = await q.claimDue(500, ['x'], T0);
      assert.equal(rest.length, 50);
      assert.equal((await q.claimDue(500, ['x'], T0)).length, 5);
    });

    it('when likely echoes are due, then freshFirst claims them after the others and freshOnly leaves them', async () => {
      const echo = await q.enqueue({ memberId: 'a', kind: 'x', key: 'x:echo', payload: { likelyEcho: true }, runAt: T0 - 5000 }, T0);
      const fresh = await q.enqueue({ memberId: 'a', kind: 'x', key: 'x:fresh', payload: {} }, T0);
      assert.equal((await q.dueSummary(['x'], T0, 'a', { freshOnly: true })).count, 1);
      assert.deepEqual(ids(await q.claimDue(5, ['x'], T0, 'a', { freshOnly: true })), [fresh.id]);
      await q.releaseRunning(T0);
      assert.deepEqual(ids(await q.claimDue(5, ['x'], T0, 'a', { freshFirst: true })), [fresh.id, echo.id]);
    });

    it('when a run is dropped, then its job is deleted, unless a newer revision came in while it ran', async () => {
      const a = await running('x:1');
      assert.equal(await q.drop(a, T0 + 1), true);
      assert.equal(await q.get(a.id), undefined);
      const b = await running('x:2');
      await q.enqueue({ memberId: 'a', kind: 'x', key: 'x:2', payload: { v: 2 } }, T0 + 1);
      assert.equal(await q.drop(b, T0 + 2), false);
      assert.equal((await q.get(b.id))?.state, 'pending');
    });

    it('when a run fails for now, then the job waits until its run-at with the reason as data; a wait does not count as an attempt', async () => {
      const job = await running('x:1');
      await q.retryLater(job.id, T0 + 30_000, { code: 'XERO.SERVER', message: 'Xero had a problem' }, T0 + 1);
      let row = await q.get(job.id);
      assert.equal(row?.state, 'pending');
      assert.equal(row?.lastErrorCode, 'XERO.SERVER');
      assert.equal(row?.lastError, 'Xero had a problem');
      assert.equal(row?.attempts, 1);
      assert.deepEqual(await q.claimDue(5, ['x'], T0 + 29_999), []);
      const [again] = await q.claimDue(5, ['x'], T0 + 30_000);
      assert.equal(again?.attempts, 2);
      await q.waitUntil(job.id, T0 + 90_000, { code: 'XERO.DAY_LIMIT', message: 'the day is spent' }, T0 + 30_001);
      row = await q.get(job.id);
      assert.equal(row?.attempts, 1);
      assert.equal(row?.runAt, T0 + 90_000);
      assert.equal(row?.lastErrorCode, 'XERO.DAY_LIMIT');
      assert.deepEqual(await q.claimDue(5, ['x'], T0 + 89_999), []);
      assert.equal((await q.claimDue(5, ['x'], T0 + 90_000)).length, 1);
    });

    it('when jobs need attention, then retryNow brings them back by ids, by error code and by portal, and the cause keeps its first time', async () => {
      const j1 = await running('x:1');
      const j2 = await running('x:2');
      const j3 = await running('x:3', 'b');
      await q.needsAttention(j1.id, attention('MAP.ACCOUNT'), T0 + 1);
      await q.needsAttention(j2.id, attention('MAP.TAX'), T0 + 1);
      await q.needsAttention(j3.id, attention('MAP.TAX'), T0 + 1);
      assert.equal((await q.countByState()).needs_attention, 3);
      assert.deepEqual(await q.claimDue(5, ['x'], T0 + 2), []);
      assert.equal(await q.retryNow({ ids: [j1.id] }, T0 + 2), 1);
      assert.equal(await q.retryNow({ errorCode: 'MAP.TAX', memberId: 'b' }, T0 + 2), 1);
      assert.equal(await q.retryNow({ memberId: 'a' }, T0 + 2), 1);
      assert.equal(await q.retryNow({ ids: [j1.id, j2.id, j3.id] }, T0 + 2), 0);
      const back = await q.claimDue(5, ['x'], T0 + 2);
      assert.deepEqual(new Set(ids(back)), new Set([j1.id, j2.id, j3.id]));
      assert.ok(back.every((j) => j.attempts === 1));
      await q.needsAttention(j1.id, attention('MAP.ACCOUNT'), T0 + 9);
      await q.needsAttention(j2.id, attention('MAP.OTHER'), T0 + 9);
      assert.equal((await q.get(j1.id))?.attentionSince, T0 + 1);
      assert.equal((await q.get(j2.id))?.attentionSince, T0 + 9);
    });

    it('when a portal is paused, then its pending and running jobs of those kinds stop with the reason, and resume makes them due now', async () => {
      const run = await running('x:run');
      const pend = await q.enqueue({ memberId: 'a', kind: 'x', key: 'x:pend', payload: {} }, T0);
      const other = await q.enqueue({ memberId: 'a', kind: 'y', key: 'y:1', payload: {} }, T0);
      const portalB = await q.enqueue({ memberId: 'b', kind: 'x', key: 'x:b', payload: {} }, T0);
      assert.equal(await q.pause('a', ['x'], 'Reconnect Xero', T0 + 1), 2);
      const paused = await q.get(pend.id);
      assert.equal(paused?.state, 'paused');
      assert.equal(paused?.lastError, 'Reconnect Xero');
      assert.equal(paused?.lastErrorCode, 'XERO.NEEDS_RECONNECT');
      await q.complete(run, T0 + 2);
      assert.equal((await q.get(run.id))?.state, 'paused');
      assert.deepEqual(new Set(ids(await q.claimDue(50, undefined, T0 + 2))), new Set([other.id, portalB.id]));
      await q.pauseOne(other.id, 'Reconnect Xero', T0 + 3);
      assert.equal(await q.resume('a', T0 + 4), 3);
      const resumed = await q.get(pend.id);
      assert.equal(resumed?.state, 'pending');
      assert.equal(resumed?.runAt, T0 + 4);
      assert.equal(resumed?.lastError, null);
      assert.deepEqual(new Set(ids(await q.claimDue(50, undefined, T0 + 4, 'a'))), new Set([run.id, pend.id, other.id]));
    });

    it('when running jobs are released, then they are pending and due again', async () => {
      const a = await running('x:1');
      const b = await running('x:2');
      assert.equal(await q.releaseRunning(T0 + 5), 2);
      assert.equal((await q.get(a.id))?.state, 'pending');
      assert.equal((await q.get(a.id))?.lockedAt, null);
      assert.deepEqual(new Set(ids(await q.claimDue(5, ['x'], T0 + 5))), new Set([a.id, b.id]));
    });

    it('when jobs that need attention are dismissed, then only that portal\'s are cancelled', async () => {
      const a = await running('x:1');
      const b = await running('x:2', 'b');
      const live = await q.enqueue({ memberId: 'a', kind: 'x', key: 'x:3', payload: {} }, T0);
      await q.needsAttention(a.id, attention('MAP.TAX'), T0 + 1);
      await q.needsAttention(b.id, attention('MAP.TAX'), T0 + 1);
      assert.equal(await q.dismiss([a.id, b.id, live.id], 'a', T0 + 2), 1);
      assert.equal((await q.get(a.id))?.state, 'cancelled');
      assert.equal((await q.get(b.id))?.state, 'needs_attention');
      assert.equal((await q.get(live.id))?.state, 'pending');
      assert.equal(await q.dismiss([], 'a'), 0);
      assert.equal(await q.findLive('x:1'), undefined);
    });

    it('when jobs are in every state, then the counts, the list and the finish times tell them', async () => {
      const done = await running('x:done');
      await q.complete(done, T0 + 10);
      const att = await running('x:att');
      await q.needsAttention(att.id, attention('MAP.TAX'), T0 + 11);
      await running('x:run', 'b');
      await q.enqueue({ memberId: 'a', kind: 'y', key: 'y:pend', payload: {} }, T0 + 12);
      const counts = await q.countByState();
      assert.deepEqual(counts, { pending: 1, running: 1, done: 1, needs_attention: 1, paused: 0, cancelled: 0 });
      assert.deepEqual(await q.countByState('b'), { pending: 0, running: 1, done: 0, needs_attention: 0, paused: 0, cancelled: 0 });
      const byKind = (await q.countByKindAndState()).sort((l, r) => `${l.kind}${l.state}`.localeCompare(`${r.kind}${r.state}`));
      assert.deepEqual(byKind, [
        { kind: 'x', state: 'done', count: 1 }, { kind: 'x', state: 'needs_attention', count: 1 },
        { kind: 'x', state: 'running', count: 1 }, { kind: 'y', state: 'pending', count: 1 },
      ]);
      const attentionList = await q.list({ memberId: 'a', states: ['needs_attention'] });
      assert.deepEqual(attentionList.map((j) => [j.key, j.lastErrorCode, j.lastError]), [['x:att', 'MAP.TAX', 'stopped: MAP.TAX']]);
      assert.deepEqual((await q.list({ memberId: 'a' })).map((j) => j.key), ['y:pend', 'x:att', 'x:done']);
      assert.equal((await q.list({ limit: 2 })).length, 2);
      assert.equal(await q.lastFinishedAt('a', 'x'), T0 + 10);
      assert.equal(await q.lastFinishedAt('a', 'y'), null);
      assert.equal(await q.countCreatedSince('a', 'x', T0), 2);
      assert.equal(await q.countCreatedSince('a', 'x', T0 + 1), 0);
    });

    it('when finished jobs are purged, then done and cancelled ones changed before the cut go and live ones stay', async () => {
      const old = await running('x:old');
      await q.complete(old, T0 + 10);
      const gone = await running('x:gone');
      await q.needsAttention(gone.id, attention('MAP.TAX'), T0 + 10);
      await q.dismiss([gone.id], 'a', T0 + 10);
      const recent = await running('x:recent');
      await q.complete(recent, T0 + 100);
      const live = await q.enqueue({ memberId: 'a', kind: 'x', key: 'x:live', payload: {} }, T0);
      assert.equal(await q.purgeFinished(T0 + 50), 2);
      assert.equal(await q.get(old.id), undefined);
      assert.equal(await q.get(gone.id), undefined);
      assert.equal((await q.get(recent.id))?.state, 'done');
      assert.equal((await q.get(live.id))?.state, 'pending');
    });

    it('when two instances enqueue the same keys at once, then each key has one live job that counts every enqueue', async () => {
      const other = await backend.another();
      await Promise.all([q, other].flatMap((queue, n) => Array.from({ length: 20 }, (_, i) => queue.enqueue({ memberId: 'a', kind: 'x', key: `x:${i % 4}`, payload: { n, i } }, T0))));
      const live = await q.list({ states: ['pending'] });
      assert.deepEqual(live.map((j) => j.key).sort(), ['x:0', 'x:1', 'x:2', 'x:3']);
      assert.deepEqual(live.map((j) => j.revision), [10, 10, 10, 10]);
    });

    it('when two claimers work 200 jobs at once, then each job is claimed exactly once', async () => {
      for (let i = 0; i < 200; i++) await q.enqueue({ memberId: i % 2 ? 'a' : 'b', kind: 'x', key: `x:${i}`, payload: {} }, T0);
      const other = await backend.another();
      const claimed: number[][] = [[], []];
      await Promise.all([q, other].map(async (claimer, n) => {
        for (;;) {
          const jobs = await claimer.claimDue(7, ['x'], T0);
          if (!jobs.length && (await claimer.dueSummary(['x'], T0)).count === 0) return;
          for (const j of jobs) {
            claimed[n]!.push(j.id);
            await claimer.complete(j, T0 + 1);
          }
        }
      }));
      const all = claimed.flat();
      assert.equal(all.length, 200);
      assert.equal(new Set(all).size, 200);
      assert.equal((await q.countByState()).done, 200);
    });

    it('when a claimer dies holding jobs, then another claimer takes them over', async () => {
      const dying = await backend.another();
      await q.enqueue({ memberId: 'a', kind: 'x', key: 'x:1', payload: {} }, T0);
      const [held] = await dying.claimDue(5, ['x'], T0);
      assert.ok(held);
      await backend.afterDeath(dying, q, T0 + 1);
      const [taken] = await q.claimDue(5, ['x'], T0 + 1);
      assert.equal(taken?.id, held.id);
      await q.complete(taken!, T0 + 2);
      assert.equal((await q.get(held.id))?.state, 'done');
    });
  });
}

describe('job queue on PostgreSQL: leases across instances', { skip: pgUrl ? false : 'PostgreSQL is not reachable' }, () => {
  const url = pgUrl!;
  const opened: PgBossJobQueue[] = [];
  const open = async (o: Partial<PgBossJobQueueOptions> = {}) => {
    const q = await PgBossJobQueue.open({ connectionString: url, leaseSeconds: LEASE_SECONDS, maxConnections: 3, ...o });
    opened.push(q);
    return q;
  };
  beforeEach(async () => {
    await open();
    await truncate(url);
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((q) => q.close()));
  });

  it('when an instance hangs past its lease, then another takes its run over and the hung one can no longer finish it', async () => {
    const hung = await open({ heartbeatMs: 0 });
    const other = await open();
    const job = await hung.enqueue({ memberId: 'a', kind: 'x', key: 'x:hung', payload: {} }, T0);
    await hung.claimDue(5, ['x'], T0);
    assert.deepEqual(await other.claimDue(5, ['x'], T0), [], 'taken over before the lease ran out');
    await new Promise((r) => setTimeout(r, LEASE_SECONDS * 1000 + 300));
    const [taken] = await other.claimDue(5, ['x'], T0);
    assert.equal(taken?.id, job.id);
    assert.equal(taken?.attempts, 2);
    await hung.complete(job, T0 + 1);
    await hung.retryLater(job.id, T0 + 60_000, { code: 'LATE', message: 'late' }, T0 + 1);
    assert.equal((await other.get(job.id))?.state, 'running');
    await other.complete(taken!, T0 + 2);
    assert.equal((await other.get(job.id))?.state, 'done');
  });

  it('when pg-boss\'s maintenance has failed a run\'s expired ticket, then another instance still takes the run over', async () => {
    const hung = await open({ heartbeatMs: 0 });
    const other = await open();
    const job = await hung.enqueue({ memberId: 'a', kind: 'x', key: 'x:expired', payload: {} }, T0);
    await hung.claimDue(5, ['x'], T0);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      // What pg-boss's failJobsByTimeout leaves (retryLimit 0: failed, with its timeout message as output).
      await c.query(`UPDATE pgboss.job SET state = 'failed', completed_on = now(), output = '{"value":{"message":"job failed by timeout in active state"}}' WHERE singleton_key = 'x:expired'`);
    } finally {
      await c.end();
    }
    const [taken] = await other.claimDue(5, ['x'], T0);
    assert.equal(taken?.id, job.id);
    await other.complete(taken!, T0 + 1);
    assert.equal((await other.get(job.id))?.state, 'done');
  });

  it('when an instance lives past its lease, then its heartbeat keeps the run its own', async () => {
    const alive = await open({ heartbeatMs: 200 });
    const other = await open();
    await alive.enqueue({ memberId: 'a', kind: 'x', key: 'x:alive', payload: {} }, T0);
    const [held] = await alive.claimDue(5, ['x'], T0);
    await new Promise((r) => setTimeout(r, LEASE_SECONDS * 1000 + 600));
    assert.deepEqual(await other.claimDue(5, ['x'], T0), []);
    await alive.complete(held!, T0 + 1);
    assert.equal((await other.get(held!.id))?.state, 'done');
  });

  it('when an instance releases its runs, then another instance\'s runs stay theirs', async () => {
    const one = await open();
    const two = await open();
    await one.enqueue({ memberId: 'a', kind: 'x', key: 'x:1', payload: {} }, T0);
    await one.enqueue({ memberId: 'a', kind: 'x', key: 'x:2', payload: {} }, T0);
    const [mine] = await one.claimDue(1, ['x'], T0);
    const [theirs] = await two.claimDue(1, ['x'], T0);
    assert.equal(await one.releaseRunning(T0 + 1), 1);
    assert.equal((await one.get(mine!.id))?.state, 'pending');
    assert.equal((await one.get(theirs!.id))?.state, 'running');
  });

  it('when a job\'s ticket is gone from pg-boss\'s table (archived after its lease ran out), then the job is queued again with a new one', async () => {
    const q = await open({ heartbeatMs: 0 });
    const job = await q.enqueue({ memberId: 'a', kind: 'x', key: 'x:orphan', payload: {} }, T0);
    await q.claimDue(5, ['x'], T0);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query(`DELETE FROM pgboss.job WHERE singleton_key = 'x:orphan'`);
    } finally {
      await c.end();
    }
    assert.equal(await q.repairTickets(false, T0 + 1), 1);
    const [again] = await q.claimDue(5, ['x'], T0 + 1);
    assert.equal(again?.id, job.id);
  });

  it('when a document is queued, then pg-boss holds one run ticket for it, due at its run-at, with the reason of a failed run as its output', async () => {
    const q = await open();
    const job = await q.enqueue({ memberId: 'a', kind: 'x', key: 'x:ticket', payload: {}, runAt: T0 + 1000 }, T0);
    await q.enqueue({ memberId: 'a', kind: 'x', key: 'x:ticket', payload: { v: 2 } }, T0);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const tickets = async () => (await c.query(`SELECT state, start_after, output FROM pgboss.job WHERE singleton_key = 'x:ticket' ORDER BY created_on`)).rows;
      let rows = await tickets();
      assert.equal(rows.length, 1);
      assert.equal(rows[0].state, 'created');
      assert.equal(new Date(rows[0].start_after).getTime(), T0);
      await q.claimDue(5, ['x'], T0);
      await q.needsAttention(job.id, attention('MAP.TAX'), T0 + 1);
      rows = await tickets();
      assert.deepEqual(rows.map((r) => r.state), ['failed']);
      assert.equal(rows[0].output.code, 'MAP.TAX');
    } finally {
      await c.end();
    }
  });
});

