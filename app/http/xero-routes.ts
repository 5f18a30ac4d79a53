/**
 * Connecting Xero: the admin's "Connect Xero" call, the Xero window's start URL (sets the browser-binding
 * cookie), Xero's redirect back, the confirmation naming organisation and portal, and disconnecting. Plus the
 * dashboard's status call. The steps themselves are in app/sync/install/connect-xero.ts.
 *
 * The cookie is first-party (the Xero window is a top-level window on the connector's origin), HttpOnly,
 * SameSite=Lax (sent on Xero's top-level redirect back, not on cross-site POSTs). With an https PUBLIC_URL it is
 * `__Host-xero-consent` (Secure, Path=/, no Domain). Browsers accept `__Host-` cookies only with Secure, which
 * plain http cannot carry, so on an http PUBLIC_URL (the emulators, the demo and tests on loopback) it is
 * `xero-consent` without Secure; production is https (README, "Security model").
 */
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { AppError, badRequest } from '../errors.js';
import type { Services } from '../services.js';
import { errorText, translator, windowLanguage } from './i18n.js';
import { renderPage } from './pages.js';
import { requireSession } from './session.js';

const callbackQuery = z.object({
  state: z.string().min(1).optional(),
  code: z.string().min(1).optional(),
  error: z.string().optional(),
  error_description: z.string().optional(),
});

const CONSENT_COOKIE_TTL_MS = 15 * 60_000;

/** The binding cookie's name: `__Host-` needs Secure, so only an https PUBLIC_URL gets the prefix. */
export function consentCookieName(publicUrl: string): string {
  return new URL(publicUrl).protocol === 'https:' ? '__Host-xero-consent' : 'xero-consent';
}

function readCookie(req: Request, name: string): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

