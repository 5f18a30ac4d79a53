import { after, afterEach, before, beforeEach } from 'node:test';
import { startBitrix24Emulator, type Bitrix24Emulator } from '../emulators/bitrix24/index.js';
import { startXeroEmulator, type XeroEmulator } from '../emulators/xero/index.js';
import { startConnector, type TestConnector } from './connector.js';

/**
 * The connector registered as a local application in the emulated portal and installed by its admin (no Xero
 * connection yet). `session(userId)` is the page session that user's app page would hand its scripts.
 */
export async function startInstalledConnector(b24: Bitrix24Emulator, xero?: XeroEmulator): Promise<{ c: TestConnector; session(userId: number): string }> {
  const c = await startConnector({
    xero,
    envFor: (url) => {
      const app = b24.registerApp({ handlerUrl: `${url}/app`, installUrl: `${url}/install` });
      return { B24_CLIENT_ID: app.clientId, B24_CLIENT_SECRET: app.clientSecret, B24_OAUTH_URL: b24.baseUrl };
    },
  });
  const installed = await b24.install({ userId: 1 });
  if (installed.status !== 200) throw new Error(`install failed: ${installed.body}`);
  b24.finishInstall();
  return {
    c,
    session(userId) {
      const user = b24.portal.user(userId);
      return c.services.sessions.issue({ memberId: b24.memberId, userId, isAdmin: user.admin, userName: user.name, authId: b24.frameAuth(userId).AUTH_ID });
    },
  };
}

/** What installedPortalPerTest gives each test. */
export interface InstalledPortalBed {
  xero: XeroEmulator;
  b24: Bitrix24Emulator;
  c: TestConnector;
  session(userId: number): string;
  /** The Xero organisation the test may connect (not connected yet). */
  tenantId: string;
  memberId: string;
}

/**
 * Registers, in the calling describe(), the hooks that give every test both emulators reset, one Xero organisation
 * named `organisation` and a freshly installed connector (closed after the test). Read the bed's fields in tests.
 */
export function installedPortalPerTest(organisation: string): InstalledPortalBed {
  const bed = {} as InstalledPortalBed;
  before(async () => {
    bed.xero = await startXeroEmulator();
    bed.b24 = await startBitrix24Emulator();
  });
  after(async () => {
    await bed.xero.close();
    await bed.b24.close();
  });
  beforeEach(async () => {
    bed.xero.reset();
    bed.b24.reset();
    bed.tenantId = bed.xero.addOrganisation({ name: organisation });
    Object.assign(bed, await startInstalledConnector(bed.b24, bed.xero));
    bed.memberId = bed.b24.memberId;
  });
  afterEach(async () => bed.c.close());
  return bed;
}
