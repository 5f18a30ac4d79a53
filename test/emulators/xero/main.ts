// Standalone emulator: `npm run emulate:xero -- --port PORT` (`--port 0` picks a free one). Seeds a demo
// organisation and prints one JSON line with the credentials it accepts.
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
const webhookUrl = arg('webhook-url');
if (webhookUrl) emu.configureWebhook({ url: webhookUrl });
process.stdout.write(`${JSON.stringify({ baseUrl: emu.baseUrl, clientId: emu.clientId, clientSecret: emu.clientSecret, tenantId, webhookKey: emu.webhookKey })}\n`);

const stop = () => { void emu.close().then(() => process.exit(0)); };
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
