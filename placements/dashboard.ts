/**
 * The app page (handler path, placement DEFAULT): the dashboard. Verified with the portal, then rendered
 * with a signed session for its follow-up calls. Admins connect and disconnect Xero here.
 */
import { Router } from 'express';
import { verifyPage } from '../app/bitrix/request-auth.js';
import { documentKey, readableDocuments, type DocumentRef } from '../app/bitrix/document-access.js';
import { originOf, renderPage } from '../app/http/pages.js';
import type { Services } from '../app/services.js';
import { portalSettings } from '../app/sync/settings.js';

export function dashboardRoutes(services: Services): Router {
  const router = Router();
  const { store, sessions, manifest, config } = services;

  router.post(manifest.handler, async (req, res) => {
    const page = await verifyPage(store, req.body, services.config.bitrix.clientId);
    const memberId = page.portal.memberId;
    const connection = store.connections.listForPortal(memberId).find((c) => c.state !== 'disconnected') ?? null;
    const lastProblem = store.activity.list({ memberId, limit: 20 }).find((a) => a.kind === 'xero.connect_failed')?.message;
    // Documents' history and problems are shown only for documents this user may read in Bitrix24.
    const jobs = store.jobs.list({ memberId, states: ['needs_attention'], limit: 20 });
    const activity = store.activity.list({ memberId, limit: 15 });
    const docs = [...jobs.map((j) => documentOf(j.payload)), ...activity.map((a) => documentOfSubject(a.subject))].filter((d): d is DocumentRef => !!d);
    const readable = docs.length ? await readableDocuments(page.portal.clientEndpoint, page.authId, docs) : new Set<string>();
    const visible = (d: DocumentRef | null) => !d || readable.has(documentKey(d));
    await renderPage(
      res,
      'dashboard',
      {
        session: sessions.issue({ memberId, userId: page.user.id, isAdmin: page.user.isAdmin, userName: page.user.name, authId: page.authId }),
        isAdmin: page.user.isAdmin,
        userName: page.user.name,
        connection,
        customConnection: config.xero.grantType === 'client_credentials',
        lastProblem,
        queue: store.jobs.countByState(memberId),
        links: store.links.count(memberId),
        activity: activity.filter((a) => visible(documentOfSubject(a.subject))),
        settings: portalSettings(store, memberId),
        defaultPollSeconds: config.pollIntervalSeconds,
        attention: jobs.filter((j) => visible(documentOf(j.payload))).map((j) => ({
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

const DOCUMENT_TYPES = new Set(['smart_invoice', 'invoice', 'quote']);

/** The document a push job is about (null for portal-wide jobs). */
function documentOf(payload: unknown): DocumentRef | null {
  const p = payload as { type?: string; id?: unknown };
  return p && typeof p.type === 'string' && DOCUMENT_TYPES.has(p.type) && p.id != null ? { type: p.type as DocumentRef['type'], id: String(p.id) } : null;
}

/** The document an activity subject (`smart_invoice:12`) names, or null. */
function documentOfSubject(subject: string | null): DocumentRef | null {
  const m = /^(smart_invoice|invoice|quote):(\d+)$/.exec(subject ?? '');
  return m ? { type: m[1] as DocumentRef['type'], id: m[2]! } : null;
}

/** "Invoice 42" / "Classic invoice 7" for a push job's payload. */
function describeJob(payload: unknown): string {
  const p = payload as { type?: string; id?: string };
  if (p?.type === 'invoice') return `Classic invoice ${p.id}`;
  if (p?.type === 'smart_invoice') return `Invoice ${p.id}`;
  return 'Sync job';
}
