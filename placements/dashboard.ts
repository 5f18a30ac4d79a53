/**
 * The app page (handler path, placement DEFAULT): the dashboard. Verified with the portal, then rendered
 * with a signed session for its follow-up calls. Admins connect and disconnect Xero here.
 */
import { Router } from 'express';
import { verifyPage } from '../app/bitrix/request-auth.js';
import { originOf, renderPage } from '../app/http/pages.js';
import type { Services } from '../app/services.js';
import { portalSettings } from '../app/sync/settings.js';
import { describeBudget } from '../app/xero/budget.js';
import { budgetStatus } from '../app/xero/gateway.js';

export function dashboardRoutes(services: Services): Router {
  const router = Router();
  const { store, sessions, manifest, config } = services;

  router.post(manifest.handler, async (req, res) => {
    const page = await verifyPage(store, req.body, services.config.bitrix.clientId);
    const memberId = page.portal.memberId;
    const connection = store.connections.listForPortal(memberId).find((c) => c.state !== 'disconnected') ?? null;
    const lastProblem = store.activity.list({ memberId, limit: 20 }).find((a) => a.kind === 'xero.connect_failed')?.message;
    await renderPage(
      res,
      'dashboard',
      {
        session: sessions.issue({ memberId, userId: page.user.id, isAdmin: page.user.isAdmin, userName: page.user.name }),
        isAdmin: page.user.isAdmin,
        userName: page.user.name,
        connection,
        customConnection: config.xero.grantType === 'client_credentials',
        lastProblem,
        queue: store.jobs.countByState(memberId),
        links: store.links.count(memberId),
        xeroBudget: connection ? describeBudget(budgetStatus(services.gateways, connection.id)) : null,
        activity: store.activity.list({ memberId, limit: 15 }),
        settings: portalSettings(store, memberId),
        defaultPollSeconds: config.pollIntervalSeconds,
        attention: store.jobs.list({ memberId, states: ['needs_attention'], limit: 20 }).map((j) => ({
          id: j.id,
          what: describeJob(j.payload),
          message: j.lastError ?? '',
        })),
      },
      { portalOrigin: originOf(page.portal.clientEndpoint) },
    );
  });

  return router;
}

/** "Invoice 42" / "Classic invoice 7" for a push job's payload. */
function describeJob(payload: unknown): string {
  const p = payload as { type?: string; id?: string };
  if (p?.type === 'invoice') return `Classic invoice ${p.id}`;
  if (p?.type === 'smart_invoice') return `Invoice ${p.id}`;
  return 'Sync job';
}
