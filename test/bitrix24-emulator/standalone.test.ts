import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';

test('when the emulator runs standalone with --port 0, then it prints one JSON line whose tokens work against its REST endpoint', async () => {
  const main = fileURLToPath(new URL('../emulators/bitrix24/main.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', main, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let out = '';
    child.stdout.setEncoding('utf8');
    while (!out.includes('\n')) {
      const [chunk] = (await once(child.stdout, 'data')) as [string];
      out += chunk;
    }
    const info = JSON.parse(out.split('\n')[0]!) as Record<string, string>;
    for (const k of ['baseUrl', 'clientEndpoint', 'memberId', 'clientId', 'clientSecret', 'accessToken', 'refreshToken', 'applicationToken']) assert.ok(info[k], k);
    assert.equal(info.clientEndpoint, `${info.baseUrl}/rest/`);
    const res = await fetch(`${info.clientEndpoint}crm.item.list`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ auth: info.accessToken, entityTypeId: 31 }) });
    const body = (await res.json()) as { result: { items: unknown[] }; total: number };
    assert.ok(body.total > 0, 'the demo portal is seeded');
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
});
