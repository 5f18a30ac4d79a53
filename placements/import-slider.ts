/**
 * The "Import from Xero" slider (admins only): choose what to import → preview (counts to create, link, update and
 * skip, and the records that will fail with their reasons; nothing written yet) → start → live progress through the
 * page's stream → summary, with the failures as CSV. Cancel stops between batches. Opened as the DEFAULT placement
 * with `PLACEMENT_OPTIONS.view = "import"` (SLIDER_VIEWS, the dashboard's "Import from Xero" button) or from the
 * "Import from Xero" item of the company and contact list toolbars (`/placements/import`, bound at install).
 * Every change is checked server-side against an admin page session.
 */
import { Router, type Response } from 'express';
import { z } from 'zod';
import { verifyPage, type VerifiedPage } from '../app/bitrix/request-auth.js';
import { AppError, badRequest } from '../app/errors.js';
import { pickLanguage, translator } from '../app/http/i18n.js';
import type { LiveContext, LiveView } from '../app/http/live.js';
import { originOf, renderPage, renderView } from '../app/http/pages.js';
import { requireSession } from '../app/http/session.js';
import type { Services } from '../app/services.js';
import type { ImportRun } from '../app/store/imports.js';

/** The slider page (also SLIDER_VIEWS.import). */
export async function importSlider(services: Services, page: VerifiedPage, lang: string, res: Response): Promise<void> {
  const memberId = page.portal.memberId;
  const framing = { portalOrigin: originOf(page.portal.clientEndpoint) };
  if (!page.user.isAdmin) {
    await renderPage(res, 'error', { lang, message: translator(lang)('import.adminsOnly'), code: 'HTTP.FORBIDDEN' }, framing, 403);
    return;
  }
  const session = services.sessions.issue({ memberId, userId: page.user.id, isAdmin: true, userName: page.user.name, authId: page.authId });
  const run = await services.store.imports.latestRun(memberId) ?? null;
  const connected = (await services.store.connections.current(memberId))?.state === 'active';
  await renderPage(res, 'import', { lang, session, connected, run: await runRegion(services, memberId, run?.id ?? null, lang) }, framing);
}

const startSchema = z.object({
  what: z.array(z.enum(['companies', 'contacts', 'products'])).min(1).max(3),
  includeArchived: z.boolean().optional().default(false),
});

export function importRoutes(services: Services, manifestPath: string | undefined): Router {
  const router = Router();
  const { sessions } = services;
  const svc = services.importFromXero;
  const admin = requireSession(sessions, { admin: true });

  if (manifestPath) {
    router.post(manifestPath, async (req, res) => {
      const page = await verifyPage(services.store, req.body, services.config.bitrix.clientId);
      await importSlider(services, page, pickLanguage(req.query.LANG), res);
    });
  }

  router.post('/api/import/preview', admin, async (req, res) => {
    const body = startSchema.safeParse(req.body ?? {});
    if (!body.success) throw new AppError('HTTP.BAD_REQUEST', 'Choose what to import: "what" lists companies, contacts and/or products.', 400);
    const run = await svc.requestPreview({ memberId: req.session!.memberId, what: body.data.what, includeArchived: body.data.includeArchived, startedBy: String(req.session!.userId) });
    services.outbox.wake();
    res.json({ runId: run.id });
  });
  router.post('/api/import/:id/start', admin, async (req, res) => {
    const run = await svc.requestRun(req.session!.memberId, runIdOf(req.params.id));
    services.outbox.wake();
    res.json({ runId: run.id, state: run.state });
  });
  router.post('/api/import/:id/cancel', admin, async (req, res) => {
    const run = await svc.cancel(req.session!.memberId, runIdOf(req.params.id));
    res.json({ runId: run.id, state: run.state });
  });
  router.get('/api/import/:id/failures.csv', admin, async (req, res) => {
    const runId = runIdOf(req.params.id);
    const lines: string[] = [];
    for await (const line of svc.csv(req.session!.memberId, runId)) lines.push(line);
    res.set({ 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': `attachment; filename="import-${runId}-failures.csv"`, 'Cache-Control': 'no-store' });
    res.send(`\uFEFF${lines.join('')}`);
  });
  return router;
}

function runIdOf(raw: unknown): number {
  const id = Number(raw);
  if (!Number.isInteger(id) || id <= 0) throw badRequest('The import is named by a positive number.');
  return id;
}

/** The slider's live stream: the run region of the run named by `run` (else the latest). Admins only. */
export function importLive(services: Services): LiveView<{ runId: number | null }> {
  return {
    prepare: async (ctx: LiveContext) => {
      if (!ctx.session.isAdmin) throw new AppError('HTTP.FORBIDDEN', 'Only portal administrators can import from Xero.', 403);
      const raw = ctx.query.run;
      const runId = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : (await services.store.imports.latestRun(ctx.session.memberId))?.id ?? null;
      return { runId };
    },
    regions: async (p, ctx) => ({ run: await runRegion(services, ctx.session.memberId, p.runId, ctx.lang) }),
  };
}

async function runRegion(services: Services, memberId: string, runId: number | null, lang: string): Promise<{ html: string; data: unknown }> {
  let run: ImportRun | null = null;
  if (runId) {
    const found = await services.store.imports.run(runId);
    if (found && found.memberId === memberId) run = found;
  }
  const summary = run ? await services.importFromXero.summary(memberId, run.id, 50) : null;
  const html = await renderView('import/run', { lang, run, summary });
  return { html, data: run ? { runId: run.id, state: run.state } : null };
}
