/**
 * Guards in front of the routes: rate limits on the endpoints anyone can reach without a session, `no-store` on
 * every API answer, and one value per query parameter.
 *
 * Rate limits (express-rate-limit, per client address, fixed one-minute windows) are set far above what a
 * person, the test suite or the demo ever sends, and above Bitrix24's and Xero's bursts for event and webhook
 * deliveries, so they only stop floods: pages, installer and Xero consent 300/min; /health 600/min; Bitrix24
 * events and Xero webhooks 60,000/min (a portal's queue server is one address).
 */
import type { RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import { AppError } from '../errors.js';
import type { Manifest } from '../manifest.js';

const MINUTE = 60_000;

function limiter(limit: number): RequestHandler {
  return rateLimit({
    windowMs: MINUTE,
    limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    handler: (_req, res) => {
      res.status(429).json({ error: { code: 'HTTP.RATE_LIMITED', message: 'Too many requests from this address. Wait a minute and try again.' } });
    },
  });
}

/** The limiters per unauthenticated path. */
export function rateLimits(manifest: Manifest): Array<[string[], RequestHandler]> {
  const pages = [manifest.handler, manifest.install, ...Object.values(manifest.placements), '/xero/start', manifest.xeroRedirect, '/xero/confirm'];
  const deliveries = [...new Set(Object.values(manifest.events)), manifest.xeroWebhook];
  return [
    [[...new Set(pages)], limiter(300)],
    [['/health'], limiter(600)],
    [deliveries.filter((p) => !pages.includes(p)), limiter(60_000)],
  ];
}

/** API answers are per user and per moment: never cached by browsers or proxies. */
export const noStoreApi: RequestHandler = (req, res, next) => {
  if (req.path.startsWith('/api/')) res.set('Cache-Control', 'no-store');
  next();
};

/** `?a=1&a=2` is refused with 400 naming the parameter (routes read one value each). */
export const singleQueryValues: RequestHandler = (req, _res, next) => {
  const repeated = Object.entries(req.query).find(([, v]) => Array.isArray(v) || (v !== null && typeof v === 'object'));
  if (!repeated) return next();
  next(new AppError('HTTP.BAD_QUERY', `The query parameter "${repeated[0].slice(0, 60)}" is given more than once; give it once.`, 400));
};
