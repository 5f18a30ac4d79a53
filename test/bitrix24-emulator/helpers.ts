/** Shared set-up for the emulator's own tests: an emulator, an app with a capturing handler server, SDK clients. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import express from 'express';
import { B24OAuth, ParamsFactory } from '@bitrix24/b24jssdk';
import { startBitrix24Emulator, type Bitrix24Emulator, type StartOptions } from '../emulators/bitrix24/index.js';

export interface Received { path: string; contentType: string; raw: string; body: Record<string, unknown>; query: Record<string, unknown> }

/** A stand-in for the connector's HTTP side: records every POST; `/fail` answers 500. */
export async function startHandlerServer(): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const app = express();
  app.use(express.text({ type: 'application/x-www-form-urlencoded' }));
  app.post(/.*/, (req, res) => {
    const raw = String(req.body ?? '');
    const body = parseExtended(raw);
    received.push({ path: req.path, contentType: String(req.headers['content-type'] ?? ''), raw, body, query: req.query as Record<string, unknown> });
    res.status(req.path.endsWith('/fail') ? 500 : 200).send('ok');
  });
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, received, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

/** Decodes a form body the way `express.urlencoded({ extended: true })` does (independent of the emulator's encoder). */
export function parseExtended(raw: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    const path = k.replace(/\]/g, '').split('[');
    let node = out;
    path.forEach((seg, i) => {
      if (i === path.length - 1) node[seg] = v;
      else node = (node[seg] ??= {}) as Record<string, unknown>;
    });
  }
  return out;
}

export function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`../fixtures/bitrix24/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;
}

/** Sorted nested key paths of an object (`auth.member_id`, `data.FIELDS.ID`, …). */
export function keyPaths(o: unknown, prefix = ''): string[] {
  if (!o || typeof o !== 'object' || Array.isArray(o)) return [prefix];
  return Object.entries(o as Record<string, unknown>).flatMap(([k, v]) => keyPaths(v, prefix ? `${prefix}.${k}` : k)).sort();
}

export interface World {
  emu: Bitrix24Emulator;
  handler: Awaited<ReturnType<typeof startHandlerServer>>;
  clientId: string;
  clientSecret: string;
  close(): Promise<void>;
}

/** Emulator + registered app whose handler/installer live on the capturing server. */
export async function startWorld(opts: StartOptions & { scopes?: string[] } = {}): Promise<World> {
  const emu = await startBitrix24Emulator(opts);
  const handler = await startHandlerServer();
  const { clientId, clientSecret } = emu.registerApp({ handlerUrl: `${handler.url}/b24/app`, installUrl: `${handler.url}/b24/install`, scopes: opts.scopes ?? ['crm', 'placement', 'catalog', 'userfieldconfig'] });
  return { emu, handler, clientId, clientSecret, close: async () => { await emu.close(); await handler.close(); } };
}

/** A real B24OAuth client for a user of the emulated portal (client-side throttle off, fast retries). */
export function sdkClient(w: World, userId = 1, opts: { maxRetries?: number } = {}): { b24: B24OAuth; rotations: string[] } {
  const t = w.emu.issueTokens(userId);
  const rotations: string[] = [];
  const b24 = new B24OAuth(
    {
      applicationToken: w.emu.app()!.applicationToken ?? '', userId, memberId: w.emu.memberId, accessToken: t.accessToken, refreshToken: t.refreshToken,
      expires: t.expires, expiresIn: t.expiresIn, scope: 'crm,placement,catalog,userfieldconfig', domain: w.emu.domain,
      clientEndpoint: w.emu.clientEndpoint, serverEndpoint: `${w.emu.baseUrl}/rest/`, status: 'L',
    } as ConstructorParameters<typeof B24OAuth>[0],
    { clientId: w.clientId, clientSecret: w.clientSecret },
    { restrictionParams: { ...ParamsFactory.getDefault(), rateLimit: { burstLimit: 10000, drainRate: 10000, adaptiveEnabled: false }, maxRetries: opts.maxRetries ?? 1, retryDelay: 20 } },
  );
  b24.offClientSideWarning();
  b24.setCallbackRefreshAuth(async ({ b24OAuthParams }) => { rotations.push(b24OAuthParams.refreshToken); });
  return { b24, rotations };
}

/** Plain REST call (JSON body, like the SDK) returning status and body. */
export async function rest(emu: Bitrix24Emulator, method: string, params: Record<string, unknown>, token: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${emu.clientEndpoint}${method}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...params, auth: token }) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Empties the emulator, registers the app again (for `w.handler`) and installs it silently; returns the admin's token. */
export function reinstall(w: World): string {
  w.emu.reset();
  const reg = w.emu.registerApp({ handlerUrl: `${w.handler.url}/b24/app`, installUrl: `${w.handler.url}/b24/install` });
  w.clientId = reg.clientId;
  w.clientSecret = reg.clientSecret;
  return w.emu.installSilently({ userId: 1 }).accessToken;
}
