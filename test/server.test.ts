import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { createServer as createHttpServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { parseConfig } from '../app/config.js';
import { AppError } from '../app/errors.js';
import { errorHandler } from '../app/http/error-handler.js';
import { loadManifest, manifestPaths } from '../app/manifest.js';
import { createServer } from '../app/server.js';
import { openStore, type Store } from '../app/store/index.js';
import { captureLogger } from './helpers/log-capture.js';
import { tempDir } from './helpers/tmp.js';

async function serve(app: express.Express): Promise<{ url: string; server: Server }> {
  const server = createHttpServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('HTTP server', () => {
  let url: string;
  let server: Server;
  let store: Store;
  const { logger } = captureLogger();

  before(async () => {
    const dir = tempDir();
    const config = parseConfig({ DATA_DIR: dir });
    store = await openStore(dir, 'a-test-secret-of-sufficient-length-42');
    ({ url, server } = await serve(createServer({ config, store, logger, appSecret: 'a-test-secret-of-sufficient-length-42' }).app));
  });
  after(async () => {
    server.close();
    await store.close();
  });

  it('when /health is asked, then it answers 200 with the state of store, portals, connections and queue', async () => {
    await store.jobs.enqueue({ memberId: null, kind: 'demo', key: 'demo:1', payload: {} });
    const res = await fetch(`${url}/health`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, any>;
    assert.equal(body.status, 'ok');
    assert.equal(body.store.ok, true);
    assert.equal(body.store.schemaVersion, body.store.latestSchemaVersion);
    assert.deepEqual(body.portals, { installing: 0, installed: 0, uninstalled: 0 });
    assert.deepEqual(body.connections, { active: 0, needs_reconnect: 0, disconnected: 0 });
    assert.equal(body.queue.pending, 1);
  });

  it('when a path of install.json has no feature yet, then it answers 501 with a clear message, never 404', async () => {
    for (const path of manifestPaths(loadManifest())) {
      const res = await fetch(`${url}${path}`, { method: 'POST' });
      if (res.status === 501) {
        const body = (await res.json()) as { error: { code: string; message: string } };
        assert.equal(body.error.code, 'HTTP.NOT_IMPLEMENTED');
        assert.match(body.error.message, new RegExp(`${path} is not available`));
      } else {
        assert.notEqual(res.status, 404, `${path} is listed in install.json but not served`);
      }
    }
  });

  it('when a path is unknown, then a JSON 404 with a stable code is answered', async () => {
    const res = await fetch(`${url}/nope`);
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), { error: { code: 'HTTP.NOT_FOUND', message: 'Nothing is served at GET /nope.' } });
  });

  it('when a browser asks for an unknown page, then the error is an escaped HTML page', async () => {
    const res = await fetch(`${url}/<script>alert(1)</script>`, { headers: { Accept: 'text/html' } });
    assert.equal(res.status, 404);
    const html = await res.text();
    assert.match(res.headers.get('content-type')!, /text\/html/);
    assert.equal(html.includes('<script>alert'), false);
  });

  it('when a JSON body is malformed, then 400 names the problem', async () => {
    const res = await fetch(`${url}/install`, { method: "POST", headers: { "content-type": "application/json" }, body: "{\"a\":" });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as any).error.code, 'HTTP.MALFORMED_BODY');
  });

  it('when a body exceeds the size limit, then 413 is answered', async () => {
    const res = await fetch(`${url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `a=${'x'.repeat(1_100_000)}`,
    });
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as any).error.code, 'HTTP.PAYLOAD_TOO_LARGE');
  });

  it('when pages are served, then nothing forbids Bitrix24 from framing them', async () => {
    const res = await fetch(`${url}/health`);
    assert.equal(res.headers.get('x-frame-options'), null);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  });
});

describe('central error handler', () => {
  it('when an unexpected error carries a token, then neither the answer nor the log shows it', async () => {
    const { logger, lines } = captureLogger();
    const app = express();
    app.get('/boom', () => {
      throw new Error('upstream said: Authorization: Bearer eyJSECRETTOKEN123 refresh_token=RT-SECRET-9');
    });
    app.get('/known', () => {
      throw new AppError('SYNC.MISSING_ACCOUNT_CODE', 'Product "Widget" has no Xero sales account.', 422);
    });
    app.use(errorHandler(logger));
    const { url, server } = await serve(app);
    try {
      const res = await fetch(`${url}/boom`);
      const text = await res.text();
      assert.equal(res.status, 500);
      assert.equal(JSON.parse(text).error.code, 'INTERNAL');
      assert.equal(text.includes('SECRET'), false);
      const known = await fetch(`${url}/known`);
      assert.equal(known.status, 422);
      assert.deepEqual(await known.json(), {
        error: { code: 'SYNC.MISSING_ACCOUNT_CODE', message: 'Product "Widget" has no Xero sales account.' },
      });
      assert.ok(lines.length >= 2);
      assert.equal(lines.join('\n').includes('SECRET'), false, lines.join('\n'));
    } finally {
      server.close();
    }
  });
});
