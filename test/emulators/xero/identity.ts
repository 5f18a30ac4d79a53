// Xero identity: OAuth 2.0 token endpoint, authorize/consent, discovery, revocation, /connections.
// Source: docs/reference/xero.md#oauth, docs/reference/xero.md#tenants; xero-identity.yaml (/connections); developer.xero.com/faq/oauth2, /faq/custom-integration.
import { createHash, randomBytes } from 'node:crypto';
import type { Express, Request, Response } from 'express';
import express from 'express';
import { newId } from './xero-json.js';

export interface Grant { grantId: string; authEventId: string; tenantIds: string[]; scope: string }
export interface AccessToken { grantId?: string; tenantIds: string[]; expiresAt: number; custom: boolean }
interface RefreshToken { grantId: string; expiresAt: number; usedAt?: number; revoked: boolean }
interface AuthCode { tenantIds: string[]; scope: string; redirectUri: string; expiresAt: number; used: boolean; codeChallenge?: string }

export interface IdentityOptions {
  clientId: string; clientSecret: string; accessTokenTtlSeconds: number; refreshGraceSeconds: number;
  allTenantIds: () => string[]; tenantInfo: (tenantId: string) => { name: string; createdMs: number } | undefined;
  /** The emulator's clock (epoch ms), on which tokens and codes expire. */
  now: () => number;
}

const token = (prefix: string) => `${prefix}_${randomBytes(24).toString('base64url')}`;
// Source: docs/reference/xero.md#oauth (unused refresh tokens expire after 60 days; auth code lives 5 minutes, single-use (unverified)).
const REFRESH_TTL_MS = 60 * 24 * 3600 * 1000;
const CODE_TTL_MS = 5 * 60 * 1000;

export class Identity {
  grants = new Map<string, Grant>();
  accessTokens = new Map<string, AccessToken>();
  private refreshTokens = new Map<string, RefreshToken>();
  private codes = new Map<string, AuthCode>();
  /** Stable connection id per tenant for this app (GET /connections `id`). */
  connectionIds = new Map<string, string>();
  consentTenantIds?: string[];
  autoApprove = true;
  customTenantId?: string;
  grantCounts: Record<'authorization_code' | 'refresh_token' | 'client_credentials', number> = { authorization_code: 0, refresh_token: 0, client_credentials: 0 };
  deniedGrants = 0;
  /** How often each refresh token was presented (test inspection: a rotated token presented twice is a race). */
  refreshTokenUses = new Map<string, number>();
  /** Test control: a refresh request waits for this before it is looked at (to line up concurrent renewals). */
  refreshGate: (() => Promise<void>) | null = null;

  constructor(private readonly o: IdentityOptions) {}

  reset(): void {
    this.grants.clear(); this.accessTokens.clear(); this.refreshTokens.clear(); this.codes.clear(); this.connectionIds.clear();
    this.consentTenantIds = undefined; this.autoApprove = true; this.customTenantId = undefined;
    this.grantCounts = { authorization_code: 0, refresh_token: 0, client_credentials: 0 }; this.deniedGrants = 0;
    this.refreshTokenUses.clear(); this.refreshGate = null;
  }

  revokeRefreshTokens(): void { for (const rt of this.refreshTokens.values()) rt.revoked = true; }
  expireAccessTokens(): void { for (const at of this.accessTokens.values()) at.expiresAt = 0; }

  /** Access token check for the Accounting API. */
  check(bearer: string | undefined): { ok: true; token: AccessToken } | { ok: false; detail: 'AuthenticationUnsuccessful' | 'TokenExpired' } {
    const at = bearer ? this.accessTokens.get(bearer) : undefined;
    if (!at) return { ok: false, detail: 'AuthenticationUnsuccessful' };
    if (at.expiresAt <= this.o.now()) return { ok: false, detail: 'TokenExpired' };
    return { ok: true, token: at };
  }

  private connectionId(tenantId: string): string {
    let id = this.connectionIds.get(tenantId);
    if (!id) { id = newId(); this.connectionIds.set(tenantId, id); }
    return id;
  }

