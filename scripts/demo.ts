/**
 * `npm run demo`: the connector with a Bitrix24 portal and a Xero organisation to click through, on this machine.
 *
 * Without real credentials it starts the Bitrix24 and Xero emulators (test/emulators/) with a plausible company, starts
 * the real connector (app/main.ts `start()`), registers and installs it in the emulated portal as Bitrix24 would and
 * connects Xero through the connector's own consent flow — all a month ago on the clock the emulators and the connector
 * share (app/clock.ts) — and then lives the month up to today (scripts/demo-month.ts): documents written in the portal,
 * approved and paid in Xero, each synced by the connector at its moment. No sync setting is touched: the tax rates and
 * the sales account are matched automatically, as for a new user. Then it prints the portal's URLs. Ctrl+C (SIGINT) or
 * SIGTERM stops everything.
 *
 * With `B24_CLIENT_ID` and `XERO_CLIENT_ID` set it only starts the connector, like `npm start`.
 *
 * Output lines meant for people and scripts: `Portal: <url>`, `Portal (non-admin): <url>`, `Xero: <url>`,
 * `Connector: <url>`, and finally `Demo ready.`.
 */
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { ConfigError } from '../app/config.js';
import { start, SHUTDOWN_DEADLINE_MS, type Runtime } from '../app/main.js';
import { StoreError } from '../app/store/index.js';
import { isEntryPoint } from '../app/entry-point.js';
import { offsetClock, useClock, type OffsetClock } from '../app/clock.js';
import { startBitrix24Emulator, type Bitrix24Emulator } from '../test/emulators/bitrix24/index.js';
import { startXeroEmulator, type XeroEmulator } from '../test/emulators/xero/index.js';
import { monthStart, runMonth, type MonthReport } from './demo-month.js';
import { consentAndConfirm } from '../test/helpers/xero-consent.js';

/** Scopes of the local application (install.json). */
const SCOPES = ['crm', 'catalog', 'placement', 'userfieldconfig', 'user_brief'];

class DemoError extends Error {}

const say = (line: string) => process.stdout.write(`${line}\n`);

/** A free TCP port: `wanted` if it can be bound, otherwise (when `fallback`) any free one. */
async function freePort(wanted: number, fallback: boolean): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<number | null>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(null));
      probe.listen(port, () => {
        const got = (probe.address() as { port: number }).port;
        probe.close(() => resolve(got));
      });
    });
  const got = await tryPort(wanted);
  if (got !== null) return got;
  if (!fallback) throw new DemoError(`PORT ${wanted} is already in use; stop the other process or choose another PORT`);
  say(`Port ${wanted} is taken; using a free port instead.`);
  const any = await tryPort(0);
  if (any === null) throw new DemoError('No free TCP port was found.');
  return any;
}

async function postForm(url: string, form: Record<string, string>): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form), redirect: 'manual' });
}

/** Opens the app page as `userId` would (the portal's POST) and returns the page's signed session. */
async function pageSession(connectorUrl: string, b24: Bitrix24Emulator, userId: number): Promise<string> {
  const res = await postForm(`${connectorUrl}/app`, b24.frameAuth(userId));
  const html = await res.text();
  const m = /data-session="([^"]+)"/.exec(html);
  if (res.status !== 200 || !m) throw new DemoError(`The app page did not open in the portal (HTTP ${res.status}).`);
  return m[1]!;
}

async function api(connectorUrl: string, session: string, method: string, p: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${connectorUrl}${p}`, {
    method,
    headers: { 'X-Connector-Session': session, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) throw new DemoError(`${method} ${p} failed (HTTP ${res.status}): ${JSON.stringify(json)}`);
  return json;
}

/**
 * "Connect Xero" as the admin's browser does it: the connector's start URL (binding cookie), the emulator's
 * auto-approval, the callback's confirmation page naming organisation and portal, and the confirmation.
 */
async function connectXero(connectorUrl: string, session: string): Promise<void> {
  const { startUrl } = (await api(connectorUrl, session, 'POST', '/api/xero/connect')) as { startUrl: string };
  try {
    await consentAndConfirm(connectorUrl, startUrl);
  } catch (err) {
    throw new DemoError(`The connector did not accept Xero's answer: ${(err as Error).message}`);
  }
}

