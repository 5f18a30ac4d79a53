/**
 * Standalone emulator: `npm run emulate:bitrix24 -- --port PORT [--handler-url URL] [--install-url URL]`.
 * Seeds a demo portal with the app installed and prints one JSON line with everything a client needs.
 */
import { startBitrix24Emulator } from './index.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i !== -1 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const emu = await startBitrix24Emulator({ port: Number.parseInt(arg('port', '0'), 10), seedDemo: true });
const handlerUrl = arg('handler-url', 'http://127.0.0.1:3000/b24/app');
const { clientId, clientSecret } = emu.registerApp({ handlerUrl, installUrl: arg('install-url', handlerUrl.replace(/\/app$/, '/install')), scopes: ['crm', 'placement', 'catalog', 'userfieldconfig', 'user'] });
const { accessToken, refreshToken, applicationToken } = emu.installSilently({ userId: 1 });
process.stdout.write(JSON.stringify({ baseUrl: emu.baseUrl, clientEndpoint: emu.clientEndpoint, memberId: emu.memberId, clientId, clientSecret, accessToken, refreshToken, applicationToken, portal: `${emu.baseUrl}/portal` }) + '\n');
const stop = () => void emu.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
