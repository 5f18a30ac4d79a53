import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../app/config.js';
import { XeroIdentity } from '../../app/xero/identity.js';

test('when the Xero emulator runs standalone with --custom-connection, then the connector\'s client_credentials grant for the printed client reads the organisation', async () => {
  const main = fileURLToPath(new URL('../emulators/xero/main.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', main, '--port', '0', '--custom-connection'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let out = '';
    child.stdout.setEncoding('utf8');
    while (!out.includes('\n')) out += ((await once(child.stdout, 'data')) as [string])[0];
    const info = JSON.parse(out.split('\n')[0]!) as { baseUrl: string; tenantId: string; customConnection: boolean; env: Record<string, string> };
    assert.equal(info.customConnection, true);
    assert.equal(info.env.XERO_GRANT_TYPE, 'client_credentials');
    const config = parseConfig({ ...info.env, PORT: '0', DATA_DIR: '/tmp/unused', PUBLIC_URL: 'http://127.0.0.1:1' });
    const tokens = await new XeroIdentity(config).clientCredentials();
    assert.equal(tokens.refreshToken, null, 'a custom connection has no refresh token');
    // Custom connections need no xero-tenant-id (developer.xero.com/documentation/guides/oauth2/custom-connections).
    const res = await fetch(`${info.env.XERO_API_URL}/api.xro/2.0/Organisation`, { headers: { authorization: `Bearer ${tokens.accessToken}`, accept: 'application/json' } });
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as { Organisations: Array<{ Name: string }> };
    assert.match(body.Organisations[0]!.Name, /Demo Company/);
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
});
