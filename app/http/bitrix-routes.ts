/**
 * What Bitrix24 calls: the installer (UI POST or API-only ONAPPINSTALL) and the event handler.
 * Every event is verified against the stored application token before anything is stored.
 */
import { Router, type Request } from 'express';
import { z } from 'zod';
import { AppError, badRequest } from '../errors.js';
import type { Services } from '../services.js';
import { parseEvent, verifyEvent, confirmUser, sameSecret } from '../bitrix/request-auth.js';
import { intakeEvent } from '../sync/intake.js';
import type { InstallInput } from '../sync/install-portal.js';
import { originOf, renderPage } from './pages.js';

const installerPost = z.object({
  AUTH_ID: z.string().min(1),
  AUTH_EXPIRES: z.coerce.number().int().positive().default(3600),
  REFRESH_ID: z.string().min(1),
  SERVER_ENDPOINT: z.string().default('https://oauth.bitrix.info/rest/'),
  APPLICATION_TOKEN: z.string().min(1),
  APPLICATION_SCOPE: z.string().optional(),
  member_id: z.string().min(1),
});
const installerQuery = z.object({
  DOMAIN: z.string().regex(/^[A-Za-z0-9.-]+(:\d+)?$/, 'DOMAIN is not a host name'),
  PROTOCOL: z.enum(['0', '1']).default('1'),
});

/** Reads the installer POST (query DOMAIN/PROTOCOL, form AUTH_ID…); the client endpoint is built, not posted. */
function installerInput(req: Request): InstallInput {
  const body = installerPost.safeParse(req.body);
  const query = installerQuery.safeParse(req.query);
  if (!body.success || !query.success) {
    throw badRequest('This is not a Bitrix24 installer request: DOMAIN, AUTH_ID, REFRESH_ID, APPLICATION_TOKEN or member_id is missing.');
  }
  const b = body.data;
  const q = query.data;
  // Source: bitrix24-rest.md §6 — no client endpoint is posted; build it from PROTOCOL and DOMAIN.
  const clientEndpoint = `${q.PROTOCOL === '1' ? 'https' : 'http'}://${q.DOMAIN}/rest/`;
  return {
    memberId: b.member_id,
    domain: q.DOMAIN,
    clientEndpoint,
    serverEndpoint: b.SERVER_ENDPOINT,
    accessToken: b.AUTH_ID,
    refreshToken: b.REFRESH_ID,
    expiresAt: Math.floor(Date.now() / 1000) + b.AUTH_EXPIRES,
    applicationToken: b.APPLICATION_TOKEN,
    scope: b.APPLICATION_SCOPE ?? null,
  };
}

const apiInstall = z.object({
  event: z.literal('ONAPPINSTALL'),
  auth: z.object({
    access_token: z.string().min(1),
    refresh_token: z.string().min(1),
    expires: z.coerce.number().optional(),
    expires_in: z.coerce.number().default(3600),
    domain: z.string().min(1),
    client_endpoint: z.string().url(),
    server_endpoint: z.string().default('https://oauth.bitrix.info/rest/'),
    member_id: z.string().min(1),
    application_token: z.string().min(1),
    scope: z.string().optional(),
  }),
});

function apiInstallInput(body: unknown): InstallInput {
  const parsed = apiInstall.safeParse(body);
  if (!parsed.success) throw badRequest('The ONAPPINSTALL request lacks auth[access_token], auth[refresh_token], auth[client_endpoint] or auth[application_token].');
  const a = parsed.data.auth;
  return {
    memberId: a.member_id,
    domain: a.domain,
    clientEndpoint: a.client_endpoint.endsWith('/') ? a.client_endpoint : `${a.client_endpoint}/`,
    serverEndpoint: a.server_endpoint,
    accessToken: a.access_token,
    refreshToken: a.refresh_token,
    expiresAt: a.expires ?? Math.floor(Date.now() / 1000) + a.expires_in,
    applicationToken: a.application_token,
    scope: a.scope ?? null,
  };
}

/** Wait after ONAPPUPDATE before binding again, so the portal has finished dropping the old bindings. */
const REBIND_DELAY_MS = 2000;

export function bitrixRoutes(services: Services): Router {
  const router = Router();
  const { manifest, installPortal, store, logger, config } = services;

  router.post(manifest.install, async (req, res) => {
    if ((req.body as { event?: string } | undefined)?.event === 'ONAPPINSTALL') {
      const outcome = await installPortal.install(apiInstallInput(req.body));
      res.json({ installed: true, added: outcome.setup.added.length, problems: outcome.setup.problems });
      return;
    }
    const input = installerInput(req);
    const outcome = await installPortal.install(input);
    await renderPage(
      res,
      'install',
      {
        problems: outcome.setup.problems,
        added: outcome.setup.added.length,
        existing: outcome.setup.alreadyThere.length,
        customConnection: config.xero.grantType === 'client_credentials',
      },
      { portalOrigin: originOf(input.clientEndpoint) },
    );
  });

  router.post(manifest.events.ONCRMDYNAMICITEMADD ?? '/events', async (req, res) => {
    const event = parseEvent(req.body);
    switch (event.event) {
      case 'ONAPPUNINSTALL': {
        // No access token comes with this event: the application token is the only proof (bitrix24-rest.md §10).
        verifyEvent(store, event);
        const clean = String((event.data as { CLEAN?: unknown }).CLEAN ?? '0') === '1';
        installPortal.uninstall(event.auth.member_id, clean);
        break;
      }
      case 'ONAPPUPDATE': {
        // The update brings a new application token; accept it when it matches, or when the portal on
        // record confirms the event's access token.
        const portal = store.portals.get(event.auth.member_id);
        if (!portal || portal.state === 'uninstalled') throw new AppError('AUTH.UNAUTHORIZED', 'Unknown portal.', 401);
        if (!sameSecret(portal.applicationToken, event.auth.application_token)) {
          if (!event.auth.access_token) throw new AppError('AUTH.UNAUTHORIZED', 'The update is not signed by this portal.', 401);
          await confirmUser(portal.clientEndpoint, event.auth.access_token, services.config.bitrix.clientId).catch(() => {
            throw new AppError('AUTH.UNAUTHORIZED', 'The update is not signed by this portal.', 401);
          });
        }
        if (event.auth.access_token && event.auth.refresh_token) {
          store.portals.saveTokens(portal.memberId, {
            accessToken: event.auth.access_token,
            refreshToken: event.auth.refresh_token,
            expiresAt: Number(event.auth.expires ?? 0) || Math.floor(Date.now() / 1000) + Number(event.auth.expires_in ?? 3600),
          });
        }
        // Bitrix24 drops the app's bindings around an update (event-bind.md): bind again once it settled.
        store.transaction(() => {
          store.portals.setApplicationToken(portal.memberId, event.auth.application_token);
          store.jobs.enqueue({ memberId: portal.memberId, kind: 'portal-setup', key: `portal-setup:${portal.memberId}`, payload: { reason: 'updated' }, runAt: Date.now() + REBIND_DELAY_MS });
        });
        services.portals.forget(portal.memberId);
        services.outbox.wake();
        break;
      }
      default: {
        const portal = verifyEvent(store, event);
        if (intakeEvent(store, portal.memberId, event)) services.outbox.wake();
      }
    }
    logger.debug({ event: event.event, memberId: event.auth.member_id }, 'event accepted');
    res.json({ ok: true });
  });

  return router;
}
