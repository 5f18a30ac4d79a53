/**
 * Requests that make the connector spend its client secret at Bitrix24's OAuth server before anything else about
 * them can be checked: an installer POST or API-only ONAPPINSTALL (a first install has no portal or application token
 * on record to compare with) and an ONAPPUPDATE that brings a new application token. The routes check first what can
 * be checked (the request's form, B24_PORTAL_URL against the domain it claims, the portal on record); what is left is
 * bounded here, per client address and per claimed `member_id` (express-rate-limit, fixed windows, in memory).
 *
 * A genuine install or update costs one request; an admin retrying a failed one, a few. The queue server that posts
 * ONAPPINSTALL and ONAPPUPDATE is one address for every portal, hence the wider per-address bound.
 */
import type { Request, RequestHandler, Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import { AppError } from '../errors.js';

const WINDOW_MS = 10 * 60_000;
/** OAuth-spending requests per client address in ten minutes. */
export const OAUTH_PER_ADDRESS = 30;
/** OAuth-spending requests per claimed member_id in ten minutes. */
export const OAUTH_PER_MEMBER = 10;

/** Takes one OAuth-spending request from the bounds of `req`'s address and of `memberId`; 429 when either is spent. */
export type OAuthThrottle = (req: Request, res: Response, memberId: string) => Promise<void>;

export function oauthThrottle(): OAuthThrottle {
  const refuse = (what: string): RequestHandler => (_req, _res, next) =>
    next(new AppError('HTTP.RATE_LIMITED', `Too many install or update attempts ${what}; nothing was checked. Wait ten minutes and try again.`, 429));
  const perAddress = rateLimit({ windowMs: WINDOW_MS, limit: OAUTH_PER_ADDRESS, standardHeaders: false, legacyHeaders: false, handler: refuse('from this address') });
  const perMember = rateLimit({
    windowMs: WINDOW_MS,
    limit: OAUTH_PER_MEMBER,
    standardHeaders: false,
    legacyHeaders: false,
    keyGenerator: (_req, res) => `member:${String(res.locals.oauthClaim)}`,
    handler: refuse('for this portal'),
  });
  const run = (limiter: RequestHandler, req: Request, res: Response) =>
    new Promise<void>((resolve, reject) => {
      void limiter(req, res, (err?: unknown) => (err ? reject(err) : resolve()));
    });
  return async (req, res, memberId) => {
    res.locals.oauthClaim = memberId;
    await run(perAddress, req, res);
    await run(perMember, req, res);
  };
}
