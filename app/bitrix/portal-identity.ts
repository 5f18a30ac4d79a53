/**
 * A portal's identity, proven by Bitrix24's OAuth server rather than claimed by a request.
 *
 * Installer posts, `ONAPPINSTALL` and `ONAPPUPDATE` name a portal (`member_id`, DOMAIN, `client_endpoint`), but
 * anyone can write those. What only Bitrix24 can do is renew a refresh token issued to this app: the connector sends
 * the posted refresh token with its client secret to `B24_OAUTH_URL` and takes `member_id` and `client_endpoint` from
 * the answer (the answer's `domain` names the OAuth server, so the portal's domain is the endpoint's host). The only
 * hosts this contacts are `B24_OAUTH_URL` and, afterwards, the endpoint it returned: a request can never make the
 * connector call a host it names. Source: docs/reference/bitrix24.md#oauth-tokens; fixture oauth.refresh.response.json.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { PortalTokens } from '../store/portals.js';

/** Milliseconds the OAuth server may take to answer. */
const OAUTH_TIMEOUT_MS = 15_000;

const tokenAnswer = z.object({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1),
  expires: z.coerce.number().optional(),
  expires_in: z.coerce.number().optional(),
  member_id: z.string().min(1),
  client_endpoint: z.string().min(1),
  server_endpoint: z.string().optional(),
  domain: z.string().optional(),
  scope: z.string().optional(),
  status: z.string().optional(),
  user_id: z.coerce.number().optional(),
});

export type OAuthTokenAnswer = z.infer<typeof tokenAnswer>;

/** What the OAuth server vouches for: the portal of a refresh token, and the fresh pair that replaced it. */
export interface VerifiedPortal {
  memberId: string;
  /** The endpoint's host (with port when not the default). */
  domain: string;
  /** Always ends in `/`. */
  clientEndpoint: string;
  tokens: PortalTokens;
  scope: string | null;
}

/**
 * Renews `refreshToken` at `${B24_OAUTH_URL}/oauth/token/` with the app's client secret (the token is single-use:
 * the answer's pair replaces it). Timeout 15 s; never retried, because a lost answer has already consumed the token.
 * Throws `B24.REFRESH_FAILED` (refused, 401) or `B24.OAUTH_UNREACHABLE` (502, transient).
 */
// https://apidocs.bitrix24.com/settings/oauth/index.html (refresh_token grant)
export async function refreshAtOAuthServer(bitrix: Config['bitrix'], refreshToken: string): Promise<OAuthTokenAnswer> {
  const { clientId, clientSecret, oauthUrl } = bitrix;
  if (!clientId || !clientSecret) {
    throw new AppError('B24.NOT_CONFIGURED', 'B24_CLIENT_ID and B24_CLIENT_SECRET are not set, so the connector cannot talk to Bitrix24.', 503);
  }
  let res: Response;
  try {
    res = await fetch(`${oauthUrl}/oauth/token/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: clientId, client_secret: clientSecret, refresh_token: refreshToken }),
      signal: AbortSignal.timeout(OAUTH_TIMEOUT_MS),
    });
  } catch {
    throw Object.assign(new AppError('B24.OAUTH_UNREACHABLE', 'The Bitrix24 OAuth server (B24_OAUTH_URL) could not be reached. Try again in a moment.', 502), { transient: true });
  }
  const body = (await res.json().catch(() => ({}))) as { error?: unknown };
  const parsed = tokenAnswer.safeParse(body);
  if (!res.ok || body.error || !parsed.success) {
    const reason = typeof body.error === 'string' ? body.error : `HTTP ${res.status}`;
    throw Object.assign(
      new AppError('B24.REFRESH_FAILED', `Bitrix24's OAuth server refused the app's refresh token (${reason}). Reinstall the app from the portal's Applications menu.`, 401, { reason }),
      { transient: false },
    );
  }
  return parsed.data;
}

/** Renews the posted refresh token and returns the portal the OAuth server names; 401 when it does not vouch. */
export async function verifyPortalTokens(bitrix: Config['bitrix'], refreshToken: string): Promise<VerifiedPortal> {
  const a = await refreshAtOAuthServer(bitrix, refreshToken);
  const endpoint = allowedEndpoint(a.client_endpoint, bitrix.allowInsecureLoopback);
  if (!endpoint) {
    throw new AppError('B24.ENDPOINT_REFUSED', 'The portal\'s REST endpoint is not an https:// address; the connector talks to Bitrix24 over HTTPS only (plain http on this machine only with ALLOW_INSECURE_LOOPBACK=1, for development).', 400);
  }
  return {
    memberId: a.member_id,
    domain: endpoint.host,
    clientEndpoint: endpoint.href.endsWith('/') ? endpoint.href : `${endpoint.href}/`,
    tokens: {
      accessToken: a.access_token,
      refreshToken: a.refresh_token,
      expiresAt: a.expires || Math.floor(Date.now() / 1000) + (a.expires_in ?? 3600),
    },
    scope: a.scope ?? null,
  };
}

/**
 * `https:` endpoints, and plain `http:` only on loopback addresses when `insecureLoopback` (ALLOW_INSECURE_LOOPBACK=1:
 * the emulators, the demo, the tests); anything else is refused.
 */
export function allowedEndpoint(raw: string, insecureLoopback: boolean): URL | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  if (url.username || url.password) return undefined;
  if (url.protocol === 'https:') return url;
  return insecureLoopback && url.protocol === 'http:' && isLoopback(url.hostname) ? url : undefined;
}

function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return isIP(h) === 6 && (h === '::1' || h === '0:0:0:0:0:0:0:1');
}

/** Whether `clientEndpoint` is the portal that B24_PORTAL_URL pins (same origin); true when nothing is pinned. */
export function isPinnedPortal(bitrix: Config['bitrix'], clientEndpoint: string): boolean {
  if (!bitrix.portalUrl) return true;
  return new URL(bitrix.portalUrl).origin === new URL(clientEndpoint).origin;
}

/**
 * A hint only, checked before the OAuth server is asked: whether a request that names a host (an installer's DOMAIN,
 * an event's `auth[client_endpoint]` or `auth[domain]`) names another one than B24_PORTAL_URL pins. It can only refuse
 * early; a request naming the pinned host, or none, is still verified by the OAuth server's answer.
 */
export function claimsOtherPortal(bitrix: Config['bitrix'], claimed: string | undefined): boolean {
  if (!bitrix.portalUrl || !claimed) return false;
  let host = claimed.trim().toLowerCase();
  try {
    if (/^[a-z][a-z0-9+.-]*:\/\//.test(host)) host = new URL(host).host;
  } catch {
    return true;
  }
  const pinned = new URL(bitrix.portalUrl);
  return host !== pinned.host.toLowerCase() && host !== pinned.hostname.toLowerCase();
}
