/**
 * The pages' speed: server-side render of the dashboard and the card tab with 10,000 links and 100,000 activity
 * rows in the store (target p95 < 100 ms), the live endpoint's first answer (target < 20 ms), and the dashboard's
 * first load of scripts and styles as transferred (gzip; target < 300 KB). Reports; asserts nothing.
 * Render times include the portal's confirmation of the user (one loopback call to the emulated Bitrix24).
 */
import { request } from 'node:http';
import { SMART_INVOICE } from '../test/emulators/bitrix24/index.js';
import { startEnvironment } from '../test/helpers/env.js';
import { row } from './report.js';

const LINKS = Number(process.env.BENCH_LINKS ?? 10_000);
const ACTIVITY = Number(process.env.BENCH_ACTIVITY ?? 100_000);
const RUNS = 40;

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0;

/** Bytes on the wire for a GET (compressed when the server compresses). */
function transferred(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => resolve(n));
    }).on('error', reject).end();
  });
}

export async function pagesBench(say: (s?: string) => void): Promise<void> {
  const env = await startEnvironment();
  try {
    const { store } = env.c;
    const user = env.b24.actAs(2);
    const companyId = Number(user.createCompany({ title: 'Bench page customer' }).id);
    const docId = Number(user.createSmartInvoice({ title: 'Bench page invoice', accountNumber: 'BPG-1', companyId, currencyId: 'NZD' }).id);
    user.setProductRows(SMART_INVOICE, docId, [{ productName: 'Consulting hour', price: 115, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
    await env.settle();
    const now = Date.now();
    const insertLink = `INSERT INTO links (member_id, connection_id, b24_type, b24_id, xero_type, xero_id, xero_number, xero_status, last_synced_at)
       VALUES (?, ?, 'smart_invoice', ?, 'invoice', ?, ?, 'AUTHORISED', ?)`;
    const insertActivity = 'INSERT INTO activity_log (member_id, level, kind, subject, message, created_at) VALUES (?, ?, ?, ?, ?, ?)';
    await store.transaction(async () => {
      for (let i = 0; i < LINKS; i++) await store.db.run(insertLink, [env.memberId, env.connectionId, String(100_000 + i), `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, `INV-B${i}`, now]);
      for (let i = 0; i < ACTIVITY; i++) {
        await store.db.run(insertActivity, [env.memberId, i % 50 === 0 ? 'error' : 'info', i % 50 === 0 ? 'job.attention' : 'invoice.created', `smart_invoice:${100_000 + (i % LINKS)}`, `Invoice ${i} sent to Xero as draft INV-B${i}.`, now - Math.floor((i / ACTIVITY) * 180 * 86_400_000)]);
      }
    });

    const form = (fields: Record<string, string>) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields) });
    const time = async (fn: () => Promise<unknown>) => {
      const t = performance.now();
      await fn();
      return performance.now() - t;
    };
    let session = '';
    let html = '';
    const dashboard: number[] = [];
    for (let i = 0; i < RUNS + 5; i++) {
      const took = await time(async () => {
        html = await (await fetch(`${env.c.url}/app`, form(env.b24.frameAuth(1)))).text();
      });
      if (i >= 5) dashboard.push(took);
    }
    session = /data-session="([^"]+)"/.exec(html)?.[1] ?? '';
    const card: number[] = [];
    for (let i = 0; i < RUNS + 5; i++) {
      const took = await time(() => fetch(`${env.c.url}/placements/invoice`, form({ ...env.b24.frameAuth(1), PLACEMENT: 'CRM_SMART_INVOICE_DETAIL_TAB', PLACEMENT_OPTIONS: JSON.stringify({ ID: String(docId) }) })).then((r) => r.text()));
      if (i >= 5) card.push(took);
    }
    const live: number[] = [];
    for (let i = 0; i < RUNS + 5; i++) {
      const controller = new AbortController();
      const took = await time(async () => {
        const res = await fetch(`${env.c.url}/api/live/dashboard`, { headers: { 'X-Connector-Session': session }, signal: controller.signal });
        await res.body!.getReader().read();
      });
      controller.abort();
      if (i >= 5) live.push(took);
    }
    const assets = [...html.matchAll(/(?:src|href)="(\/static\/[^"]+)"/g)].map((m) => m[1]!);
    const sizes = await Promise.all(assets.map((a) => transferred(`${env.c.url}${a}`)));
    const kb = sizes.reduce((a, b) => a + b, 0) / 1024;

    say('');
    say(`## Pages (${LINKS.toLocaleString('en')} links, ${ACTIVITY.toLocaleString('en')} activity rows)`);
    say('');
    say(`- Dashboard render: p50 ${pct(dashboard, 50).toFixed(1)} ms, p95 ${pct(dashboard, 95).toFixed(1)} ms (${RUNS} runs, incl. the portal's user check)`);
    say(`- Card tab render: p50 ${pct(card, 50).toFixed(1)} ms, p95 ${pct(card, 95).toFixed(1)} ms`);
    say(`- Live endpoint, first answer: p50 ${pct(live, 50).toFixed(1)} ms, p95 ${pct(live, 95).toFixed(1)} ms`);
    say(`- Dashboard first load: ${kb.toFixed(0)} KB of scripts and styles transferred (${assets.length} files: ${assets.map((a, i) => `${a.replace('/static/', '')} ${(sizes[i]! / 1024).toFixed(0)} KB`).join(', ')})`);
    row({ benchmark: 'pages', measure: 'dashboard render p95', value: `${pct(dashboard, 95).toFixed(1)} ms`, target: '< 100 ms', met: pct(dashboard, 95) < 100 });
    row({ benchmark: 'pages', measure: 'card tab render p95', value: `${pct(card, 95).toFixed(1)} ms`, target: '< 100 ms', met: pct(card, 95) < 100 });
    row({ benchmark: 'pages', measure: 'live endpoint first answer p95', value: `${pct(live, 95).toFixed(1)} ms`, target: '< 20 ms', met: pct(live, 95) < 20 });
    row({ benchmark: 'pages', measure: 'dashboard first load (scripts + styles)', value: `${kb.toFixed(0)} KB`, target: '< 300 KB', met: kb < 300 });
  } finally {
    await env.close();
  }
}
