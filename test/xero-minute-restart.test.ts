/**
 * Xero's minute across a restart (app/xero/gateway.ts, app/store/xero-limits.ts): a connector that spent most of
 * Xero's minute for an organisation is stopped, or dies with calls on the wire, and a new one starts on the same
 * store and pushes at once. Xero (the emulator) counts per organisation whoever calls, so the new process meets a
 * 429 unless it starts from what the old one knew. The minute is compressed to a few seconds on both sides.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startXeroEmulator, type XeroEmulator } from './emulators/xero/index.js';
import type { TestConnector } from './helpers/connector.js';
import { startEnvironment, type Environment } from './helpers/env.js';
import { dieWithCallsOnTheWire, restartOn, spendMinute, startsWork, waitingInvoices } from './helpers/restart.js';
import type { XeroLimits } from '../app/xero/gateway.js';

const WINDOW_MS = 6000;

/** Every reference once among the organisation's invoices. */
function assertEachOnce(xero: XeroEmulator, tenantId: string, numbers: string[]): void {
  const refs = xero.invoices(tenantId).map((x) => String(x.Reference));
  assert.deepEqual(numbers.filter((n) => refs.filter((r) => r === n).length !== 1), [], 'every invoice in Xero exactly once');
}

/**
 * Invoices waiting in the portal; `busy` spends most of Xero's minute in a first connector and ends it; a second one
 * starts on its store (`started` looks at it before it calls Xero) and pushes at once: Xero serves no 429 and every
 * invoice arrives once.
 */
async function restartInBusyMinute(limits: Partial<XeroLimits>, busy: (env: Environment, xero: XeroEmulator) => Promise<void>, started: (next: TestConnector, env: Environment) => void = () => undefined): Promise<void> {
  const xero = await startXeroEmulator({ limits: { windowMs: WINDOW_MS } });
  const env = await startEnvironment({ xero, xeroLimits: limits });
  let next: TestConnector | undefined;
  try {
    const numbers = waitingInvoices(env, 'RST', 300, 40);
    await busy(env, xero);
    next = await restartOn(env, xero, limits);
    started(next, env);
    xero.resetCounters();
    await startsWork(next, env, 300 + 40);
    assert.equal(xero.counters.served429, 0, `429s served: ${xero.requestLog.filter((r) => r.status === 429).map((r) => r.endpoint).join(', ')}`);
    assert.equal(next.services.gateways.for(env.connectionId).stats.received429, 0);
    assertEachOnce(xero, env.tenantId, numbers);
  } finally {
    await next?.close();
    await env.close();
    await xero.close();
  }
}

describe("Xero's minute across a restart", () => {
  it('when a connector that made 55 calls this minute is stopped and a new one on the same store pushes at once, then Xero serves no 429 and every invoice arrives once', async () => {
    let dayLeft = 0;
    await restartInBusyMinute(
      { windowMs: WINDOW_MS },
      async (env, xero) => {
        await spendMinute(env, 55);
        assert.ok(xero.usage(env.tenantId).minute >= 55, `Xero counted ${xero.usage(env.tenantId).minute} calls this minute`);
        dayLeft = 5000 - xero.usage(env.tenantId).day;
        await env.c.close();
      },
      async (next, env) => {
        // The new gateway starts from the minute and the day the old process saw, before it makes a call.
        const fresh = next.services.gateways.for(env.connectionId);
        await fresh.ready();
        assert.ok(fresh.windowUsed >= 55, `the new gateway starts with ${fresh.windowUsed} calls in its minute`);
        assert.equal(fresh.budget.remaining(), dayLeft, "the day's calls left, as Xero last said");
      },
    );
  });

  it('when a connector dies with calls on the wire, their answers lost, then the new one counts those calls too and meets no 429', async () => {
    // Headroom of 2 below Xero's 60: fewer than the 5 calls on the wire, so only calls saved as they went out keep it.
    await restartInBusyMinute({ windowMs: WINDOW_MS, perMinute: 58 }, async (env, xero) => {
      await spendMinute(env, 53);
      await dieWithCallsOnTheWire(env, xero, 5);
    });
  });
});
