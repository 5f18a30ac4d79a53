/**
 * Xero identity: consent URL, code exchange, refresh, client credentials, revocation and the tenant list.
 * Built from the configured base URLs without `Issuer.discover` (no start-up call to Xero's real host).
 *
 * Timeouts: 15 s on every identity call. Retry policy: none here; a token call that fails for a network
 * reason is retried by the caller's next use, and `invalid_grant` is final (the connection needs reconnecting).
 */
import { clock } from '../clock.js';
import { custom, generators, Issuer, type BaseClient, type TokenSet } from 'openid-client';

/** A fresh PKCE code verifier (RFC 7636 §4.1: 43 base64url characters from 32 random bytes). */
export const newCodeVerifier = (): string => generators.codeVerifier();
import type { Config } from '../config.js';
import { AppError } from '../errors.js';

export const XERO_IDENTITY_TIMEOUT_MS = 15_000;

/** Granular scopes (docs/reference/xero.md#scopes): invoices, payments, contacts, settings, and a refresh token. */
export const XERO_SCOPES = 'offline_access accounting.invoices accounting.payments accounting.contacts accounting.settings';
/** Custom connections have no refresh token (developer.xero.com/faq/custom-integration). */
export const XERO_CUSTOM_SCOPES = 'accounting.invoices accounting.payments accounting.contacts accounting.settings';

export interface XeroTenant {
  id: string;
  tenantId: string;
  tenantName: string;
  tenantType: string;
}

export interface XeroTokens {
  accessToken: string;
  refreshToken: string | null;
  /** Unix seconds. */
  expiresAt: number;
  scope: string | null;
}

export class XeroIdentity {
  readonly #client: BaseClient;

