// Standalone emulator: `npm run emulate:xero -- --port PORT` (`--port 0` picks a free one). Seeds a demo
// organisation and prints one JSON line with the credentials it accepts.
// `--custom-connection`: the printed client is a Xero custom connection to the demo organisation, so the
// client_credentials grant gives a token (no refresh token, no xero-tenant-id needed), as
// https://developer.xero.com/documentation/guides/oauth2/custom-connections describes. The line then also carries
// `env`: the variables that point `npm start` at this emulator with XERO_GRANT_TYPE=client_credentials.
import { startXeroEmulator } from './index.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0) return process.argv[i + 1];
  const eq = process.argv.find((a) => a.startsWith(`--${name}=`));
  return eq?.slice(name.length + 3);
}

const emu = await startXeroEmulator({
  port: Number(arg('port') ?? 0),
  clientId: arg('client-id'), clientSecret: arg('client-secret'), webhookKey: arg('webhook-key'),
  seedDemo: true,
});
const tenantId = emu.tenants()[0].tenantId;
const custom = process.argv.includes('--custom-connection');
if (custom) emu.enableCustomConnection(tenantId);
const webhookUrl = arg('webhook-url');
if (webhookUrl) emu.configureWebhook({ url: webhookUrl });
const env = custom ? {
  XERO_GRANT_TYPE: 'client_credentials', XERO_CLIENT_ID: emu.clientId, XERO_CLIENT_SECRET: emu.clientSecret,
  XERO_API_URL: emu.baseUrl, XERO_IDENTITY_URL: emu.baseUrl, XERO_LOGIN_URL: emu.baseUrl, XERO_WEBHOOK_KEY: emu.webhookKey,
} : undefined;
process.stdout.write(`${JSON.stringify({ baseUrl: emu.baseUrl, clientId: emu.clientId, clientSecret: emu.clientSecret, tenantId, webhookKey: emu.webhookKey, customConnection: custom, env })}\n`);

const stop = () => { void emu.close().then(() => process.exit(0)); };
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
