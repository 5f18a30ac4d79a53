/**
 * A fresh PostgreSQL database for one test file (dropped at its end), or undefined with a notice when no server
 * answers — except under CI=true, where a missing server fails. Local to test/cluster/ until test/helpers/postgres.ts
 * lands; same behaviour as test/store/job-queue.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import pg from 'pg';

const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };

export async function clusterTestDatabase(what: string): Promise<string | undefined> {
  const admin = new pg.Client({ ...PG, database: 'postgres', connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (err) {
    if (process.env.CI === 'true') throw new Error(`PostgreSQL is required under CI=true and did not answer at ${PG.host}:${PG.port}: ${String(err)}`);
    console.log(`# PostgreSQL not reachable at ${PG.host}:${PG.port} (${String(err)}): the ${what} cases on PostgreSQL are skipped. Start one (trust auth, user postgres) to run them.`);
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