  constructor(private readonly config: Config) {
    const { clientId, clientSecret, identityUrl, loginUrl } = config.xero;
    const issuer = new Issuer({
      issuer: identityUrl,
      authorization_endpoint: `${loginUrl}/identity/connect/authorize`,
      token_endpoint: `${identityUrl}/connect/token`,
      revocation_endpoint: `${identityUrl}/connect/revocation`,
    });
    this.#client = new issuer.Client({
      client_id: clientId ?? 'not-configured',
      client_secret: clientSecret ?? 'not-configured',
      redirect_uris: [this.redirectUri],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    });
    this.#client[custom.http_options] = (_url, options) => ({ ...options, timeout: XERO_IDENTITY_TIMEOUT_MS });
  }

  /** The openid-client instance, for xero-node's `openIdClient`. */
  get openIdClient(): BaseClient {
    return this.#client;
  }

  get redirectUri(): string {
    return `${this.config.publicUrl}/xero/callback`;
  }

  assertConfigured(): void {
    if (!this.config.xero.clientId || !this.config.xero.clientSecret) {
      throw new AppError(
        'XERO.NOT_CONFIGURED',
        'XERO_CLIENT_ID and XERO_CLIENT_SECRET are not set, so the connector cannot connect to Xero. Ask the person who runs the connector to set them.',
        503,
      );
    }
  }

  /** The consent page URL for the authorization code flow, with the PKCE challenge (S256) of `codeVerifier`. */
  // https://developer.xero.com/documentation/guides/oauth2/auth-flow
  // https://developer.xero.com/documentation/guides/oauth2/pkce-flow (code_challenge, code_challenge_method=S256)
  authorizeUrl(state: string, codeVerifier: string): string {
    this.assertConfigured();
    return this.#client.authorizationUrl({
      scope: XERO_SCOPES,
      state,
      response_type: 'code',
      code_challenge: generators.codeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    });
  }

  // https://developer.xero.com/documentation/guides/oauth2/auth-flow (exchange the code)
  // https://developer.xero.com/documentation/guides/oauth2/pkce-flow (code_verifier with the code)
  async exchangeCode(code: string, codeVerifier: string): Promise<XeroTokens> {
    this.assertConfigured();
    return this.call('code exchange', () => this.#client.oauthCallback(this.redirectUri, { code }, { code_verifier: codeVerifier }));
  }

  // https://developer.xero.com/documentation/guides/oauth2/auth-flow (refreshing access tokens)
  async refresh(refreshToken: string): Promise<XeroTokens> {
    this.assertConfigured();
    return this.call('token refresh', () => this.#client.refresh(refreshToken));
  }

  // https://developer.xero.com/documentation/guides/oauth2/custom-connections
  async clientCredentials(): Promise<XeroTokens> {
    this.assertConfigured();
    return this.call('client credentials grant', () =>
      this.#client.grant({ grant_type: 'client_credentials', scope: XERO_CUSTOM_SCOPES }),
    );
  }

  // https://developer.xero.com/documentation/guides/oauth2/auth-flow (revoking tokens)
  async revoke(refreshToken: string): Promise<void> {
    this.assertConfigured();
    await this.call('revocation', async () => {
      await this.#client.revoke(refreshToken, 'refresh_token');
      return null;
    });
  }

  /** The organisations a token may use. */
  // https://developer.xero.com/documentation/guides/oauth2/tenants
  async tenants(accessToken: string): Promise<XeroTenant[]> {
    const res = await fetch(`${this.config.xero.apiUrl}/connections`, {
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
      signal: AbortSignal.timeout(XERO_IDENTITY_TIMEOUT_MS),
    });
    if (!res.ok) {
      throw new AppError('XERO.CONNECTIONS_FAILED', `Xero did not list the authorised organisations (HTTP ${res.status}).`, 502, { status: res.status });
    }
    const list = (await res.json()) as XeroTenant[];
    return list.map((t) => ({ id: t.id, tenantId: t.tenantId, tenantName: t.tenantName, tenantType: t.tenantType }));
  }

  /** Removes one tenant connection of the app. */
  // https://developer.xero.com/documentation/guides/oauth2/tenants (DELETE /connections/{id})
  async deleteConnection(accessToken: string, xeroConnectionId: string): Promise<void> {
    const res = await fetch(`${this.config.xero.apiUrl}/connections/${encodeURIComponent(xeroConnectionId)}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${accessToken}` },
      signal: AbortSignal.timeout(XERO_IDENTITY_TIMEOUT_MS),
    });
    if (!res.ok && res.status !== 404) {
      throw new AppError('XERO.DISCONNECT_FAILED', `Xero did not remove the connection (HTTP ${res.status}).`, 502);
    }
  }

  private async call(what: string, fn: () => Promise<TokenSet | null>): Promise<XeroTokens> {
    let set: TokenSet | null;
    try {
      set = await fn();
    } catch (err) {
      throw identityError(what, err);
    }
    if (!set) return { accessToken: '', refreshToken: null, expiresAt: 0, scope: null };
    if (!set.access_token) throw new AppError('XERO.TOKEN_MISSING', `Xero's ${what} answer had no access token.`, 502);
    return {
      accessToken: set.access_token,
      refreshToken: set.refresh_token ?? null,
      // On the connector's clock, which decides when to renew (openid-client counts `expires_at` on the system clock).
      expiresAt: Math.floor(clock.now() / 1000) + (set.expires_in ?? 1800),
      scope: set.scope ?? null,
    };
  }
}

/** True when Xero says the refresh token (or code) is no longer valid: reconnecting is the only fix. */
export function isInvalidGrant(err: unknown): boolean {
  return err instanceof AppError && err.code === 'XERO.INVALID_GRANT';
}

function identityError(what: string, err: unknown): AppError {
  const e = err as { error?: string; error_description?: string; message?: string; name?: string };
  if (e?.error === 'invalid_grant') {
    return new AppError('XERO.INVALID_GRANT', `Xero no longer accepts this connection's authorisation (${what}).`, 401);
  }
  if (e?.error === 'invalid_client' || e?.error === 'unauthorized_client') {
    return new AppError('XERO.INVALID_CLIENT', 'Xero rejected the connector\'s client id or secret. Check XERO_CLIENT_ID and XERO_CLIENT_SECRET.', 502);
  }
  const reason = e?.error ?? e?.name ?? 'network error';
  return new AppError('XERO.IDENTITY_FAILED', `Xero's ${what} failed (${reason}). It will be tried again.`, 502);
}
