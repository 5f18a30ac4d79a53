/**
 * Connecting Xero: the admin's "Connect Xero" call, Xero's redirect back (top-level window), the choice
 * among several organisations, and disconnecting. Plus the dashboard's status call.
 */
import { Router, type Response } from 'express';
import { z } from 'zod';
import { AppError, badRequest } from '../errors.js';
import type { Services } from '../services.js';
import { renderPage } from './pages.js';
import { requireSession } from './session.js';

const callbackQuery = z.object({
  state: z.string().min(1).optional(),
  code: z.string().min(1).optional(),
  error: z.string().optional(),
  error_description: z.string().optional(),
});

export function xeroRoutes(services: Services): Router {
  const router = Router();
  const { connectXero, sessions, store, manifest, config } = services;
  const admin = requireSession(sessions, { admin: true });
  const member = requireSession(sessions);

  router.post('/api/xero/connect', admin, (req, res) => {
    if (config.xero.grantType === 'client_credentials') {
      throw new AppError('XERO.CUSTOM_CONNECTION', 'This server uses a Xero custom connection, which connects by itself.', 409);
    }
    res.json({ authorizeUrl: connectXero.begin(req.session!.memberId, req.session!.userId) });
  });

  router.post('/api/xero/disconnect', admin, async (req, res) => {
    await connectXero.disconnect(req.session!.memberId);
    res.json({ disconnected: true });
  });

  router.get('/api/status', member, (req, res) => {
    const memberId = req.session!.memberId;
    const c = store.connections.listForPortal(memberId).find((x) => x.state !== 'disconnected');
    res.json({
      connection: c ? { state: c.state, tenantName: c.tenantName, reason: c.stateReason, grantType: c.grantType } : null,
      queue: store.jobs.countByState(memberId),
      links: store.links.count(memberId),
    });
  });

  router.get(manifest.xeroRedirect, async (req, res) => {
    const q = callbackQuery.parse(req.query);
    try {
      if (q.error) {
        throw new AppError(
          'XERO.CONSENT_DENIED',
          q.error === 'access_denied'
            ? 'Access to Xero was not granted. Start again with "Connect Xero" if this was a mistake.'
            : `Xero refused the connection (${q.error}). Start again with "Connect Xero".`,
          400,
        );
      }
      if (!q.state || !q.code) throw badRequest('Xero\'s answer lacks the code or state. Start again with "Connect Xero".');
      const outcome = await connectXero.complete(q.state, q.code);
      if (outcome.kind === 'connected') {
        await renderPage(res, 'xero-result', { kind: 'connected', tenantName: outcome.connection.tenantName }, 'none');
      } else {
        await renderPage(res, 'xero-result', { kind: 'choose', choiceId: outcome.choiceId, tenants: outcome.tenants }, 'none');
      }
    } catch (err) {
      services.logger.warn({ err }, 'Xero consent failed');
      await renderConnectError(res, err);
    }
  });

  router.post('/xero/choose', async (req, res) => {
    const body = z.object({ choice: z.string().min(1), tenantId: z.string().min(1) }).safeParse(req.body);
    try {
      if (!body.success) throw badRequest('Choose one organisation.');
      const connection = connectXero.choose(body.data.choice, body.data.tenantId);
      await renderPage(res, 'xero-result', { kind: 'connected', tenantName: connection.tenantName }, 'none');
    } catch (err) {
      await renderConnectError(res, err);
    }
  });

  return router;
}

/** The Xero window's error page: the reason in words when it is ours, a generic one otherwise. */
function renderConnectError(res: Response, err: unknown): Promise<void> {
  const e = err instanceof AppError ? err : new AppError('XERO.CONNECT_FAILED', 'Connecting Xero failed. Try again in a moment.', 502);
  return renderPage(res, 'xero-result', { kind: 'error', message: e.message }, 'none', e.status);
}
