// Shared helpers: a real xero-node client wired to the emulator (no network beyond loopback).
import { Issuer } from 'openid-client';
import { XeroClient } from 'xero-node';
import { startXeroEmulator, type XeroEmulator, type XeroEmulatorOptions } from '../emulators/xero/index.js';

export interface Connected { emu: XeroEmulator; xero: XeroClient; tenantId: string }

/** xero-node rejects with a JSON string (docs/reference/xero.md#xero-node); axios paths reject with AxiosError. */
export function parseXeroError(e: unknown): { status: number; headers: Record<string, string>; body: any } {
  if (typeof e === 'string') {
    try { const p = JSON.parse(e); return { status: p.response?.statusCode ?? 0, headers: p.response?.headers ?? {}, body: p.body ?? p.response?.body }; } catch { /* not JSON */ }
  }
  const a = e as any;
  if (a?.response?.status !== undefined) return { status: a.response.status, headers: a.response.headers ?? {}, body: a.response.data };
  if (a?.error) return { status: 400, headers: {}, body: { error: a.error } }; // openid-client OPError
  return { status: 0, headers: {}, body: String(a?.message ?? e) };
}

export async function rejection(p: Promise<unknown>): Promise<{ status: number; headers: Record<string, string>; body: any }> {
  try { await p; } catch (e) { return parseXeroError(e); }
  throw new Error('expected the call to fail');
}

/** A xero-node client whose token client and accountingApi point at the emulator (docs/reference/xero.md#local-fakes). */
export async function xeroClientFor(emu: XeroEmulator, scopes = ['offline_access', 'accounting.transactions', 'accounting.contacts', 'accounting.settings']): Promise<XeroClient> {
  const xero = new XeroClient({ clientId: emu.clientId, clientSecret: emu.clientSecret, redirectUris: ['http://localhost:5000/callback'], scopes, state: 'st-123' });
  const issuer = await Issuer.discover(emu.baseUrl);
  xero.openIdClient = new issuer.Client({ client_id: emu.clientId, client_secret: emu.clientSecret, redirect_uris: ['http://localhost:5000/callback'], response_types: ['code'] });
  xero.accountingApi.basePath = `${emu.baseUrl}/api.xro/2.0`;
  return xero;
}

/** Runs the consent flow over HTTP (authorize → 302 → code) and exchanges the code through xero-node. */
export async function consent(xero: XeroClient): Promise<string> {
  const url = await xero.buildConsentUrl();
  const res = await fetch(url, { redirect: 'manual' });
  const location = res.headers.get('location');
  if (res.status !== 302 || !location) throw new Error(`authorize answered ${res.status}`);
  await xero.apiCallback(location);
  return location;
}

export async function connected(opts: XeroEmulatorOptions = {}): Promise<Connected> {
  const emu = await startXeroEmulator(opts);
  const tenantId = emu.addOrganisation({ name: 'Test Org (NZ)' });
  const xero = await xeroClientFor(emu);
  await consent(xero);
  return { emu, xero, tenantId };
}

export async function api(emu: XeroEmulator, path: string, init: RequestInit & { token: string; tenantId?: string }): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${init.token}`);
  if (init.tenantId) headers.set('xero-tenant-id', init.tenantId);
  if (init.body && !headers.has('content-type')) headers.set('content-type', 'application/json');
  return fetch(`${emu.baseUrl}/api.xro/2.0${path}`, { ...init, headers });
}
