/**
 * Bench part `throttle`: Bitrix24 requests per document for each kind of work, and the sustained rate of
 * the whole mix, against Bitrix24's standard leaky bucket (50, 2 a second drained) with other apps of the portal
 * sending 5 requests every 10 s (test/faults/throttle-mix.ts). Each kind runs alone, 30 documents at 5 a second
 * (payments and stage moves act on invoices pushed before the count starts), then the mix of all kinds for 30 s.
 * Xero's minute is widened tenfold so that Bitrix24's limit is the one measured; the mix's Xero calls per document are
 * reported beside it, since Xero's 60 calls a minute bind first at this rate.
 */
import { startBitrix24Emulator } from '../test/emulators/bitrix24/index.js';
import { startXeroEmulator } from '../test/emulators/xero/index.js';
import { startEnvironment, type Environment } from '../test/helpers/env.js';
import { connectorRequests, MIX_KINDS, notLanded, standardBucketWithOthers, ThrottleMix, type MixKind, type MixSide } from '../test/faults/throttle-mix.js';
import { row } from './report.js';

type Say = (s?: string) => void;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RATE = 5;

/** Runs `docs` documents of `kinds` at RATE a second, then waits until they all landed; returns what it cost. */
async function run(env: Environment, side: MixSide, mix: ThrottleMix, docs: number) {
  const fromLog = env.b24.callLog.length;
  const fromXero = env.xero.counters.total;
  const from = mix.docs.length;
  const started = Date.now();
  for (let s = 0; s * RATE < docs; s++) {
    await mix.next(Math.min(RATE, docs - s * RATE));
    await env.xero.flushWebhooks().catch(() => undefined);
    await sleep(Math.max(0, started + (s + 1) * 1000 - Date.now()));
  }
  const lastEvent = Date.now();
  const mine = mix.docs.slice(from);
  for (;;) {
    await env.xero.flushWebhooks().catch(() => undefined);
    const missing = await notLanded(side, mine);
    const live = await env.c.store.jobs.countByState(env.memberId);
    if (MIX_KINDS.every((k) => missing[k].length === 0) && live.pending + live.running === 0) break;
    if (Date.now() - lastEvent > 300_000) throw new Error(`the mix did not settle: ${JSON.stringify(missing)}`);
    await sleep(500);
  }
  const requests = connectorRequests(env.b24.callLog.slice(fromLog));
  return { docs: mine, requests: requests.length, refused: requests.filter((r) => r.status === 503).length, xeroCalls: env.xero.counters.total - fromXero, wallS: (Date.now() - started) / 1000, settleS: (Date.now() - lastEvent) / 1000 };
}

export async function throttle(say: Say): Promise<void> {
  const b24 = await startBitrix24Emulator({ seedDemo: false });
  const xero = await startXeroEmulator({ webhookKey: 'bench-throttle-webhook-key-0123456789-abcdef', specCheck: false, limits: { perMinute: 600 } });
  const env = await startEnvironment({ b24, xero, settings: { approveInXero: true, quoteSync: true }, xeroLimits: { perMinute: 550, xeroPerMinute: 600 } });
  xero.configureWebhook({ url: `${env.c.url}/xero/webhooks` });
  const side: MixSide = { b24, xero, tenantId: env.tenantId, memberId: env.memberId, withStore: async (fn) => fn(env.c.store) };
  env.c.services.outbox.start();
  try {
    // Invoices in Xero to pay and to move, and customers in Xero to edit (not counted).
    const prep = new ThrottleMix(side, 'TPR', 10, ['smart']);
    await run(env, side, prep, 80);
    b24.setLeakyBucket(standardBucketWithOthers(5));
    say('## Throttle: every kind of work against Bitrix24\'s standard bucket (50, 2/s) with other apps (5 requests every 10 s)');
    say();
    say('| work | documents | Bitrix24 requests | per document | 503s | settled after the last event |');
    say('|---|---|---|---|---|---|');
    const alone = new Map<MixKind, number>();
    for (const kind of MIX_KINDS) {
      // Payments, stage moves and contact edits act on the invoices and customers the preparation pushed.
      const acts = kind === 'payment' || kind === 'stage' || kind === 'contact';
      const r = await run(env, side, acts ? prepFor(prep, kind) : new ThrottleMix(side, `T${kind.slice(0, 2).toUpperCase()}`, 10, [kind]), 30);
      const per = r.requests / r.docs.length;
      alone.set(kind, per);
      say(`| ${kind} | ${r.docs.length} | ${r.requests} | ${per.toFixed(2)} | ${r.refused} | ${r.settleS.toFixed(1)} s |`);
      row({ benchmark: 'throttle', measure: `Bitrix24 requests per document: ${kind}, alone at ${RATE}/s`, value: per.toFixed(2) });
    }
    const mix = new ThrottleMix(side, 'TMX', 10);
    const r = await run(env, side, mix, RATE * 30);
    const per = r.requests / r.docs.length;
    const rate = r.docs.length / r.wallS;
    say(`| the mix (all kinds in turn) | ${r.docs.length} | ${r.requests} | ${per.toFixed(2)} | ${r.refused} | ${r.settleS.toFixed(1)} s |`);
    say();
    say(`The mix at ${RATE} documents a second: ${rate.toFixed(2)} documents a second sustained from the first event until everything landed (${r.wallS.toFixed(1)} s for ${r.docs.length}); ${(r.xeroCalls / r.docs.length).toFixed(2)} Xero calls per document (Xero allows 60 a minute: about ${(55 / 60 / (r.xeroCalls / r.docs.length)).toFixed(1)} documents a second at most, the binding limit at this rate).`);
    say();
    row({ benchmark: 'throttle', measure: `the mix at ${RATE}/s: Bitrix24 requests per document`, value: per.toFixed(2), target: `≤ ${(2 / RATE).toFixed(2)} to keep up with 2/s drained`, met: per <= 2 / RATE });
    row({ benchmark: 'throttle', measure: `the mix at ${RATE}/s: sustained documents a second (first event → all landed)`, value: rate.toFixed(2), target: `${RATE}`, met: rate >= RATE * 0.9 });
    row({ benchmark: 'throttle', measure: 'the mix: settled after the last event', value: `${r.settleS.toFixed(1)} s`, target: '≤ 30 s', met: r.settleS <= 30 });
  } finally {
    await env.c.services.outbox.stop();
    await env.close();
    await b24.close();
    await xero.close();
  }
}

/** A mix of one kind acting on the preparation's pushed invoices and customers. */
function prepFor(prep: ThrottleMix, kind: MixKind): ThrottleMix {
  prep.only(kind);
  return prep;
}
