import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SMART_INVOICE } from '../emulators/bitrix24/index.js';
import { startEnvironment, type Environment } from '../helpers/env.js';
import { startConnector } from '../helpers/connector.js';

type Line = Record<string, unknown>;
const parse = (lines: string[]): Line[] => lines.map((l) => JSON.parse(l) as Line);

/** The value of one sample (`name{labels} value`) of a Prometheus text answer, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('GET /metrics and request logs', () => {
  let env: Environment;
  before(async () => {
    env = await startEnvironment();
    const user = env.b24.actAs(1);
    const company = Number(user.createCompany({ title: 'Metrics Ltd' }).id);
    for (let i = 1; i <= 3; i++) {
      const inv = user.createSmartInvoice({ title: `MET-${i}`, companyId: company, currencyId: 'NZD' });
      user.setProductRows(SMART_INVOICE, Number(inv.id), [{ productName: 'Service', price: 115, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
    }
    await env.settle();
  });
  after(async () => env.close());

  it('when scraped from this machine, then it answers Prometheus text with jobs, outcomes, Xero and Bitrix24 calls, budget, poll lag and intake latency', async () => {
    await env.c.services.pullStatuses.pollConnection(env.connectionId);
    const res = await fetch(`${env.c.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.equal(sample(text, 'connector_jobs', { kind: 'push-invoice', state: 'done' }), 3);
    assert.ok((sample(text, 'connector_sync_outcomes_total', { kind: 'push-invoice', outcome: 'done' }) ?? 0) >= 3);
    const connection = String(env.connectionId);
    assert.ok((sample(text, 'connector_xero_calls_total', { connection }) ?? 0) > 0, 'Xero calls counted');
    assert.equal(sample(text, 'connector_xero_rate_limited_total', { connection }), 0);
    assert.ok((sample(text, 'connector_xero_day_budget_remaining', { connection }) ?? 0) > 4000, 'the day budget Xero reported');
    assert.ok((sample(text, 'connector_bitrix24_calls_total', { outcome: 'ok' }) ?? 0) > 0, 'Bitrix24 calls counted');
    assert.ok((sample(text, 'connector_poll_lag_seconds', { connection, kind: 'invoices' }) ?? -1) >= 0, 'poll lag after a poll');
    assert.ok((sample(text, 'connector_intake_latency_seconds_count', { source: 'bitrix24' }) ?? 0) >= 3, 'events timed');
    assert.ok((sample(text, 'connector_webhook_delay_seconds_count', { source: 'bitrix24' }) ?? 0) >= 3, 'event delays from ts');
    assert.ok(sample(text, 'connector_process_resident_memory_bytes') !== undefined, 'process memory');
  });

  it('when a request is forwarded by a reverse proxy and no METRICS_TOKEN is set, then /metrics answers 404', async () => {
    const res = await fetch(`${env.c.url}/metrics`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    assert.equal(res.status, 404);
  });

  it('when Bitrix24 posts an event, then one JSON request line carries a request id that the job and the worker\'s lines carry too', async () => {
    const lines = parse(env.c.logLines);
    const intake = lines.filter((l) => l.msg === 'request' && l.method === 'POST' && l.path === '/events' && l.status === 200);
    assert.ok(intake.length >= 3, 'one line per event request');
    const jobs = (await env.c.store.jobs.list({ memberId: env.memberId, states: ['done'] })).filter((j) => j.kind === 'push-invoice');
    assert.equal(jobs.length, 3);
    for (const job of jobs) {
      assert.ok(job.requestId, `job ${job.id} keeps its request id`);
      assert.ok(intake.some((l) => l.reqId === job.requestId), 'the id is that of an event request');
      // The row keeps the latest request that changed it (a later event coalesces into the same job).
      const worked = lines.filter((l) => l.msg === 'job worked' && l.jobId === job.id).at(-1);
      assert.equal(worked?.reqId, job.requestId, 'the worker logs the job with it');
    }
    // Lines of the push itself (the handler's own logs) carry the group's request ids.
    assert.ok(lines.some((l) => l.msg !== 'job worked' && l.msg !== 'request' && typeof l.reqId === 'string' && jobs.some((j) => String(l.reqId).includes(j.requestId!))), 'handler lines carry the request id');
  });

  it('when a request brings a plain X-Request-Id, then it is echoed and logged; a hostile one is replaced', async () => {
    const good = await fetch(`${env.c.url}/health`, { headers: { 'x-request-id': 'proxy-abc-123' } });
    assert.equal(good.headers.get('x-request-id'), 'proxy-abc-123');
    const bad = await fetch(`${env.c.url}/health`, { headers: { 'x-request-id': '<script>alert(1)</script>' } });
    assert.match(bad.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(parse(env.c.logLines).some((l) => l.msg === 'request' && l.reqId === 'proxy-abc-123' && l.path === '/health'));
  });
});

describe('GET /metrics with METRICS_TOKEN', () => {
  it('when METRICS_TOKEN is set, then only a request bearing it reads the metrics, from anywhere', async () => {
    const c = await startConnector({ env: { METRICS_TOKEN: 'metrics-token-0123456789' } });
    try {
      assert.equal((await fetch(`${c.url}/metrics`)).status, 404);
      assert.equal((await fetch(`${c.url}/metrics`, { headers: { authorization: 'Bearer metrics-token-012345678X' } })).status, 404);
      const ok = await fetch(`${c.url}/metrics`, { headers: { authorization: 'Bearer metrics-token-0123456789', 'x-forwarded-for': '203.0.113.9' } });
      assert.equal(ok.status, 200);
      assert.match(await ok.text(), /# TYPE connector_jobs gauge/);
    } finally {
      await c.close();
    }
  });
});
