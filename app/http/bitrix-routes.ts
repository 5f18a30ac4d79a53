/**
 * What Bitrix24 calls: the installer (UI POST or API-only ONAPPINSTALL) and the event handler.
 * Nothing a request names is trusted: installs and updates are proven through Bitrix24's OAuth server
 * (sync/install/install-portal.ts), events must carry the stored application token and are only hints (documents are
 * re-read, deletions and uninstalls confirmed with the portal), and replays are ignored (bitrix/replay-guard.ts).
 * No request makes the connector call a host it names.
 */
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { badRequest, forbidden } from '../errors.js';
import type { Services } from '../services.js';
import { MEMBER_ID, parseEvent, verifyEvent } from '../bitrix/request-auth.js';
import { ReplayGuard } from '../bitrix/replay-guard.js';
import { uninstallCleansData } from '../bitrix/events.js';
import { intakeEvent, isLikelyEcho } from '../sync/intake/intake.js';
import { portalNow } from '../sync/intake/install-time.js';
import type { InstallClaim } from '../sync/install/install-portal.js';
import { claimsOtherPortal } from '../bitrix/portal-identity.js';
import { oauthThrottle } from './oauth-throttle.js';
import { pickLanguage } from './i18n.js';
import { originOf, renderPage } from './pages.js';

/** Bitrix24's member_id (request-auth.ts); tokens are printable without spaces. Checked before any OAuth call. */
const memberIdField = MEMBER_ID;
const tokenField = z.string().regex(/^[\x21-\x7e]{1,512}$/);

const installerPost = z.object({
  AUTH_ID: tokenField,
  REFRESH_ID: tokenField,
  APPLICATION_TOKEN: tokenField,
  member_id: memberIdField,
  DOMAIN: z.string().optional(),
});

/**
 * Reads the installer POST. DOMAIN (query or form) is only a hint, compared with B24_PORTAL_URL before anything else;
 * PROTOCOL and SERVER_ENDPOINT are not read: the OAuth server names the portal.
 */
function installerClaim(body: unknown, query: Record<string, unknown>): InstallClaim & { claimedHost?: string } {
  const parsed = installerPost.safeParse(body);
  if (!parsed.success) {
    throw badRequest('This is not a Bitrix24 installer request: AUTH_ID, REFRESH_ID, APPLICATION_TOKEN or member_id is missing or malformed.');
  }
  const b = parsed.data;
  const domain = typeof query.DOMAIN === 'string' ? query.DOMAIN : b.DOMAIN;
  return { memberId: b.member_id, refreshToken: b.REFRESH_ID, applicationToken: b.APPLICATION_TOKEN, claimedHost: domain };
}

const apiInstall = z.object({
  event: z.literal('ONAPPINSTALL'),
  auth: z.object({
    refresh_token: tokenField,
    member_id: memberIdField,
    application_token: tokenField,
    client_endpoint: z.string().optional(),
    domain: z.string().optional(),
  }),
});

function apiInstallClaim(body: unknown): InstallClaim & { claimedHost?: string } {
  const parsed = apiInstall.safeParse(body);
  if (!parsed.success) throw badRequest('The ONAPPINSTALL request lacks auth[refresh_token], auth[member_id] or auth[application_token], or one is malformed.');
  const a = parsed.data.auth;
  return { memberId: a.member_id, refreshToken: a.refresh_token, applicationToken: a.application_token, claimedHost: a.client_endpoint ?? a.domain };
}

export function bitrixRoutes(services: Services): Router {
  const router = Router();
  const { manifest, installPortal, store, logger, config } = services;
  const replays = new ReplayGuard();
  const throttle = oauthThrottle();
  /** Before the OAuth server is asked: the pinned portal (a hint), then the bounds per address and member_id. */
  const beforeOAuth = async (req: Request, res: Response, claim: { memberId: string; claimedHost?: string }) => {
    if (claimsOtherPortal(config.bitrix, claim.claimedHost)) {
      throw forbidden(`This connector serves only the portal at ${config.bitrix.portalUrl} (B24_PORTAL_URL); a request from another portal is refused.`);
    }
    await throttle(req, res, claim.memberId);
  };

  router.post(manifest.install, async (req, res) => {
    if ((req.body as { event?: string } | undefined)?.event === 'ONAPPINSTALL') {
      const claim = apiInstallClaim(req.body);
      await beforeOAuth(req, res, claim);
      const outcome = await installPortal.install(claim);
      res.json({ installed: true, added: outcome.setup.added.length, problems: outcome.setup.problems });
      return;
    }
    const claim = installerClaim(req.body, req.query);
    await beforeOAuth(req, res, claim);
    const outcome = await installPortal.install(claim);
    await renderPage(
      res,
      'install',
      {
        // Bitrix24 opens the installer with the admin's language in LANG, as every app page.
        lang: pickLanguage(req.query.LANG),
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
      // Checked before the update is verified: verification renews the posted refresh token. `ts` is on the portal's
      // clock, as last measured (sync/intake/install-time.ts).
      const at = portalNow(await store.portals.get(event.auth.member_id));
      const verdict = replays.check(event, at);
      if (verdict !== 'fresh') return ignore(verdict);
      await installPortal.update(event, () => beforeOAuth(req, res, { memberId: event.auth.member_id }));
      replays.remember(event, at);
      services.outbox.wake();
    } else {
      // No access token comes with ONAPPUNINSTALL: the application token is its only signature (docs/reference/bitrix24.md#events).
      const portal = await verifyEvent(store, event);
      const at = portalNow(portal);
      const verdict = replays.check(event, at);
      if (verdict !== 'fresh') return ignore(verdict);
      if (event.event === 'ONAPPUNINSTALL') {
        replays.remember(event, at);
        if ((await installPortal.uninstallIfConfirmed(portal.memberId, uninstallCleansData(event))) === 'unconfirmed') services.outbox.wake();
      } else {
        // Stored before the answer: a refused write (locked, disk full) answers 503 and is not remembered as taken.
        const echo = await isLikelyEcho(store, portal.memberId, event);
        // Unlinked documents are capped per portal and minute; what is dropped is counted, never stored.
        if ((await intakeEvent(store, portal.memberId, event, { newDocumentsPerMinute: config.eventNewDocumentsPerMinute, metrics: services.metrics }))) {
          store.faults.ok();
          services.outbox.wake(echo ? 'echo' : 'arrival');
        }
        replays.remember(event, at);
      }
    }
    logger.debug({ event: event.event, memberId: event.auth.member_id }, 'event accepted');
    res.json({ ok: true });
  });

  return router;
}