export interface Running {
  runtime?: Runtime;
  b24?: Bitrix24Emulator;
  xero?: XeroEmulator;
}

/** The emulated company after its month, with the connector running (what `npm run demo` opens; tests use it too). */
export interface DemoWorld {
  runtime: Runtime;
  b24: Bitrix24Emulator;
  xero: XeroEmulator;
  tenantId: string;
  tenantName: string;
  memberId: string;
  month: MonthReport;
  /** The clock the emulators and the connector share (the system clock again once the month is over). */
  clock: OffsetClock;
  /** Wall time the start took, ms. */
  startMs: number;
}

export async function stopAll(r: Running): Promise<void> {
  await r.runtime?.stop();
  await r.b24?.close();
  await r.xero?.close();
}

/**
 * Starts the emulators, the connector (app/main.ts `start()`), installs and connects it a month ago on the clock they
 * share, and lives the month up to today (scripts/demo-month.ts); the clock is the system clock again afterwards.
 * What it starts is put in `r` at once, so a failure can stop it. `env`: PORT, DATA_DIR, LOG_LEVEL and the rest.
 */
export async function startDemoWorld(r: Running, env: Record<string, string | undefined>): Promise<DemoWorld> {
  const started = Date.now();
  const dataDir = env.DATA_DIR ?? path.join('data', 'demo');
  // The emulators live in memory: a connector database from an earlier demo run would point at portals that are gone.
  if (!env.DATA_DIR) rmSync(dataDir, { recursive: true, force: true });

  // One clock for the emulators and the connector, a month back: the portal and the organisation as they were a few
  // days before the install, then the install, then the month up to a quarter of an hour ago.
  const clock = offsetClock();
  useClock(clock);
  const end = Date.now() - 15 * 60_000;
  const from = monthStart(end);
  clock.set(from - 3 * 86_400_000);
  r.xero = await startXeroEmulator({ seedDemo: true, specCheck: false, clock });
  r.b24 = await startBitrix24Emulator({ seedDemo: true, clock });
  const { xero, b24 } = r;
  clock.set(from);
  const tenant = xero.tenants()[0]!;

  const port = await freePort(env.PORT === undefined ? 3000 : Number.parseInt(env.PORT, 10), env.PORT === undefined || env.PORT === '0');
  const url = `http://127.0.0.1:${port}`;
  const app = b24.registerApp({ handlerUrl: `${url}/app`, installUrl: `${url}/install`, scopes: SCOPES });
  r.runtime = await start({
    env: {
      ...env,
      PORT: String(port),
      PUBLIC_URL: url,
      DATA_DIR: dataDir,
      LOG_LEVEL: env.LOG_LEVEL ?? 'warn',
      B24_CLIENT_ID: app.clientId,
      B24_CLIENT_SECRET: app.clientSecret,
      B24_OAUTH_URL: b24.baseUrl,
      // The emulated portal listens on plain http on loopback; production never sets this.
      ALLOW_INSECURE_LOOPBACK: '1',
      XERO_CLIENT_ID: xero.clientId,
      XERO_CLIENT_SECRET: xero.clientSecret,
      XERO_GRANT_TYPE: 'authorization_code',
      XERO_WEBHOOK_KEY: xero.webhookKey,
      XERO_API_URL: xero.baseUrl,
      XERO_IDENTITY_URL: xero.baseUrl,
      XERO_LOGIN_URL: xero.baseUrl,
    },
  });
  const runtime = r.runtime;
  // The Xero app's webhook, as the admin adds it in Xero's developer portal: Xero checks it with an "intent to receive".
  xero.configureWebhook({ url: `${url}/xero/webhooks` });
  if (!(await xero.intentToReceive()).passed) throw new DemoError('The connector did not answer Xero\'s webhook check.');

  // Install as Bitrix24 does: the installer POST, then BX24.installFinish().
  const installed = await b24.install({ userId: 1 });
  if (installed.status !== 200) throw new DemoError(`The connector refused the installation (HTTP ${installed.status}).`);
  b24.finishInstall();

  const session = await pageSession(url, b24, 1);
  await connectXero(url, session);

  const memberId = b24.memberId;
  const month = await runMonth({ b24, xero, tenantId: tenant.tenantId, memberId, services: runtime.services, clock }, { end });
  return { runtime, b24, xero, tenantId: tenant.tenantId, tenantName: tenant.tenantName, memberId, month, clock, startMs: Date.now() - started };
}

