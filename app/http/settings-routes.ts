/** The settings API of the dashboard: anyone with a page session reads, only portal admins change. */
import { Router } from 'express';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { Services } from '../services.js';
import { portalSettings, updatePortalSettings } from '../sync/settings.js';
import { settingsSchema, type PortalSettings } from '../domain/settings.js';
import { retryWaitingOnMapping } from '../sync/setup/org-data.js';
import { orgProblems, stageProblems } from '../sync/setup/settings-validation.js';
import { requireSession } from './session.js';

/** Settings checked against the organisation's lists, which are read fresh for the check. */
const XERO_CHECKED: readonly (keyof PortalSettings)[] = ['defaultSalesAccount', 'taxRateMap', 'brandingThemeId', 'tracking'];

export function settingsRoutes(services: Services): Router {
  const router = Router();
  const { store, sessions } = services;

  router.get('/api/settings', requireSession(sessions), async (req, res) => {
    res.json((await portalSettings(store, req.session!.memberId)));
  });

  router.put('/api/settings', requireSession(sessions, { admin: true }), async (req, res) => {
    const patch = settingsSchema.partial().strict().safeParse(req.body ?? {});
    if (!patch.success) throw invalidSettings(patch.error);
    const memberId = req.session!.memberId;
    // Only the fields sent change (zod fills defaults into a partial schema).
    const sent = Object.fromEntries(Object.entries(patch.data).filter(([k]) => Object.hasOwn(req.body as object, k))) as Partial<PortalSettings>;
    // Every value Xero or Bitrix24 must know is checked against their live lists.
    const problems = [
      ...(XERO_CHECKED.some((k) => Object.hasOwn(sent, k)) ? orgProblems(sent, await services.orgData.refresh(memberId, { release: false })) : []),
      ...(await stageProblems(sent, await services.portals.for(memberId))),
    ];
    if (problems.length) throw new AppError('SETTINGS.INVALID', `The settings were not saved. ${problems.join(' ')}`, 400, { problems });
    const saved = await updatePortalSettings(store, memberId, sent);
    await store.activity.record({ memberId, level: 'info', kind: 'settings.changed', message: `Settings changed by ${req.session!.userName}: ${Object.keys(sent).join(', ')}.` });
    // A fixed cause (e.g. a default sales account added) lets the documents waiting on it through.
    const retried = await retryWaitingOnMapping(store, memberId);
    if (retried) services.outbox.wake();
    res.json({ settings: saved, retried });
  });

  router.post('/api/jobs/retry', requireSession(sessions, { admin: true }), async (req, res) => {
    const body = z.object({ ids: z.array(z.number().int().positive()).min(1).max(500) }).safeParse(req.body ?? {});
    if (!body.success) throw new AppError('HTTP.BAD_REQUEST', 'Name the jobs to retry as {"ids": [..]}.', 400);
    const retried = await store.jobs.retryNow({ ids: body.data.ids, memberId: req.session!.memberId });
    if (retried) services.outbox.wake();
    res.json({ retried });
  });

  return router;
}

function invalidSettings(error: z.ZodError): AppError {
  const lines = error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message));
  return new AppError('SETTINGS.INVALID', `The settings were not saved. ${lines.join('; ')}.`, 400);
}
