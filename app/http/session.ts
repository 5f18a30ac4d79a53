/** The page-session gate of the app's own page APIs: a request passes with a valid session (see page-sessions.ts). */
import type { RequestHandler } from 'express';
import type { PageSession, SessionTokens } from '../page-sessions.js';
import type { Portal } from '../store/portals.js';

declare module 'express-serve-static-core' {
  interface Request {
    session?: PageSession;
    sessionPortal?: Portal;
  }
}

/** Accepts a request only with a valid page session of an installed portal (and a confirmed admin's, when `admin`). */
export function requireSession(tokens: SessionTokens, options: { admin?: boolean } = {}): RequestHandler {
  return async (req, _res, next) => {
    const { session, portal } = await tokens.authorize(req.get('x-connector-session'), options);
    req.session = session;
    req.sessionPortal = portal;
    next();
  };
}