  private issue(grant: Grant | undefined, tenantIds: string[], custom: boolean, withRefresh: boolean, scope: string) {
    const access = token('at');
    this.accessTokens.set(access, { grantId: grant?.grantId, tenantIds, expiresAt: this.o.now() + this.o.accessTokenTtlSeconds * 1000, custom });
    const body: Record<string, unknown> = { access_token: access, expires_in: this.o.accessTokenTtlSeconds, token_type: 'Bearer', scope };
    if (withRefresh && grant) {
      const refresh = token('rt');
      this.refreshTokens.set(refresh, { grantId: grant.grantId, expiresAt: this.o.now() + REFRESH_TTL_MS, revoked: false });
      body.refresh_token = refresh;
    }
    // No id_token: openid-client would validate its signature (docs/reference/xero.md#local-fakes: the fake's token endpoint leaves it out).
    return body;
  }

  private clientAuth(req: Request, form: URLSearchParams): boolean {
    // Source: docs/reference/xero.md#oauth (token URL with Basic auth client_id:client_secret, form body).
    const h = req.headers.authorization;
    if (h?.startsWith('Basic ')) {
      const [id, ...rest] = Buffer.from(h.slice(6), 'base64').toString('utf8').split(':');
      return decodeURIComponent(id) === this.o.clientId && decodeURIComponent(rest.join(':')) === this.o.clientSecret;
    }
    return form.get('client_id') === this.o.clientId && form.get('client_secret') === this.o.clientSecret;
  }

