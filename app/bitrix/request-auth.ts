/**
 * Authenticating what claims to come from Bitrix24.
 *
 * Events: the `auth[application_token]` must equal the token stored for `auth[member_id]` (constant-time
 * compare). App pages and placements: the `member_id` must be a known portal and the posted `AUTH_ID` must be
 * confirmed by that portal as a token of this app (`app.info` CODE = B24_CLIENT_ID) and of a user (`profile`),
 * asked at the stored client endpoint, never the request's DOMAIN.
 * Source: docs/reference/bitrix24.md#events (authenticity) and
 * docs/reference/bitrix24.md#users-and-admin-rights (verify placements).
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { z } from 'zod';
import { AppError, unauthorized } from '../errors.js';
import type { Portal } from '../store/portals.js';
import type { Store } from '../store/index.js';
import { userBatch } from './document-access.js';

/**
 * A portal's member_id as Bitrix24 sends it (32 hex characters; letters, digits, `_.-` allowed): anything else is
 * refused before the store is asked (a NUL byte cannot even be compared on PostgreSQL).
 */
export const MEMBER_ID = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/);

/** Equal-length, constant-time comparison of two secrets (hashed first so lengths never leak). */
export function sameSecret(a: string | null | undefined, b: string | null | undefined): boolean {
  if (!a || !b) return false;
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

const eventSchema = z.object({
  event: z.string().min(1).transform((v) => v.toUpperCase()),
  event_handler_id: z.string().optional(),
  ts: z.string().optional(),
  data: z.record(z.string(), z.unknown()).optional().default({}),
  auth: z.object({
    member_id: MEMBER_ID,
    application_token: z.string().min(1),
    domain: z.string().optional(),
    client_endpoint: z.string().optional(),
    server_endpoint: z.string().optional(),
    access_token: z.string().optional(),
    refresh_token: z.string().optional(),
    expires: z.string().optional(),
    expires_in: z.string().optional(),
    scope: z.string().optional(),
    status: z.string().optional(),
    user_id: z.string().optional(),
  }),
});

export type B24Event = z.infer<typeof eventSchema>;

/** Parses an event POST (form fields as nested objects); 400 when it is not one. */
export function parseEvent(body: unknown): B24Event {
  const parsed = eventSchema.safeParse(body);
  if (!parsed.success) {
    // Without a member id and application token nothing can vouch for the request: it is unauthenticated.
    throw new AppError('AUTH.UNAUTHORIZED', 'This is not a signed Bitrix24 event: it lacks event, auth[member_id] or auth[application_token].', 401);
  }
  return parsed.data;
}

/** The portal an event belongs to, or 401 (unknown portal or wrong application token). */
export async function verifyEvent(store: Store, event: B24Event): Promise<Portal> {
  const portal = await store.portals.get(event.auth.member_id);
  if (!portal || portal.state === 'uninstalled' || !sameSecret(portal.applicationToken, event.auth.application_token)) {
    throw unauthorized('The event is not signed with this portal\'s application token.');
  }
  return portal;
}

const pageSchema = z.object({
  AUTH_ID: z.string().min(1),
  AUTH_EXPIRES: z.string().optional(),
  REFRESH_ID: z.string().optional(),
  member_id: MEMBER_ID,
  PLACEMENT: z.string().optional().default('DEFAULT'),
  PLACEMENT_OPTIONS: z.string().optional().default(''),
});

export interface PageUser {
  id: number;
  isAdmin: boolean;
  name: string;
}

export interface VerifiedPage {
  portal: Portal;
  user: PageUser;
  placement: string;
  /** PLACEMENT_OPTIONS parsed from its JSON string; {} when absent or unreadable. */
  options: Record<string, unknown>;
  /** The user's own access token, confirmed above: for checks of what this user may see (never stored or logged). */
  authId: string;
}

/**
 * Verifies an app page or placement POST; 401 when the portal or the user's token is not confirmed. The token
 * must be this app's (`appClientId`, i.e. B24_CLIENT_ID): another app's token on the same portal is refused.
 */
export async function verifyPage(store: Store, body: unknown, appClientId: string | undefined): Promise<VerifiedPage> {
  const parsed = pageSchema.safeParse(body);
  if (!parsed.success) {
    throw unauthorized('Open this page from Bitrix24: the request lacks the portal\'s AUTH_ID and member_id.');
  }
  const p = parsed.data;
  const portal = await store.portals.get(p.member_id);
  if (!portal || portal.state === 'uninstalled') {
    throw unauthorized('This Bitrix24 portal has not installed the connector.');
  }
  const user = await confirmUser(portal.clientEndpoint, p.AUTH_ID, appClientId);
  let options: Record<string, unknown> = {};
  try {
    const o = JSON.parse(p.PLACEMENT_OPTIONS || '{}') as unknown;
    if (o && typeof o === 'object') options = o as Record<string, unknown>;
  } catch {
    options = {};
  }
  return { portal, user, placement: p.PLACEMENT, options, authId: p.AUTH_ID };
}

const confirmAnswer = z.object({
  result: z.object({
    result: z.object({
      app: z.object({ CODE: z.string() }).passthrough(),
      user: z.object({
        ID: z.union([z.string(), z.number()]),
        ADMIN: z.union([z.boolean(), z.string()]).optional(),
        NAME: z.string().nullish(),
        LAST_NAME: z.string().nullish(),
      }).passthrough(),
    }),
  }),
});

/**
 * Asks the portal, in one batch with the token itself, which app the token was issued to (`app.info` → `CODE`,
 * a local application's client id) and who owns it (`profile`). A token of another app on the same portal, or
 * one the portal does not know, is refused. Timeout 10 s; no retry (the user can reload the page).
 */
// https://apidocs.bitrix24.com/api-reference/common/system/app-info.html
// https://apidocs.bitrix24.com/api-reference/common/users/profile.html
// https://apidocs.bitrix24.com/settings/how-to-call-rest-api/batch.html
export async function confirmUser(clientEndpoint: string, authId: string, appClientId: string | undefined): Promise<PageUser> {
  if (!appClientId) {
    throw new AppError('B24.NOT_CONFIGURED', 'B24_CLIENT_ID is not set, so no Bitrix24 session can be confirmed.', 503);
  }
  const res = await userBatch(clientEndpoint, authId, { app: 'app.info', user: 'profile' });
  const answer = confirmAnswer.safeParse(res.body);
  if (!res.ok || !answer.success) {
    throw unauthorized('Bitrix24 did not confirm your session. Reopen the app from the portal.');
  }
  const { app, user: r } = answer.data.result.result;
  if (!sameSecret(app.CODE, appClientId)) {
    throw unauthorized('This session belongs to another Bitrix24 application, not to the Xero connector. Reopen the connector from the portal.');
  }
  return {
    id: Number(r.ID),
    isAdmin: r.ADMIN === true || r.ADMIN === 'Y' || r.ADMIN === 'true',
    name: [r.NAME, r.LAST_NAME].filter(Boolean).join(' ') || `User ${r.ID}`,
  };
}
