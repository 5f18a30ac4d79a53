/**
 * Signed, short-lived session tokens for the app's own pages. Bitrix24 frames our pages in an iframe,
 * where third-party cookies cannot be relied on, so a verified page hands its scripts a token that
 * they send back in the `X-Connector-Session` header.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { AppError, forbidden, unauthorized } from '../errors.js';

/** Lifetime of a page session. (Default: 30 minutes) */
export const SESSION_TTL_MS = 30 * 60_000;

export interface PageSession {
  memberId: string;
  userId: number;
  isAdmin: boolean;
  userName: string;
  /** Unix ms. */
  expiresAt: number;
}

export class SessionTokens {
  readonly #key: Buffer;

  constructor(appSecret: string) {
    this.#key = Buffer.from(hkdfSync('sha256', appSecret, 'bitrix24-xero-connector', 'page-sessions/v1', 32));
  }

  issue(s: Omit<PageSession, 'expiresAt'>, now = Date.now()): string {
    const body = Buffer.from(JSON.stringify({ ...s, expiresAt: now + SESSION_TTL_MS })).toString('base64url');
    return `${body}.${this.sign(body)}`;
  }

  verify(token: string | undefined, now = Date.now()): PageSession {
    if (!token) throw unauthorized('This request has no app session. Reopen the app from Bitrix24.');
    const [body, sig] = token.split('.');
    if (!body || !sig) throw unauthorized('The app session is malformed. Reopen the app from Bitrix24.');
    const expected = Buffer.from(this.sign(body));
    const given = Buffer.from(sig);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw unauthorized('The app session is not valid. Reopen the app from Bitrix24.');
    }
    const session = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as PageSession;
    if (session.expiresAt < now) {
      throw new AppError('AUTH.SESSION_EXPIRED', 'The app session has expired. Reload the page in Bitrix24.', 401);
    }
    return session;
  }

  private sign(body: string): string {
    return createHmac('sha256', this.#key).update(body).digest('base64url');
  }
}

declare module 'express-serve-static-core' {
  interface Request {
    session?: PageSession;
  }
}

/** Accepts a request only with a valid page session (and an admin's, when `admin` is set). */
export function requireSession(tokens: SessionTokens, options: { admin?: boolean } = {}): RequestHandler {
  return (req, _res, next) => {
    const session = tokens.verify(req.get('x-connector-session'));
    if (options.admin && !session.isAdmin) {
      throw forbidden('Only a Bitrix24 portal administrator can change the connector\'s settings.');
    }
    req.session = session;
    next();
  };
}
