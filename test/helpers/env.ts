import { startBitrix24Emulator, type Bitrix24Emulator } from '../emulators/bitrix24/index.js';
import { startXeroEmulator, type XeroEmulator } from '../emulators/xero/index.js';
import { updatePortalSettings } from '../../app/sync/settings.js';
import type { PortalSettings } from '../../app/domain/settings.js';
import { startConnector, type TestConnector } from './connector.js';
import { consentAndConfirm } from './xero-consent.js';
import type { XeroLimits } from '../../app/xero/gateway.js';
import { clock } from '../../app/clock.js';

export interface Environment {
  b24: Bitrix24Emulator;
  xero: XeroEmulator;
  c: TestConnector;
  tenantId: string;
  memberId: string;
  connectionId: number;
  /** Delivers pending Bitrix24 events and works the outbox until it is empty. */
  settle(): Promise<void>;
  close(): Promise<void>;
}

/** NZ demo organisation tax map (GST 15 %, zero-rated, no VAT). */
export const NZ_TAX_MAP = { '15': 'OUTPUT2', '0': 'ZERORATED', none: 'NONE' };

/**
 * Both emulators and the connector, with the app installed in the portal as Bitrix24 does it and Xero
 * connected through the consent flow. The outbox is not started: tests work it with `settle()`.
 */
export async function startEnvironment(opts: { settings?: Partial<PortalSettings>; /** No sync setting set at all, as after a fresh install. (Default: false) */ fresh?: boolean; env?: Record<string, string>; dataDir?: string; b24?: Bitrix24Emulator; xero?: XeroEmulator; xeroLimits?: Partial<XeroLimits> } = {}): Promise<Environment> {
  // The emulators read this process's clock, as the connector does: a test's clock (test/helpers/clock.ts) moves both.
  const b24 = opts.b24 ?? (await startBitrix24Emulator({ seedDemo: false, clock }));
  const xero = opts.xero ?? (await startXeroEmulator({ clock }));
  const tenantId = xero.tenants()[0]?.tenantId ?? xero.addOrganisation({ name: 'Demo Company (NZ)' });
  const c = await startConnector({
    xero,
    env: opts.env,
    dataDir: opts.dataDir,
    xeroLimits: opts.xeroLimits,
    envFor: (url) => {
      const app = b24.registerApp({ handlerUrl: `${url}/app`, installUrl: `${url}/install` });
      return { B24_CLIENT_ID: app.clientId, B24_CLIENT_SECRET: app.clientSecret, B24_OAUTH_URL: b24.baseUrl };
    },
  });
  const installed = await b24.install({ userId: 1 });
  if (installed.status !== 200) throw new Error(`install failed: ${installed.body}`);
  b24.finishInstall();
  const memberId = b24.memberId;
  const ticket = await c.services.connectXero.begin(memberId, 1);
  await consentAndConfirm(c.url, `${c.url}/xero/start?ticket=${encodeURIComponent(ticket)}`);
  const connectionId = (await c.store.connections.listForPortal(memberId))[0].id;
  // The organisation's lists are read on connect (the org-data job), as the running outbox would.
  await c.services.outbox.drain();
  if (!opts.fresh) await updatePortalSettings(c.store, memberId, { defaultSalesAccount: '200', taxRateMap: NZ_TAX_MAP, ...opts.settings });
  const settle = async () => {
    for (let i = 0; i < 20; i++) {
      await b24.flushEvents();
      await c.services.outbox.drain();
      await b24.flushEvents();
      if ((await c.store.jobs.countByState(memberId)).pending === 0) return;
    }
  };
  return {
    b24, xero, c, tenantId, memberId, connectionId, settle,
    async close() {
      await c.close();
      if (!opts.b24) await b24.close();
      if (!opts.xero) await xero.close();
    },
  };
}
