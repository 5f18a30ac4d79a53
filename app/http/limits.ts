/**
 * Limits of the HTTP side: the largest body, and the rate limits of the pages per page session and per portal user
 * (express-rate-limit, one-minute windows, counted in this process's memory). The per-address limits of what anyone
 * can reach without a session are in request-guards.ts.
 *
 * - every page API call (`/api/…` with a page session): per session and per user (all of their sessions and tabs);
 * - what costs a call elsewhere on every request (the PDF, the GL-code table and its bulk assignment, "Refresh from
 *   Xero", the backfill preview, opening a live stream): a smaller limit per user;
 * - page loads (the app page, card tabs, sliders): per Bitrix24 sign-in (`member_id` and `AUTH_ID` of the frame).
 * Each refusal is a 429 with `Retry-After` and words saying what was limited and when to try again: JSON for the
 * page APIs, a page for page loads (error-handler.ts answers by `Accept`).
 */
import { createHash } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import { AppError } from '../errors.js';
import type { Manifest } from '../manifest.js';
import type { PageSession, SessionTokens } from '../page-sessions.js';

/** Largest body accepted anywhere: Bitrix24 forms and Xero webhooks are far smaller. */
export const BODY_LIMIT = '1mb';

export interface PageLimits {
  /** Page API requests per page session a minute. (Default: 120) */
  session: number;
  /** Page API requests per portal user a minute, all sessions together. (Default: 300) */
  user: number;
  /** Requests per portal user a minute to what costs a Xero or Bitrix24 call each time. (Default: 30) */
  costly: number;
  /** Page loads per Bitrix24 sign-in a minute. (Default: 60) */
  pageLoads: number;
}

export const PAGE_LIMITS: PageLimits = { session: 120, user: 300, costly: 30, pageLoads: 60 };

const MINUTE = 60_000;

/** The page APIs that cost a call elsewhere on every request. */
const COSTLY = [/^\/api\/documents\/[^/]+\/[^/]+\/pdf$/, /^\/api\/products(\/account)?$/, /^\/api\/org-data\/refresh$/, /^\/api\/backfill\/preview$/, /^\/api\/live\//];

const digest = (s: string) => createHash('sha256').update(s).digest('base64url').slice(0, 22);

/** The page limiters, in the order the app mounts them: `api` before the routes, `pageLoads` after the body parsers. */
export function pageLimits(sessions: SessionTokens, manifest: Manifest, limits: PageLimits = PAGE_LIMITS): { api: RequestHandler[]; pageLoads: [string[], RequestHandler] } {
  const known = new WeakMap<Request, { token: string; session: PageSession } | null>();
  /** The request's page session when it is one (verified; the route checks its portal as before), else null. */
  const sessionOf = (req: Request) => {
    if (!known.has(req)) {
      const token = req.get('x-connector-session');
      let found: { token: string; session: PageSession } | null = null;
      try {
        if (token && req.path.startsWith('/api/')) found = { token, session: sessions.verify(token) };
      } catch {
        found = null; // the route refuses it with its reason
      }
      known.set(req, found);
    }
    return known.get(req)!;
  };
  const userKey = (req: Request) => `${sessionOf(req)!.session.memberId}:${sessionOf(req)!.session.userId}`;
  const api = [
    limiter(limits.session, (req) => `s:${digest(sessionOf(req)!.token)}`, (req) => !sessionOf(req), (n) => `Too many requests from this page (more than ${n} a minute).`),
    limiter(limits.user, userKey, (req) => !sessionOf(req), (n) => `Too many requests from your pages together (more than ${n} a minute).`),
    limiter(limits.costly, userKey, (req) => !sessionOf(req) || !COSTLY.some((r) => r.test(req.path)),
      (n) => `Too many PDFs, product lists, refreshes or live pages asked for (more than ${n} a minute); each one costs a call to Xero or Bitrix24.`),
  ];
  const pages = [manifest.handler, ...Object.values(manifest.placements)];
  const signIn = (req: Request) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    return typeof body.AUTH_ID === 'string' && typeof body.member_id === 'string' ? `${body.member_id}:${digest(body.AUTH_ID)}` : null;
  };
  const loads = limiter(limits.pageLoads, (req) => `p:${signIn(req)!}`, (req) => req.method !== 'POST' || !signIn(req), (n) => `Too many pages opened with this Bitrix24 sign-in (more than ${n} a minute).`);
  return { api, pageLoads: [[...new Set(pages)], loads] };
}

function limiter(limit: number, key: (req: Request) => string, skip: (req: Request) => boolean, words: (limit: number) => string): RequestHandler {
  return rateLimit({
    windowMs: MINUTE,
    limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    keyGenerator: key,
    skip,
    // Keys are sessions and users, never addresses.
    validate: { keyGeneratorIpFallback: false },
    handler: (req, _res, next) => {
      const reset = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime?.getTime() ?? Date.now() + MINUTE;
      const seconds = Math.max(1, Math.ceil((reset - Date.now()) / 1000));
      next(new AppError('HTTP.RATE_LIMITED', `${words(limit)} Wait ${seconds} s and try again.`, 429));
    },
  });
}
