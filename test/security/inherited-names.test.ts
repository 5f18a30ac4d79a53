/**
 * Look-ups keyed by request values (issue 21, item 6): a view, a placement, a log kind, a document type or a Xero
 * status named after what every object inherits (`constructor`, `toString`, `__proto__`, `hasOwnProperty`) is an
 * unknown name, answered at once with a clear 4xx: never a hung request, a 500, or a setting saved.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startEnvironment, type Environment } from '../helpers/env.js';
import { portalSettings } from '../../app/sync/settings.js';
import { settingsSchema } from '../../app/domain/settings.js';
import { quoteStatusOfStage } from '../../app/sync/quote-kind.js';
import { translator } from '../../app/http/i18n.js';
import { postForm } from './bitrix-helpers.js';

const NAMES = ['constructor', 'toString', '__proto__', 'hasOwnProperty'];
/** Long enough for any answer here; a hung request fails the test instead of the suite. */
const ANSWER_WITHIN_MS = 5000;

describe('request values named after inherited properties', () => {
  let env: Environment;
  let session = '';
  before(async () => {
    env = await startEnvironment();
    const html = await (await postForm(`${env.c.url}/app`, env.b24.frameAuth(1))).text();
    session = /data-session="([^"]+)"/.exec(html)![1]!;
  });
  after(async () => env.close());

  const post = (path: string, form: Record<string, string>) =>
    fetch(`${env.c.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form), signal: AbortSignal.timeout(ANSWER_WITHIN_MS) });
  const get = (path: string) => fetch(`${env.c.url}${path}`, { headers: { 'X-Connector-Session': session }, signal: AbortSignal.timeout(ANSWER_WITHIN_MS) });

  it('when an app page is opened with such a slider view, then it answers 400 "no page" at once', async () => {
    for (const name of NAMES) {
      const res = await post('/app', { ...env.b24.frameAuth(1), PLACEMENT: 'DEFAULT', PLACEMENT_OPTIONS: JSON.stringify({ view: name }) });
      const body = await res.text();
      assert.equal(res.status, 400, `${name}: ${body}`);
      assert.match(body, /has no page/, name);
    }
  });

  it('when the live stream is asked for such a view, then it answers 404', async () => {
    for (const name of NAMES) {
      const res = await get(`/api/live/${encodeURIComponent(name)}`);
      assert.equal(res.status, 404, `${name}: ${await res.text()}`);
    }
  });

  it('when the card tab is opened from such a placement, then it answers 400', async () => {
    for (const name of NAMES) {
      const res = await post('/placements/invoice', { ...env.b24.frameAuth(1), PLACEMENT: name, PLACEMENT_OPTIONS: JSON.stringify({ ID: '1' }) });
      assert.equal(res.status, 400, `${name}: ${await res.text()}`);
    }
  });

  it('when the log is filtered by such a kind, or a document of such a type is asked for, then the answer is 400', async () => {
    for (const name of NAMES) {
      const q = encodeURIComponent(name);
      for (const path of [`/api/live/dashboard?kind=${q}`, `/api/live/card?type=${q}&id=1`, `/api/documents/${q}/1/pdf`]) {
        const res = await get(path);
        assert.equal(res.status, 400, `${path}: ${await res.text()}`);
      }
      const history = await post('/app', { ...env.b24.frameAuth(1), PLACEMENT: 'DEFAULT', PLACEMENT_OPTIONS: JSON.stringify({ view: 'history', type: name, id: '1' }) });
      assert.equal(history.status, 400, `history ${name}`);
    }
  });

  it("when an admin's settings name such a Xero status in a stage map, then nothing is saved and the answer says it is not a Xero status", async () => {
    for (const name of NAMES) {
      const res = await fetch(`${env.c.url}/api/settings`, {
        method: 'PUT', headers: { 'X-Connector-Session': session, 'content-type': 'application/json' },
        // The stage exists (the quote pipeline's success stage), so only the status name can be refused.
        body: `{"stageMap": {"quote": {${JSON.stringify(name)}: "APPROVED"}}}`,
        signal: AbortSignal.timeout(ANSWER_WITHIN_MS),
      });
      const body = await res.text();
      const saved = (await portalSettings(env.c.store, env.memberId)).stageMap?.quote ?? {};
      assert.equal(Object.hasOwn(saved, name), false, `${name} was saved: ${body}`);
      // zod leaves a `__proto__` key out by itself; the others are refused with the reason.
      if (name !== '__proto__') {
        assert.equal(res.status, 400, `${name}: ${body}`);
        assert.match(body, /not a Xero status/, name);
      }
    }
  });

  it('when a Bitrix24 stage or a text key carries such a name, then no map answers with what it inherits', () => {
    const settings = settingsSchema.parse({});
    const t = translator('en');
    for (const name of NAMES) {
      assert.equal(quoteStatusOfStage(undefined, { id: name, name, sort: 10, semantics: null }, settings), null, `quote stage ${name}`);
      assert.equal(t(name), name, `text ${name}`);
    }
  });
});
