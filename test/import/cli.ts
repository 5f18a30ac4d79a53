// `npm run import -- …` as its own process on a test bed's store (the connector's DATA_DIR and credentials): the
// built import (dist/app/import-cli.js, built first when stale, as `npm run import` does), not its TypeScript.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { StatusBed } from '../statuses/bed.js';
import { TEST_SECRET } from '../helpers/store.js';
import { IMPORT_NODE_FLAGS } from '../../app/import-cli.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `npm run import -- …` as its own process on the connector's store. */
export function cli(bed: StatusBed, args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [...IMPORT_NODE_FLAGS, 'scripts/start.mjs', 'import-cli', ...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DATA_DIR: bed.c.config.dataDir, APP_SECRET: TEST_SECRET, LOG_LEVEL: 'warn',
      B24_CLIENT_ID: bed.c.config.bitrix.clientId ?? '', B24_CLIENT_SECRET: bed.c.config.bitrix.clientSecret ?? '', B24_OAUTH_URL: bed.b24.baseUrl,
      XERO_CLIENT_ID: bed.xero.clientId, XERO_CLIENT_SECRET: bed.xero.clientSecret, XERO_API_URL: bed.xero.baseUrl, XERO_IDENTITY_URL: bed.xero.baseUrl, XERO_LOGIN_URL: bed.xero.baseUrl,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString('utf8')));
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string);
  return { child, exited, output: () => output };
}
