/**
 * A document's Xero state and history for the app's pages, shown only to a user whom Bitrix24 lets read the
 * document (asked with the user's own token: app/bitrix/document-access.ts). The card tab renders the same state.
 */
import { Router } from 'express';
import { z } from 'zod';
import { canReadDocument, type DocumentRef } from '../bitrix/document-access.js';
import { AppError, badRequest } from '../errors.js';
import type { Services } from '../services.js';
import type { Store } from '../store/index.js';
import { pushJobKey } from '../sync/intake.js';
import { requireSession } from './session.js';

/** The connector's record of one document: its link to Xero, the live job, and the last activity. */
export function documentState(store: Store, memberId: string, doc: DocumentRef) {
  const link = store.links.find(memberId, doc.type, doc.id) ?? null;
  return {
    link,
    linkNote: link ? store.links.note(link.id) : null,
    job: store.jobs.findLive(pushJobKey(memberId, doc)) ?? null,
    activity: store.activity.list({ memberId, subject: `${doc.type}:${doc.id}`, limit: 5 }),
  };
}

export function noPermission(): AppError {
  return new AppError('AUTH.NO_DOCUMENT_ACCESS', 'Bitrix24 does not let you view this document, so its Xero details are not shown.', 403);
}

const docParams = z.object({ type: z.enum(['smart_invoice', 'invoice', 'quote']), id: z.string().regex(/^\d{1,12}$/) });

export function documentRoutes(services: Services): Router {
  const router = Router();
  router.get('/api/documents/:type/:id', requireSession(services.sessions), async (req, res) => {
    const doc = docParams.safeParse(req.params);
    if (!doc.success) throw badRequest('Name a document as /api/documents/{smart_invoice|invoice|quote}/{id}.');
    if (!(await canReadDocument(req.sessionPortal!.clientEndpoint, req.session!.authId, doc.data))) throw noPermission();
    const state = documentState(services.store, req.session!.memberId, doc.data);
    res.json({
      link: state.link && { xeroNumber: state.link.xeroNumber, xeroStatus: state.link.xeroStatus, lastSyncedAt: state.link.lastSyncedAt, note: state.linkNote },
      job: state.job && { state: state.job.state, lastError: state.job.lastError },
      activity: state.activity.map((a) => ({ at: a.createdAt, level: a.level, message: a.message })),
    });
  });
  return router;
}
