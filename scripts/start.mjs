// @ts-check
/**
 * `npm start` (`node scripts/start.mjs main`), `npm run import -- ARGS` (`… start.mjs import-cli ARGS`) and the
 * operator's commands (`npm run backup|restore|portal -- ARGS`): run the compiled connector from dist/, building it
 * first when it is missing or older than its sources (scripts/build.mjs), then loading the built file in this
 * process, as `node dist/<file>.js ARGS` would (no second node process, so the node flags `npm run import` sets
 * apply to the import itself). Plain JavaScript: production needs no TypeScript loader.
 *
 * A service manager can skip this script: build at deploy (`npm ci && npm run build`) and run
 * `node --enable-source-maps dist/app/main.js`.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureBuilt, ROOT } from './build.mjs';

/** @type {Record<string, string>} */
const ENTRIES = {
  main: 'app/main.js',
  'import-cli': 'app/import-cli.js',
  backup: 'scripts/backup.js',
  restore: 'scripts/restore.js',
  portal: 'scripts/portal.js',
};

const name = process.argv[2] ?? '';
const entry = Object.hasOwn(ENTRIES, name) ? ENTRIES[name] : undefined;
if (!entry) {
  process.stderr.write(`usage: node scripts/start.mjs ${Object.keys(ENTRIES).join('|')} [ARGS]\n`);
  process.exit(2);
}

try {
  await ensureBuilt({ log: (line) => process.stderr.write(`${line}\n`) });
} catch (err) {
  process.stderr.write(`The connector cannot start.\n${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
// Stack traces in the logs name the TypeScript file and line (the build writes linked source maps).
process.setSourceMapsEnabled(true);
// The built file sees the command line it would see run directly: it is process.argv[1] (its entry-point check
// starts it), its arguments follow.
const file = path.join(ROOT, 'dist', entry);
process.argv.splice(1, 2, file);
await import(pathToFileURL(file).href);