async function startDemo(r: Running): Promise<void> {
  const env = process.env;
  if (env.B24_CLIENT_ID && env.XERO_CLIENT_ID) {
    say('B24_CLIENT_ID and XERO_CLIENT_ID are set: starting the connector against the configured Bitrix24 and Xero.');
    r.runtime = await start({ env });
    say(`Connector: ${r.runtime.url} (public URL ${r.runtime.config.publicUrl})`);
    say('Open the app from the Applications menu of your Bitrix24 portal. Press Ctrl+C to stop.');
    return;
  }

  const w = await startDemoWorld(r, env);
  say('');
  say('Bitrix24 ⇄ Xero demo');
  say(`  Company: a Bitrix24 portal with customers, products and invoices; Xero organisation "${w.tenantName}", connected.`);
  say('  Sync settings: none set by hand; the tax rates and the sales account were matched from the organisation (see the settings).');
  for (const line of await monthSummary(w.month, w.runtime.store, w.memberId, w.xero, w.tenantId)) say(`  ${line}`);
  say(`  Ready in ${(w.startMs / 1000).toFixed(1)} s.`);
  say('');
  say(`Portal: ${w.b24.baseUrl}/portal?user=1`);
  say(`Portal (non-admin): ${w.b24.baseUrl}/portal?user=2`);
  say(`Xero: ${w.xero.baseUrl}`);
  say(`Connector: ${w.runtime.url}`);
  say('');
  say('Open the Portal URL in a browser (John Admin); the non-admin URL shows what Mary User sees. Invoice and');
  say('estimate cards with the Xero tab are linked at the top of the portal page. Press Ctrl+C to stop.');
  say('Demo ready.');
}

/** What the month left, in words: what was written in Bitrix24, where it stands in Xero, what waits. */
async function monthSummary(month: MonthReport, store: Runtime['store'], memberId: string, xero: XeroEmulator, tenantId: string): Promise<string[]> {
  const count = (type: string) => month.documents.filter((d) => d.type === type).length;
  const byStatus = new Map<string, number>();
  for (const inv of xero.invoices(tenantId)) {
    const status = inv.Status === 'AUTHORISED' && Number(inv.AmountPaid) > 0 ? 'part paid' : String(inv.Status).toLowerCase().replace('authorised', 'approved');
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
  }
  const queue = await store.jobs.countByState(memberId);
  const days = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  return [
    `The month ${days(month.from)} to ${days(month.to)}: ${count('smart_invoice')} invoices, ${count('quote')} estimates and ${count('invoice')} classic invoice(s) written in Bitrix24,`,
    `each synced by the connector when it happened (${month.actions} moments of work in the portal and in Xero).`,
    `In Xero now: ${[...byStatus].map(([s, n]) => `${n} ${s}`).join(', ')} invoice(s) and ${xero.quotes(tenantId).length} quote(s);`,
    `${queue.pending + queue.running} job(s) waiting, ${queue.needs_attention} needing attention (see the dashboard).`,
  ];
}

async function main(): Promise<void> {
  const running: Running = {};
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: stopping the demo…`);
    const force = setTimeout(() => {
      process.stderr.write('The demo took longer than 10 s to stop; exiting anyway.\n');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    force.unref();
    stopAll(running).then(
      () => {
        say('Demo stopped.');
        process.exit(0);
      },
      (err: unknown) => {
        process.stderr.write(`Stopping the demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));

  try {
    await startDemo(running);
  } catch (err) {
    const known = err instanceof ConfigError || err instanceof StoreError || err instanceof DemoError;
    process.stderr.write(`The demo could not start.\n${known ? (err as Error).message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await stopAll(running).catch(() => undefined);
    process.exit(1);
  }
}

if (isEntryPoint(import.meta.url)) void main();