  mount(app: Express, baseUrl: () => string): void {
    const form = express.text({ type: () => true, limit: '1mb' });

    // Discovery document for openid-client's Issuer.discover(baseUrl). Source: docs/reference/xero.md#xero-node (initialize()).
    app.get('/.well-known/openid-configuration', (_req, res) => {
      const b = baseUrl();
      res.json({
        issuer: b, authorization_endpoint: `${b}/identity/connect/authorize`, token_endpoint: `${b}/connect/token`,
        revocation_endpoint: `${b}/connect/revocation`, jwks_uri: `${b}/.well-known/openid-configuration/jwks`,
        userinfo_endpoint: `${b}/connect/userinfo`, response_types_supported: ['code'], grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
        subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        scopes_supported: ['openid', 'profile', 'email', 'offline_access', 'accounting.transactions', 'accounting.contacts', 'accounting.settings', 'accounting.invoices', 'accounting.payments'],
      });
    });
    app.get('/.well-known/openid-configuration/jwks', (_req, res) => { res.json({ keys: [] }); });

    // Authorize: consent screen that redirects back with code and state. Source: docs/reference/xero.md#oauth (authorize URL).
    app.get('/identity/connect/authorize', (req, res) => {
      const q = req.query as Record<string, string>;
      if (q.client_id !== this.o.clientId) { res.status(400).type('text/plain').send('unauthorized_client'); return; }
      if (!q.redirect_uri || q.response_type !== 'code') { res.status(400).type('text/plain').send('invalid_request'); return; }
      // PKCE: Xero supports only S256 (developer.xero.com/documentation/guides/oauth2/pkce-flow); RFC 7636 §4.3.
      if (q.code_challenge !== undefined && (q.code_challenge_method !== 'S256' || !/^[A-Za-z0-9_-]{43}$/.test(q.code_challenge))) {
        res.status(400).type('text/plain').send('invalid_request'); return;
      }
      if (this.autoApprove) { res.redirect(302, this.approve(q)); return; }
      const tenants = (this.consentTenantIds ?? this.o.allTenantIds()).map((id) => this.o.tenantInfo(id)?.name ?? id);
      const hidden = ['client_id', 'redirect_uri', 'scope', 'state', 'response_type', 'code_challenge', 'code_challenge_method'].filter((k) => q[k] !== undefined).map((k) => `<input type="hidden" name="${k}" value="${escapeHtml(q[k] ?? '')}">`).join('');
      res.type('html').send(`<!doctype html><html><head><title>Xero | Authorise</title></head><body><h1>Allow access to your Xero organisations</h1>
<ul>${tenants.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>
<form method="post" action="/identity/connect/authorize">${hidden}<button type="submit" id="approve">Allow access</button></form></body></html>`);
    });
    app.post('/identity/connect/authorize', express.urlencoded({ extended: false }), (req, res) => {
      res.redirect(302, this.approve(req.body as Record<string, string>));
    });

    app.post('/connect/token', form, async (req, res) => {
      const f = new URLSearchParams(typeof req.body === 'string' ? req.body : '');
      if (f.get('grant_type') === 'refresh_token' && this.refreshGate) await this.refreshGate();
      const grantType = f.get('grant_type') ?? '';
      const deny = (status: number, error: string) => { this.deniedGrants += 1; res.status(status).json({ error }); };
      if (!this.clientAuth(req, f)) { deny(401, 'invalid_client'); return; }
      if (grantType === 'authorization_code') {
        const c = this.codes.get(f.get('code') ?? '');
        if (!c || c.used || c.expiresAt < this.o.now() || (c.redirectUri !== (f.get('redirect_uri') ?? c.redirectUri))) { deny(400, 'invalid_grant'); return; }
        // PKCE (RFC 7636 §4.6): BASE64URL(SHA256(code_verifier)) must equal the code_challenge sent to authorize;
        // a verifier is 43–128 unreserved characters (RFC 7636 §4.1). A code issued with a challenge needs its verifier.
        if (c.codeChallenge !== undefined) {
          const verifier = f.get('code_verifier') ?? '';
          if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || createHash('sha256').update(verifier).digest('base64url') !== c.codeChallenge) {
            c.used = true;
            deny(400, 'invalid_grant'); return;
          }
        }
        c.used = true;
        const grant: Grant = { grantId: newId(), authEventId: newId(), tenantIds: c.tenantIds, scope: c.scope };
        this.grants.set(grant.grantId, grant);
        this.grantCounts.authorization_code += 1;
        res.json(this.issue(grant, grant.tenantIds, false, c.scope.split(/\s+/).includes('offline_access'), c.scope));
        return;
      }
      if (grantType === 'refresh_token') {
        // Rotation: every use issues a new refresh token; the previous one may be retried for the grace period
        // (30 min at Xero), then invalid_grant. Source: docs/reference/xero.md#oauth (rotated on every refresh; rotation grace).
        const presented = f.get('refresh_token') ?? '';
        this.refreshTokenUses.set(presented, (this.refreshTokenUses.get(presented) ?? 0) + 1);
        const rt = this.refreshTokens.get(presented);
        const now = this.o.now();
        if (!rt || rt.revoked || rt.expiresAt < now || (rt.usedAt !== undefined && now - rt.usedAt > this.o.refreshGraceSeconds * 1000)) { deny(400, 'invalid_grant'); return; }
        rt.usedAt ??= now;
        const grant = this.grants.get(rt.grantId);
        if (!grant) { deny(400, 'invalid_grant'); return; }
        this.grantCounts.refresh_token += 1;
        res.json(this.issue(grant, grant.tenantIds, false, true, grant.scope));
        return;
      }
      if (grantType === 'client_credentials') {
        // Custom connection: one organisation, no refresh token, no tenant header needed. Source: docs/reference/xero.md#custom-connections.
        if (!this.customTenantId) { deny(400, 'unauthorized_client'); return; }
        this.grantCounts.client_credentials += 1;
        const scope = f.get('scope') ?? f.get('scopes') ?? '';
        res.json(this.issue(undefined, [this.customTenantId], true, false, scope.replace(/,/g, ' ')));
        return;
      }
      deny(400, 'unsupported_grant_type');
    });

    // Revocation (unverified URL, docs/reference/xero.md#oauth): revoking a refresh token revokes the whole grant's refresh tokens.
    app.post('/connect/revocation', form, (req, res) => {
      const f = new URLSearchParams(typeof req.body === 'string' ? req.body : '');
      if (!this.clientAuth(req, f)) { res.status(401).json({ error: 'invalid_client' }); return; }
      const rt = this.refreshTokens.get(f.get('token') ?? '');
      if (rt) for (const other of this.refreshTokens.values()) if (other.grantId === rt.grantId) other.revoked = true;
      const at = this.accessTokens.get(f.get('token') ?? '');
      if (at) at.expiresAt = 0;
      res.status(200).end();
    });

