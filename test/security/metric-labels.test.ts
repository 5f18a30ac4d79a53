/**
 * Attack on the connector's memory through its metrics: requests to paths no route serves, answered with an error
 * other than 404 (a repeated query parameter, a malformed or oversized body), must not each make a new series of the
 * request histogram in /metrics.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startConnector, type TestConnector } from '../helpers/connector.js';

/** The series of the request histogram (one `_count` sample per label set) in a /metrics answer. */
async function requestSeries(url: string): Promise<string[]> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith('connector_http_request_duration_seconds_count{'));
}

/** Sends `n` requests to distinct random paths, `parallel` at a time; each answers 400 or 413. */
async function flood(url: string, n: number, parallel = 16): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  let next = 0;
  const big = 'x'.repeat(1_100_000);
  const one = async () => {
    for (let i = next++; i < n; i = next++) {
      const path = `/${randomBytes(9).toString('hex')}/${i}`;
      const kind = i % 10;
      const res = kind === 8
        ? await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"not json' })
        : kind === 9 && i % 100 === 9
          ? await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big })
          : await fetch(`${url}${path}?a=1&a=2`);
      await res.arrayBuffer();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: parallel }, one));
  return statuses;
}

describe('metric labels of unmatched requests', () => {
  let c: TestConnector;
  before(async () => {
    c = await startConnector();
  });
  after(async () => c.close());

  it('when 10,000 distinct random paths answer 400 or 413, then the number of request series in /metrics stays flat', async () => {
    const warm = await flood(c.url, 200);
    assert.ok((warm.get(400) ?? 0) > 0 && (warm.get(413) ?? 0) > 0, `the warm-up met 400 and 413: ${JSON.stringify([...warm])}`);
    await requestSeries(c.url); // the first scrape is counted once answered: GET /metrics 200 is a series from then on
    const before = await requestSeries(c.url);
    const statuses = await flood(c.url, 10_000);
    assert.deepEqual([...statuses.keys()].sort(), [400, 413], 'every random path was refused, none served');
    const afterFlood = await requestSeries(c.url);
    assert.equal(afterFlood.length, before.length, `series before ${before.length}, after ${afterFlood.length}:\n${afterFlood.slice(0, 5).join('\n')}`);
    assert.ok(afterFlood.some((l) => l.includes('route="unmatched"') && l.includes('status="400"')), 'the refused requests are counted under one constant route');
    assert.ok(!afterFlood.some((l) => /route="\/[0-9a-f]{18}\//.test(l)), 'no random path is a label');
  });
});