export function xeroRoutes(services: Services): Router {
  const router = Router();
  const { connectXero, sessions, store, manifest, config } = services;
  const cookieName = consentCookieName(config.publicUrl);
  const secure = cookieName.startsWith('__Host-');
  const publicOrigin = new URL(config.publicUrl).origin;
  const admin = requireSession(sessions, { admin: true });
  const member = requireSession(sessions);

  router.post('/api/xero/connect', admin, async (req, res) => {
    if (config.xero.grantType === 'client_credentials') {
      throw new AppError('XERO.CUSTOM_CONNECTION', 'This server uses a Xero custom connection, which connects by itself.', 409);
    }
    // The page's language (the portal user's) goes along the consent, so the Xero window speaks it.
    const lang = z.object({ lang: z.string().max(16).optional() }).safeParse(req.body ?? {});
    const ticket = await connectXero.begin(req.session!.memberId, req.session!.userId, lang.success ? windowLanguage(lang.data.lang, undefined) : undefined);
    res.json({ startUrl: `${config.publicUrl}/xero/start?ticket=${encodeURIComponent(ticket)}` });
  });

  // The Xero window opens here first: the cookie binds the consent to this browser, then on to Xero.
  router.get('/xero/start', async (req, res) => {
    const lang = windowLanguage(await connectXero.languageOf(typeof req.query.ticket === 'string' ? req.query.ticket : undefined, 'state'), req.get('accept-language'));
    try {
      const ticket = z.object({ ticket: z.string().min(1).max(200) }).safeParse(req.query);
      if (!ticket.success) throw badRequest('This link lacks its ticket. Start again with "Connect Xero" in the app.', { key: 'xero.noTicket' });
      const { browserSecret, authorizeUrl } = await connectXero.start(ticket.data.ticket);
      res
        .cookie(cookieName, browserSecret, { httpOnly: true, secure, sameSite: 'lax', path: '/', maxAge: CONSENT_COOKIE_TTL_MS })
        .set('Cache-Control', 'no-store')
        .redirect(302, authorizeUrl);
    } catch (err) {
      await renderConnectError(res, err, lang);
    }
  });

  router.post('/api/xero/disconnect', admin, async (req, res) => {
    await connectXero.disconnect(req.session!.memberId);
    res.json({ disconnected: true });
  });

  router.get('/api/status', member, async (req, res) => {
    const memberId = req.session!.memberId;
    const c = await store.connections.current(memberId);
    res.json({
      connection: c ? { state: c.state, tenantName: c.tenantName, reason: c.stateReason, grantType: c.grantType } : null,
      queue: await store.jobs.countByState(memberId),
      links: await store.links.count(memberId),
    });
  });

  router.get(manifest.xeroRedirect, async (req, res) => {
    const q = callbackQuery.parse(req.query);
    let lang = windowLanguage(await connectXero.languageOf(q.state, 'state'), req.get('accept-language'));
    try {
      if (q.error) throw consentRefused(q.error);
      if (!q.state || !q.code) throw badRequest('Xero\'s answer lacks the code or state. Start again with "Connect Xero".', { key: 'xero.noCode' });
      const pending = await connectXero.complete(q.state, q.code, readCookie(req, cookieName));
      lang = windowLanguage(pending.lang, req.get('accept-language'));
      // Same-origin referrers let the browser send the form's Origin (with no-referrer it sends "null").
      res.set('Referrer-Policy', 'same-origin');
      await renderPage(res, 'xero-result', { kind: 'confirm', ...pending, lang }, 'none');
    } catch (err) {
      services.logger.warn({ err }, 'Xero consent failed');
      await renderConnectError(res, err, lang);
    }
  });

  // The confirmation form: same browser (cookie), the page's CSRF token, and from the connector's own origin.
  router.post('/xero/confirm', async (req, res) => {
    const body = z.object({ choice: z.string().min(1), tenantId: z.string().min(1), csrf: z.string().min(1) }).safeParse(req.body);
    // The language the choice carries; once it is taken, the one the form carries (its words only).
    const fields = (req.body ?? {}) as { choice?: unknown; lang?: unknown };
    const lang = windowLanguage(await connectXero.languageOf(typeof fields.choice === 'string' ? fields.choice : undefined, 'tenant_choice') ?? fields.lang, req.get('accept-language'));
    try {
      const origin = req.get('origin');
      if (origin && origin !== publicOrigin) {
        throw new AppError('XERO.CSRF', 'This confirmation did not come from the connector\'s own page. Start again with "Connect Xero" in the app.', 403);
      }
      if (!body.success) throw badRequest('Choose one organisation and confirm.', { key: 'xero.chooseOne' });
      const connection = await connectXero.confirm({ choiceId: body.data.choice, tenantId: body.data.tenantId, csrf: body.data.csrf, browserSecret: readCookie(req, cookieName) });
      const portal = await store.portals.get(connection.memberId);
      res.clearCookie(cookieName, { httpOnly: true, secure, sameSite: 'lax', path: '/' });
      await renderPage(res, 'xero-result', { kind: 'connected', lang, tenantName: connection.tenantName, portalDomain: portal?.domain ?? connection.memberId }, 'none');
    } catch (err) {
      await renderConnectError(res, err, lang);
    }
  });

  return router;
}

/**
 * Xero's authorisation errors (RFC 6749 §4.1.2.1, as Xero's OAuth 2.0 docs list them), each shown with a fixed
 * message (`xero.refused.<error>` in views/i18n) and its code. The callback's `error` is the caller's text: an unknown
 * one gets a generic message, and `error_description` is never shown. https://developer.xero.com/documentation/guides/oauth2/auth-flow
 */
const CONSENT_ERRORS = new Set(['access_denied', 'invalid_request', 'unauthorized_client', 'unsupported_response_type', 'invalid_scope', 'server_error', 'temporarily_unavailable']);

/** The refusal as an AppError: its message in English (the log's words), `details.key` the page's words. */
function consentRefused(code: string): AppError {
  const key = CONSENT_ERRORS.has(code) ? `xero.refused.${code}` : 'xero.refused.other';
  return new AppError('XERO.CONSENT_DENIED', translator('en')(key), 400, { key });
}

/** The Xero window's error page: the reason in words when it is ours, a generic one otherwise, in the window's language. */
function renderConnectError(res: Response, err: unknown, lang: string): Promise<void> {
  const e = err instanceof AppError ? err : new AppError('XERO.CONNECT_FAILED', 'Connecting Xero failed. Try again in a moment.', 502);
  return renderPage(res, 'xero-result', { kind: 'error', lang, message: errorText(lang, e), code: e.code }, 'none', e.status);
}
