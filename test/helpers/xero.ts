// A connector-side Xero stack wired to the Xero emulator: store → connection → XeroConnections → gateway.
// Real xero-node end to end; only loopback traffic.
import { after } from 'node:test';
import { parseConfig, type Config } from '../../app/config.js';
import type { Store } from '../../app/store/index.js';
import { XeroConnections } from '../../app/xero/connections.js';
import { DEFAULT_XERO_LIMITS, XeroGateway, type XeroLimits } from '../../app/xero/gateway.js';
import { XeroIdentity } from '../../app/xero/identity.js';
import { startXeroEmulator, type XeroEmulator, type XeroEmulatorOptions } from '../emulators/xero/index.js';
import { captureLogger } from './log-capture.js';
import { testStore } from './store.js';
import { tempDir } from './tmp.js';

export interface XeroTestbed {
  emu: XeroEmulator;
  store: Store;
  config: Config;
  connections: XeroConnections;
  gateway: XeroGateway;
  memberId: string;
  connectionId: number;
  /** The emulated organisation the connection is authorised for. */
  tenantId: string;
  /** Log lines of the connector side. */
  logLines: string[];
}

export interface XeroTestbedOptions {
  /** Emulator options. (Default: { seedDemo: true }) */
  emulator?: XeroEmulatorOptions;
  /** Portal member id. (Default: 'portal-1') */
  memberId?: string;
  /** Gateway limits; back-off is short so fault tests stay quick. (Default: DEFAULT_XERO_LIMITS with backoffMs 5, attempts 6) */
  limits?: Partial<XeroLimits>;
}

/**
 * Starts an emulator (demo organisation seeded unless told otherwise), stores a portal and an active connection
 * holding tokens the emulator issued, and builds the connector's connections and gateway for it. Everything is
 * closed by node:test's `after` of the caller: call it at the top level of a test file (one bed per file) or inside
 * a test (one bed per test), not in a `before` hook (its `after` runs when the hook ends).
 */
export async function xeroTestbed(opts: XeroTestbedOptions = {}): Promise<XeroTestbed> {
  const emu = await startXeroEmulator(opts.emulator ?? { seedDemo: true });
  after(() => emu.close());
  const tenantId = emu.tenants()[0]?.tenantId ?? emu.seedDemoOrganisation();
  const memberId = opts.memberId ?? 'portal-1';
  const store = await testStore(memberId);
  const config = parseConfig({
    XERO_CLIENT_ID: emu.clientId,
    XERO_CLIENT_SECRET: emu.clientSecret,
    XERO_API_URL: emu.baseUrl,
    XERO_IDENTITY_URL: emu.baseUrl,
    XERO_LOGIN_URL: emu.baseUrl,
    DATA_DIR: tempDir(),
  });
  const tokens = emu.issueTokens([tenantId]);
  const connection = (await store.connections.upsert({
    memberId,
    tenantId,
    tenantName: emu.tenants().find((t) => t.tenantId === tenantId)?.tenantName ?? null,
    tenantType: 'ORGANISATION',
    xeroConnectionId: null,
    grantType: 'authorization_code',
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token,
    expiresAt: Math.floor(Date.now() / 1000) + tokens.expires_in,
    scope: null,
  }));
  const { logger, lines } = captureLogger();
  const connections = new XeroConnections(store, config, new XeroIdentity(config), logger);
  const gateway = new XeroGateway(connection.id, connections, logger, { ...DEFAULT_XERO_LIMITS, backoffMs: 5, attempts: 6, ...opts.limits });
  return { emu, store, config, connections, gateway, memberId, connectionId: connection.id, tenantId, logLines: lines };
}
