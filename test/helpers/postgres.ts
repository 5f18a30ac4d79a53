/**
 * A real PostgreSQL for a test file: withPostgres() creates a fresh database (t_<random>) on the server at
 * 127.0.0.1:5432 (user postgres, trust authentication; PG_TEST_ADMIN_URL names another) and drops it WITH (FORCE)
 * when the file ends, so files run side by side never share tables. The databases sort text in English order (ICU 'en'),
 * not by code point as SQLite does, so a statement that needs the latter shows it.
 *
 * When the server does not answer, the PostgreSQL tests are skipped with a notice that names
 * scripts/start-postgres.sh; under CI=true a missing server fails the file instead (CI must run the PostgreSQL lane).
 * Use: `const pg = await withPostgres(); describe('…', { skip: pg.skip }, () => { … pg.url … })`.
 */
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import pg from 'pg';

const ADMIN_URL = process.env.PG_TEST_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export const POSTGRES_NOTICE = `PostgreSQL does not answer at ${new URL(ADMIN_URL).host}: run scripts/start-postgres.sh to start one (these tests are skipped; under CI=true they fail)`;

export type TestPostgres =
  | { skip: false; /** The fresh database's URL. */ url: string; /** Another fresh database, dropped with the first. */ another(): Promise<string> }
  | { skip: string; url?: undefined; another?: undefined };

/** The URL of `database` on the admin URL's server. */
function urlOf(database: string): string {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${database}`;
  return u.toString();
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A fresh database for this test file (more with another()), or the reason the PostgreSQL tests are skipped. */
export async function withPostgres(): Promise<TestPostgres> {
  try {
    await admin((c) => c.query('SELECT 1'));
  } catch (err) {
    if (process.env.CI === 'true') throw new Error(`${POSTGRES_NOTICE} (${(err as Error).message})`, { cause: err });
    process.stderr.write(`# ${POSTGRES_NOTICE}\n`);
    return { skip: POSTGRES_NOTICE };
  }
  const made: string[] = [];
  const another = async () => {
    const { url, name } = await createDatabase();
    made.push(name);
    return url;
  };
  after(async () => {
    await admin(async (c) => {
      for (const name of made) await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    });
  });
  return { skip: false, url: await another(), another };
}

/** A fresh database on the test server: its URL, its name, and how to drop it. */
export async function createDatabase(): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `t_${randomBytes(6).toString('hex')}`;
  // A natural-language collation (ICU's 'en', as production databases usually have), so that a statement relying
  // on SQLite's code-point order fails here too; a server without ICU gets its default.
  await admin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en'`)
    .catch(() => c.query(`CREATE DATABASE ${name}`)));
  return { url: urlOf(name), name, drop: () => admin(async (c) => void (await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))) };
}
