/**
 * Short-lived session tokens for the app's own pages. Bitrix24 frames our pages in an iframe, where
 * third-party cookies cannot be relied on, so a verified page hands its scripts a token that they send back
 * in the `X-Connector-Session` header.
 *
 * The token is sealed (AES-256-GCM, key from APP_SECRET, context bound as AAD): it carries the user's own Bitrix24
 * token, so page APIs ask the portal with the user's rights (what they may read, whether they are still an admin).
 * Every request re-checks that the portal is still installed; every admin request re-confirms admin rights with
 * the portal, so a session stops working once its portal is uninstalled or its user lost admin rights.
 */
import { clock } from './clock.js';
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { confirmUser } from './bitrix/request-auth.js';
import { AppError, forbidden, unauthorized } from './errors.js';
import type { Portal } from './store/portals.js';
import type { Store } from './store/index.js';

/** Lifetime of a page session; a reload in Bitrix24 issues a new one. (Default: 10 minutes) */
export const SESSION_TTL_MS = 10 * 60_000;

const PREFIX = 's2.';
const AAD = Buffer.from('bitrix24-xero-connector/page-session/v2');

export interface PageSession {
  memberId: string;
  userId: number;
  isAdmin: boolean;
  userName: string;
  /** The user's Bitrix24 access token (AUTH_ID) the page was opened with; sealed inside the session. */
  authId: string;
  /** Unix ms. */
  expiresAt: number;
}

export class SessionTokens {
  readonly #key: Buffer;

  constructor(
    appSecret: string,
    private readonly deps: { store: Store; appClientId: string | undefined },
  ) {
    this.#key = Buffer.from(hkdfSync('sha256', appSecret, 'bitrix24-xero-connector', 'page-sessions/v2', 32));
  }

  issue(s: Omit<PageSession, 'expiresAt'>, now = clock.now()): string {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce);
    cipher.setAAD(AAD);
    const body = Buffer.concat([cipher.update(JSON.stringify({ ...s, expiresAt: now + SESSION_TTL_MS }), 'utf8'), cipher.final()]);
    return PREFIX + Buffer.concat([nonce, cipher.getAuthTag(), body]).toString('base64url');
  }

  verify(token: string | undefined, now = clock.now()): PageSession {
    if (!token) throw unauthorized('This request has no app session. Reopen the app from Bitrix24.');
    if (!token.startsWith(PREFIX) || token.length > 8192) throw unauthorized('The app session is malformed. Reopen the app from Bitrix24.');
    const raw = Buffer.from(token.slice(PREFIX.length), 'base64url');
    let session: PageSession;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, 12), { authTagLength: 16 });
      decipher.setAAD(AAD);
      decipher.setAuthTag(raw.subarray(12, 28));
      session = JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')) as PageSession;
    } catch {
      throw unauthorized('The app session is not valid. Reopen the app from Bitrix24.');
    }
    if (session.expiresAt < now) {
      throw new AppError('AUTH.SESSION_EXPIRED', 'The app session has expired. Reload the page in Bitrix24.', 401);
    }
    return session;
  }

  /** A valid session whose portal is still installed; for `admin`, one whose user the portal still confirms as admin. */
  async authorize(token: string | undefined, options: { admin?: boolean } = {}): Promise<{ session: PageSession; portal: Portal }> {
    const session = this.verify(token);
    const portal = await this.deps.store.portals.get(session.memberId);
    if (!portal || portal.state === 'uninstalled') {
      throw unauthorized('The connector is no longer installed on this Bitrix24 portal.');
    }
    if (options.admin) {
      if (!session.isAdmin) throw forbidden('Only a Bitrix24 portal administrator can change the connector\'s settings.');
      // Admin rights can be taken away at any time: the portal confirms them again for every change.
      const user = await confirmUser(portal.clientEndpoint, session.authId, this.deps.appClientId);
      if (!user.isAdmin || user.id !== session.userId) {
        throw forbidden('Bitrix24 no longer lists you as a portal administrator, so the connector\'s settings cannot be changed.');
      }
    }
    return { session, portal };
  }
}
