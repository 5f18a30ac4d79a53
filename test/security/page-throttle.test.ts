/**
 * Attacks on the connector's own work through the pages: a portal user who floods the page APIs, reloads a page, or
 * opens live streams without end is refused past per-session and per-user limits, saying why, and streams of one
 * page state cost one rendering a tick however often they are open.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { after, before, describe, it } from 'node:test';
import { startEnvironment, type Environment } from '../helpers/env.js';
import { errorHandler } from '../../app/http/error-handler.js';
import { liveRoutes, type LiveView } from '../../app/http/live.js';
import { PAGE_LIMITS } from '../../app/http/limits.js';
import { sessionOf } from './page-helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('page APIs and page loads are rate-limited per session and per user', () => {
  let env: Environment;
  before(async () => {
    env = await startEnvironment();
  });
  after(async () => env.close());

  it('when one page session floods the page API, then it is refused with 429, Retry-After and words past its limit, while another user\'s page still works', async () => {
    const flooder = env.b24.addUser({ name: 'Flo', lastName: 'Flooder' });
    const session = sessionOf(env, flooder);
    const statuses: number[] = [];
    for (let i = 0; i <= PAGE_LIMITS.session; i++) statuses.push((await fetch(`${env.c.url}/api/settings`, { headers: { 'X-Connector-Session': session } })).status);
    assert.equal(statuses.filter((s) => s === 200).length, PAGE_LIMITS.session);
    const refused = await fetch(`${env.c.url}/api/settings`, { headers: { 'X-Connector-Session': session } });
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'HTTP.RATE_LIMITED');
    assert.match(body.error.message, /Too many requests from this page .*Wait \d+ s and try again/);
    const other = await fetch(`${env.c.url}/api/settings`, { headers: { 'X-Connector-Session': sessionOf(env, 1) } });
    assert.equal(other.status, 200);
  });

  it('when a user asks for the product list over and over with fresh sessions, then past the per-user limit it answers 429 and Bitrix24\'s catalog is not asked again', async () => {
    const user = env.b24.addUser({ name: 'Gus', lastName: 'Glcoder' });
    const statuses: number[] = [];
    for (let i = 0; i < PAGE_LIMITS.costly + 5; i++) {
      statuses.push((await fetch(`${env.c.url}/api/products`, { headers: { 'X-Connector-Session': sessionOf(env, user) } })).status);
    }
    assert.equal(statuses.filter((s) => s === 200).length, PAGE_LIMITS.costly);
    assert.equal(statuses.filter((s) => s === 429).length, 5);
    env.b24.resetCounters();
    const refused = await fetch(`${env.c.url}/api/products`, { headers: { 'X-Connector-Session': sessionOf(env, user) } });
    assert.equal(refused.status, 429);
    assert.match(((await refused.json()) as { error: { message: string } }).error.message, /costs a call to Xero or Bitrix24/);
    assert.equal(env.b24.callLog.length, 0, 'no Bitrix24 call for a refused request');
  });

  it('when a page is reloaded past the limit with one Bitrix24 sign-in, then the page says so in words with 429 and Retry-After', async () => {
    const reloader = env.b24.addUser({ name: 'Rex', lastName: 'Reload' });
    const form = new URLSearchParams(env.b24.frameAuth(reloader));
    const load = () => fetch(`${env.c.url}/app`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' }, body: form });
    for (let i = 0; i < PAGE_LIMITS.pageLoads; i++) assert.equal((await load()).status, 200);
    const refused = await load();
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.match(refused.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await refused.text(), /Too many pages opened with this Bitrix24 sign-in .*Wait \d+ s/);
  });

  it('when one page session opens more live streams than its cap, then the oldest is closed saying why', async () => {
    const session = sessionOf(env, 1);
    const open = async () => {
      const controller = new AbortController();
      const res = await fetch(`${env.c.url}/api/live/dashboard`, { headers: { 'X-Connector-Session': session }, signal: controller.signal });
      assert.equal(res.status, 200);
      return { reader: res.body!.pipeThrough(new TextDecoderStream()).getReader(), controller };
    };
    const first = await open();
    const more = [await open(), await open(), await open()];
    let text = '';
    const giveUp = Date.now() + 3000;
    while (!text.includes('event: closed') && Date.now() < giveUp) {
      const next = await Promise.race([first.reader.read(), sleep(giveUp - Date.now()).then(() => ({ value: '', done: true }))]);
      if (next.done) break;
      text += next.value;
    }
    assert.match(text, /event: closed\ndata: .*opened more than 3 live streams; the oldest was closed/);
    for (const s of [first, ...more]) s.controller.abort();
  });
});

describe('live streams share their rendering and are capped per portal', () => {
  let env: Environment;
  let url = '';
  let renders = 0;
  let close = () => undefined as void;
  before(async () => {
    env = await startEnvironment();
    // A view that counts its renderings, on the connector's own live router with small caps.
    const probe: LiveView<{ doc: string }> = {
      prepare: (ctx) => ({ doc: String(ctx.query.doc ?? '1') }),
      regions: async (p) => {
        renders += 1;
        return { state: { html: `<p>${p.doc}</p>` } };
      },
      shareKey: (p, ctx) => `${ctx.session.memberId}|${p.doc}`,
    };
    const app = express();
    app.use(liveRoutes(env.c.services, { probe }, { tickMs: 100, perSession: 3, perUser: 3, perPortal: 4 }));
    app.use(errorHandler(env.c.services.logger));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => void server.close();
  });
  after(async () => {
    close();
    await env.close();
  });

  const open = async (userId: number, doc = '1') => {
    const controller = new AbortController();
    const res = await fetch(`${url}/api/live/probe?doc=${doc}`, { headers: { 'X-Connector-Session': sessionOf(env, userId) }, signal: controller.signal });
    return { res, controller };
  };

  it('when one page state is open in several streams, then each tick renders it once for all of them', async () => {
    const users = [env.b24.addUser({ name: 'A' }), env.b24.addUser({ name: 'B' }), env.b24.addUser({ name: 'C' }), env.b24.addUser({ name: 'D' })];
    const streams = await Promise.all(users.map((u) => open(u)));
    assert.deepEqual(streams.map((s) => s.res.status), [200, 200, 200, 200]);
    renders = 0;
    await sleep(1000); // about ten ticks
    for (const s of streams) s.controller.abort();
    assert.ok(renders <= 12, `${renders} renderings in ten ticks of four streams`);
  });

  it('when a portal has its cap of live streams open, then a new one is refused with 429 saying why, and one frees when a page closes', async () => {
    await sleep(200);
    const users = [env.b24.addUser({ name: 'E' }), env.b24.addUser({ name: 'F' }), env.b24.addUser({ name: 'G' }), env.b24.addUser({ name: 'H' })];
    const streams = await Promise.all(users.map((u, i) => open(u, String(i))));
    assert.deepEqual(streams.map((s) => s.res.status), [200, 200, 200, 200]);
    const refused = await open(env.b24.addUser({ name: 'I' }));
    assert.equal(refused.res.status, 429);
    assert.match(((await refused.res.json()) as { error: { message: string } }).error.message, /already has 4 live pages open/);
    streams[0]!.controller.abort();
    await sleep(200);
    const later = await open(env.b24.addUser({ name: 'J' }));
    assert.equal(later.res.status, 200);
    for (const s of [...streams, later]) s.controller.abort();
  });
});
