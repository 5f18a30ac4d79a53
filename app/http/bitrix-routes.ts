/**
 * What Bitrix24 calls: the installer (UI POST or API-only ONAPPINSTALL) and the event handler.
 * Nothing a request names is trusted: installs and updates are proven through Bitrix24's OAuth server
 * (sync/install-portal.ts), events must carry the stored application token and are only hints (documents are
 * re-read, deletions and uninstalls confirmed with the portal), and replays are ignored (bitrix/replay-guard.ts).
 * No request makes the connector call a host it names.
 */
import { Router } from 'express';
import { z } from 'zod';
import { badRequest } from '../errors.js';
import type { Services } from '../services.js';
import { parseEvent, verifyEvent } from '../bitrix/request-auth.js';
import { ReplayGuard } from '../bitrix/replay-guard.js';
import { intakeEvent, isLikelyEcho } from '../sync/intake.js';
import type { InstallClaim } from '../sync/install-portal.js';
import { originOf, renderPage } from './pages.js';

const installerPost = z.object({
  AUTH_ID: z.string().min(1),
  REFRESH_ID: z.string().min(1),
  APPLICATION_TOKEN: z.string().min(1),
  member_id: z.string().min(1),
});

/** Reads the installer POST. DOMAIN, PROTOCOL and SERVER_ENDPOINT are not read: the OAuth server names the portal. */
function installerClaim(body: unknown): InstallClaim {
  const parsed = installerPost.safeParse(body);
  if (!parsed.success) {
    throw badRequest('This is not a Bitrix24 installer request: AUTH_ID, REFRESH_ID, APPLICATION_TOKEN or member_id is missing.');
  }
  const b = parsed.data;
  return { memberId: b.member_id, refreshToken: b.REFRESH_ID, applicationToken: b.APPLICATION_TOKEN };
}

const apiInstall = z.object({
  event: z.literal('ONAPPINSTALL'),
  auth: z.object({
    refresh_token: z.string().min(1),
    member_id: z.string().min(1),
    application_token: z.string().min(1),
  }),
});

function apiInstallClaim(body: unknown): InstallClaim {
  const parsed = apiInstall.safeParse(body);
  if (!parsed.success) throw badRequest('The ONAPPINSTALL request lacks auth[refresh_token], auth[member_id] or auth[application_token].');
  const a = parsed.data.auth;
  return { memberId: a.member_id, refreshToken: a.refresh_token, applicationToken: a.application_token };
}

export function bitrixRoutes(services: Services): Router {
  const router = Router();
  const { manifest, installPortal, store, logger, config } = services;
  const replays = new ReplayGuard();

  router.post(manifest.install, async (req, res) => {
    if ((req.body as { event?: string } | undefined)?.event === 'ONAPPINSTALL') {
      const outcome = await installPortal.install(apiInstallClaim(req.body));
      res.json({ installed: true, added: outcome.setup.added.length, problems: outcome.setup.problems });
      return;
    }
    const outcome = await installPortal.install(installerClaim(req.body));
    await renderPage(
      res,
      'install',
      {
        problems: outcome.setup.problems,
        added: outcome.setup.added.length,
        existing: outcome.setup.alreadyThere.length,
        customConnection: config.xero.grantType === 'client_credentials',
      },
      { portalOrigin: originOf(outcome.portal.clientEndpoint) },
    );
  });

  router.post(manifest.events.ONCRMDYNAMICITEMADD ?? '/events', async (req, res) => {
    const event = parseEvent(req.body);
    const ignore = (reason: 'stale' | 'repeat') => {
      logger.info({ event: event.event, memberId: event.auth.member_id, reason }, 'event ignored');
      res.json({ ok: true, ignored: reason });
    };
    if (event.event === 'ONAPPUPDATE') {
      // Checked before the update is verified: verification renews the posted refresh token.
      const verdict = replays.check(event);
      if (verdict !== 'fresh') return ignore(verdict);
      await installPortal.update(event);
      replays.remember(event);
      services.outbox.wake();
    } else {
      // No access token comes with ONAPPUNINSTALL: the application token is its only signature (bitrix24-rest.md §10).
      const portal = verifyEvent(store, event);
      const verdict = replays.check(event);
      if (verdict !== 'fresh') return ignore(verdict);
      if (event.event === 'ONAPPUNINSTALL') {
        replays.remember(event);
        const clean = String((event.data as { CLEAN?: unknown }).CLEAN ?? '0') === '1';
        if ((await installPortal.uninstallIfConfirmed(portal.memberId, clean)) === 'unconfirmed') services.outbox.wake();
      } else {
        // Stored before the answer: a refused write (locked, disk full) answers 503 and is not remembered as taken.
        const echo = isLikelyEcho(store, portal.memberId, event);
        // Unlinked documents are capped per portal and minute; what is dropped is counted, never stored.
        if (intakeEvent(store, portal.memberId, event, { newDocumentsPerMinute: config.eventNewDocumentsPerMinute, metrics: services.metrics })) {
          store.faults.ok();
          services.outbox.wake(echo ? 'echo' : 'arrival');
        }
        replays.remember(event);
      }
    }
    logger.debug({ event: event.event, memberId: event.auth.member_id }, 'event accepted');
    res.json({ ok: true });
  });

  return router;
}
