/**
 * The Xero tab in the invoice and quote cards: the document's link to Xero and the state of its sync.
 * PLACEMENT_OPTIONS carries the document id; the entity type follows from the placement code.
 */
import { Router } from 'express';
import { verifyPage } from '../app/bitrix/request-auth.js';
import { originOf, renderPage } from '../app/http/pages.js';
import { badRequest } from '../app/errors.js';
import type { Services } from '../app/services.js';
import type { B24Type } from '../app/store/links.js';
import { pushJobKey } from '../app/sync/intake.js';

/** Document type shown by each card placement. Source: bitrix24-rest.md §11. */
const PLACEMENT_TYPES: Record<string, { type: B24Type; noun: string }> = {
  CRM_SMART_INVOICE_DETAIL_TAB: { type: 'smart_invoice', noun: 'invoice' },
  CRM_INVOICE_DETAIL_TAB: { type: 'invoice', noun: 'invoice' },
  CRM_QUOTE_DETAIL_TAB: { type: 'quote', noun: 'quote' },
};

export function cardTabRoutes(services: Services): Router {
  const router = Router();
  const { store, sessions, manifest } = services;
  const paths = [...new Set(Object.keys(PLACEMENT_TYPES).map((code) => manifest.placements[code]).filter(Boolean))];

  router.post(paths, async (req, res) => {
    const page = await verifyPage(store, req.body, services.config.bitrix.clientId);
    const kind = PLACEMENT_TYPES[page.placement];
    const id = String(page.options.ID ?? page.options.id ?? '');
    if (!kind || !/^\d+$/.test(id)) {
      throw badRequest(`This tab opens only from an invoice or quote card (placement ${page.placement}, ID ${id || 'missing'}).`);
    }
    const memberId = page.portal.memberId;
    const link = store.links.find(memberId, kind.type, id) ?? null;
    await renderPage(
      res,
      'card-tab',
      {
        session: sessions.issue({ memberId, userId: page.user.id, isAdmin: page.user.isAdmin, userName: page.user.name }),
        noun: kind.noun,
        link,
        linkNote: link ? store.links.note(link.id) : null,
        job: store.jobs.findLive(pushJobKey(memberId, { type: kind.type, id })) ?? null,
        connection: store.connections.listForPortal(memberId).find((c) => c.state !== 'disconnected') ?? null,
        activity: store.activity.list({ memberId, subject: `${kind.type}:${id}`, limit: 5 }),
      },
      { portalOrigin: originOf(page.portal.clientEndpoint) },
    );
  });

  return router;
}