    // GET /connections. Source: xero-identity.yaml (Connection: id, tenantId, authEventId, tenantType, tenantName,
    // createdDateUtc, updatedDateUtc); optional query authEventId.
    app.get('/connections', (req, res) => {
      const v = this.check(bearerOf(req));
      if (!v.ok) { res.status(401).json({ Title: 'Unauthorized', Status: 401, Detail: v.detail }); return; }
      const grant = v.token.grantId ? this.grants.get(v.token.grantId) : undefined;
      const authEventId = (req.query.authEventId as string | undefined) ?? undefined;
      if (authEventId && grant?.authEventId !== authEventId) { res.json([]); return; }
      res.json(v.token.tenantIds.filter((id) => this.o.tenantInfo(id)).map((id) => {
        const info = this.o.tenantInfo(id)!;
        return { id: this.connectionId(id), authEventId: grant?.authEventId ?? newId(), tenantId: id, tenantType: 'ORGANISATION', tenantName: info.name,
          createdDateUtc: new Date(info.createdMs).toISOString(), updatedDateUtc: new Date(info.createdMs).toISOString() };
      }));
    });
    // DELETE /connections/{id}: disconnects one tenant. Source: xero-identity.yaml; docs/reference/xero.md#tenants.
    app.delete('/connections/:id', (req, res) => {
      const v = this.check(bearerOf(req));
      if (!v.ok) { res.status(401).json({ Title: 'Unauthorized', Status: 401, Detail: v.detail }); return; }
      const tenantId = [...this.connectionIds.entries()].find(([, c]) => c === req.params.id)?.[0];
      if (!tenantId) { res.status(404).end(); return; }
      this.disconnect(tenantId);
      res.status(204).end();
    });
  }

  /**
   * The organisation disconnected from the app (DELETE /connections/{id}, or a Xero user removing the app under
   * Settings → Connected apps): no token reaches it any more (403) and `GET /connections` leaves it out, until a new
   * consent connects it again. Source: xero-identity.yaml; docs/reference/xero.md#tenants.
   */
  disconnect(tenantId: string): void {
    for (const g of this.grants.values()) g.tenantIds = g.tenantIds.filter((t) => t !== tenantId);
    for (const at of this.accessTokens.values()) at.tenantIds = at.tenantIds.filter((t) => t !== tenantId);
    this.connectionIds.delete(tenantId);
  }

  /** Test shortcut: a consent + code exchange without HTTP. */
  issueDirect(tenantIds: string[]): { access_token: string; refresh_token: string; expires_in: number } {
    const grant: Grant = { grantId: newId(), authEventId: newId(), tenantIds: [...tenantIds], scope: 'offline_access accounting.transactions accounting.contacts accounting.settings' };
    this.grants.set(grant.grantId, grant);
    for (const id of tenantIds) this.connectionId(id);
    return this.issue(grant, grant.tenantIds, false, true, grant.scope) as { access_token: string; refresh_token: string; expires_in: number };
  }

  private approve(q: Record<string, string>): string {
    const code = token('code');
    const tenantIds = [...(this.consentTenantIds ?? this.o.allTenantIds())];
    this.codes.set(code, { tenantIds, scope: q.scope ?? '', redirectUri: q.redirect_uri, expiresAt: this.o.now() + CODE_TTL_MS, used: false, codeChallenge: q.code_challenge });
    for (const id of tenantIds) this.connectionId(id);
    const url = new URL(q.redirect_uri);
    url.searchParams.set('code', code);
    if (q.scope) url.searchParams.set('scope', q.scope);
    if (q.state !== undefined) url.searchParams.set('state', q.state);
    return url.toString();
  }
}

export function bearerOf(req: Request | { headers: Record<string, unknown> }): string | undefined {
  const h = req.headers.authorization;
  return typeof h === 'string' && h.startsWith('Bearer ') ? h.slice(7).trim() : undefined;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export type { Response };
