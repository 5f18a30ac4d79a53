/**
 * POST /xero/webhooks: verifies the signature on the raw body, stores the events as jobs, then answers
 * 200 with an empty body (401 for a bad signature), no cookies, well within Xero's 5 s. An empty, correctly
 * signed batch is Xero's intent-to-receive check. Source: docs/reference/xero.md#webhooks.
 */
import { clock } from '../clock.js';
import express, { Router } from 'express';
import type { Services } from '../services.js';
import { BODY_LIMIT } from './limits.js';
import { askStatusRead } from '../sync/status-reads.js';
import { validXeroSignature, webhookPayloadSchema } from '../xero/webhooks.js';

export function xeroWebhookRoutes(services: Services): Router {
  const router = Router();
  const { store, config, manifest, logger } = services;

  router.post(manifest.xeroWebhook, express.raw({ type: () => true, limit: BODY_LIMIT }), async (req, res) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (!validXeroSignature(raw, req.get('x-xero-signature'), config.xero.webhookKey)) {
      res.status(401).end();
      return;
    }
    // The setup checklist's "Xero webhooks verified": a correctly signed delivery (intent to receive, or events).
    await store.watermarks.set('xero', 'webhook.verifiedAt', String(clock.now()));
    const parsed = webhookPayloadSchema.safeParse(safeJson(raw));
    if (!parsed.success) {
      // Signed by Xero but unreadable: acknowledge so Xero does not disable the hook; polling covers it.
      logger.warn('a signed Xero webhook could not be read; polling will pick the changes up');
      res.status(200).end();
      return;
    }
    const received = clock.now();
    // eventDateUtc is UTC without a zone designator (xero-webhooks.yaml example "2017-06-21T01:15:39.902").
    for (const e of parsed.data.events) {
      if (e.eventDateUtc) services.metrics.webhookDelay('xero', (received - Date.parse(/(Z|[+-]\d\d:?\d\d)$/i.test(e.eventDateUtc) ? e.eventDateUtc : `${e.eventDateUtc}Z`)) / 1000);
    }
    const active = (await store.connections.list()).filter((c) => c.state === 'active');
    let stored = 0;
    await store.transaction(async () => {
      for (const e of parsed.data.events) {
        if (e.eventCategory === 'CONTACT') {
          // A changed Xero contact: its linked Bitrix24 record is brought in step (sync-contacts.ts).
          for (const c of active.filter((x) => x.tenantId === e.tenantId)) {
            await store.jobs.enqueue({ memberId: c.memberId, kind: 'pull-contact', key: `pull-contact:${c.id}:${e.resourceId}`, payload: { connectionId: c.id, contactId: e.resourceId } });
            stored += 1;
          }
          continue;
        }
        if (e.eventCategory !== 'INVOICE') continue;
        for (const c of active.filter((x) => x.tenantId === e.tenantId)) {
          await askStatusRead(store, { memberId: c.memberId, connectionId: c.id, invoiceId: e.resourceId, eventType: e.eventType, at: e.eventDateUtc ?? null });
          stored += 1;
        }
      }
    });
    if (stored) services.outbox.wake();
    res.status(200).end();
  });

  return router;
}

function safeJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
}
