/**
 * Bench part `restart` (Xero's minute after a restart): 300 invoices for 40 new customers wait in the portal while
 * a first connector spends 55 of Xero's 60 calls in the minute; it is stopped (or dies with 5 more calls on the wire,
 * their answers lost), and a second connector starts on the same store and pushes at once, at Xero's real limits
 * (60 a minute, a 60 s window) → 429s served, how long the new process waited before its first Xero call (the rest of
 * the busy minute), and the wall time until every invoice is in Xero.
 */
import { startXeroEmulator } from '../test/emulators/xero/index.js';
import { startEnvironment } from '../test/helpers/env.js';
import { dieWithCallsOnTheWire, restartOn, spendMinute, startsWork, waitingInvoices } from '../test/helpers/restart.js';
import { row } from './report.js';

type Say = (s?: string) => void;

export async function restart(say: Say): Promise<void> {
  const INVOICES = 300;
  const CUSTOMERS = 40;
  say(`## Restart in a busy Xero minute: ${INVOICES} invoices for ${CUSTOMERS} new customers waiting (Xero limits: 60/min, 60 s window)`);
  say();
  say('| how the first connector ended | calls in Xero\'s minute at the restart | 429s served / received after it | first Xero call after the start | all invoices in Xero after | invoices in Xero |');
  say('|---|---|---|---|---|---|');
  for (const mode of ['stopped', 'killed'] as const) {
    const xero = await startXeroEmulator({ specCheck: false });
    const env = await startEnvironment({ xero });
    try {
      const numbers = waitingInvoices(env, mode === 'stopped' ? 'RSS' : 'RSK', INVOICES, CUSTOMERS);
      if (mode === 'stopped') {
        await spendMinute(env, 55);
        await env.c.close();
      } else {
        await spendMinute(env, 50);
        await dieWithCallsOnTheWire(env, xero, 5);
      }
      const atRestart = xero.usage(env.tenantId).minute;
      const next = await restartOn(env, xero, {});
      try {
        xero.resetCounters();
        const started = Date.now();
        await startsWork(next, env, INVOICES + CUSTOMERS);
        const wall = (Date.now() - started) / 1000;
        const first = xero.requestLog[0] ? (Date.parse(xero.requestLog[0].time) - started) / 1000 : NaN;
        const refs = new Set(xero.invoices(env.tenantId).map((x) => String(x.Reference)));
        const arrived = numbers.filter((n) => refs.has(n)).length;
        const received = next.services.gateways.for(env.connectionId).stats.received429;
        const what = mode === 'stopped' ? 'stopped' : 'killed, 5 calls on the wire';
        say(`| ${what} | ${atRestart} | ${xero.counters.served429} / ${received} | ${first.toFixed(1)} s | ${wall.toFixed(1)} s | ${arrived} of ${INVOICES} |`);
        row({ benchmark: 'restart', measure: `429s after a restart in a busy minute (${what})`, value: String(xero.counters.served429), target: '0', met: xero.counters.served429 === 0 && arrived === INVOICES });
        row({ benchmark: 'restart', measure: `wait for the busy minute, then all ${INVOICES} invoices in Xero (${what})`, value: `${first.toFixed(1)} s, ${wall.toFixed(1)} s` });
      } finally {
        await next.close();
      }
    } finally {
      await env.close();
      await xero.close();
    }
  }
  say();
  say('The first call after the start waits for the calls of the busy minute to leave Xero\'s window (the gateway starts from the minute it kept in the store); without that it would go out at once and meet 429s.');
  say();
}
