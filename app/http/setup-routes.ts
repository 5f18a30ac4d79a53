/**
 * The page API of setup: the checklist and matches, the organisation's lists ("Refresh from Xero"), the GL-code
 * table and its bulk assignment, and "Send existing invoices". Anyone with a page session reads; changes need a
 * portal admin (checked here, on every request).
 */
import { clock } from '../clock.js';
import { Router, type Request } from 'express';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { Services } from '../services.js';
import { backfillProgress, previewBackfill, startBackfill } from '../sync/setup/backfill.js';
import { accountCoverage, assignAccount, productPage } from '../sync/setup/gl-codes.js';
import { revenueAccounts } from '../sync/setup/mapping.js';
import { retryWaitingOnMapping } from '../sync/setup/org-data.js';
import { setupOverview } from '../sync/setup/setup-checklist.js';
import { salesTaxRates } from '../sync/setup/tax-matching.js';
import { pickLanguage } from './i18n.js';
import { renderView } from './pages.js';
import { requireSession } from './session.js';

const pageQuery = z.object({
  search: z.string().max(100).optional(),
  page: z.coerce.number().int().min(0).max(100_000).default(0),
});

const bulkBody = z.object({
  accountCode: z.string().trim().min(1).max(10).nullable(),
  ids: z.array(z.number().int().positive()).min(1).max(20_000).optional(),
  filter: z.object({ search: z.string().max(100).optional() }).strict().optional(),
}).strict().refine((b) => Boolean(b.ids) !== Boolean(b.filter), 'Send either "ids" (the selected products) or "filter" (every product it matches).');

export function setupRoutes(services: Services): Router {
  const router = Router();
  const { store, sessions, orgData, portals } = services;
  const admin = requireSession(sessions, { admin: true });
  const anyone = requireSession(sessions);
  /** The checklist; without a default account, the products are counted to see whether every one has an account. */
  const overviewWithCoverage = async (memberId: string) => {
    const first = await setupOverview(store, orgData, memberId);
    if (!first.account || first.account.code) return first;
    const coverage = await accountCoverage(await portals.for(memberId), store, memberId, await orgData.cached(memberId)).catch(() => null);
    return await setupOverview(store, orgData, memberId, clock.now(), coverage);
  };

  router.get('/api/setup', anyone, async (req, res) => {
    res.json(await overviewWithCoverage(req.session!.memberId));
  });

  /** The lists the settings choose from: revenue accounts, sales tax rates, branding themes, tracking categories. */
  router.get('/api/org-data', anyone, async (req, res) => {
    const org = await orgData.cached(req.session!.memberId);
    if (!org) {
      res.json({ readAt: null, accounts: [], taxRates: [], brandingThemes: [], trackingCategories: [], currencies: [] });
      return;
    }
    res.json({
      readAt: org.readAt, tenantName: org.tenantName,
      accounts: revenueAccounts(org.accounts).map((a) => ({ code: a.code, name: a.name })),
      taxRates: salesTaxRates(org.taxRates).map((r) => ({ taxType: r.taxType, name: r.name, rate: r.effectiveRate })),
      brandingThemes: org.brandingThemes,
      trackingCategories: org.trackingCategories.filter((c) => c.status === 'ACTIVE').map((c) => ({ id: c.id, name: c.name, options: c.options.map((o) => o.name) })),
      currencies: org.currencies,
    });
  });

  router.post('/api/org-data/refresh', admin, async (req, res) => {
    const memberId = req.session!.memberId;
    await orgData.refresh(memberId);
    services.outbox.wake();
    res.json(await overviewWithCoverage(memberId));
  });

  /** One page of products, only for a user whom Bitrix24 lets view the catalog (asked with the user's own token). */
  const productsOf = async (req: Request) => {
    const q = pageQuery.safeParse(req.query);
    if (!q.success) throw new AppError('HTTP.BAD_REQUEST', 'Use ?search=<part of a name>&page=<0, 1, …>.', 400);
    const memberId = req.session!.memberId;
    const viewer = { clientEndpoint: req.sessionPortal!.clientEndpoint, authId: req.session!.authId };
    return productPage(await portals.for(memberId), store, memberId, await orgData.cached(memberId), { search: q.data.search }, q.data.page, viewer);
  };

  router.get('/api/products', anyone, async (req, res) => {
    res.json(await productsOf(req));
  });

  /** The same page as the settings slider shows it: the GL-code table rendered by views/settings/gl-table.ejs. */
  router.get('/api/products/table', anyone, async (req, res) => {
    const { products, ...page } = await productsOf(req);
    const html = await renderView('settings/gl-table', { lang: pickLanguage(req.query.lang), isAdmin: req.session!.isAdmin, products, ...page });
    res.json({ ...page, html });
  });

  router.post('/api/products/account', admin, async (req, res) => {
    const body = bulkBody.safeParse(req.body ?? {});
    if (!body.success) throw new AppError('HTTP.BAD_REQUEST', `The accounts were not assigned. ${body.error.issues.map((i) => i.message).join('; ')}`, 400);
    const memberId = req.session!.memberId;
    // The account is checked against the organisation's accounts as they are now.
    const org = await orgData.refresh(memberId);
    const target = body.data.ids ? { ids: body.data.ids } : { filter: body.data.filter ?? {} };
    const outcome = await assignAccount(await portals.for(memberId), store, memberId, org, target, body.data.accountCode);
    await store.activity.record({
      memberId, level: outcome.failed.length ? 'warn' : 'info', kind: 'products.account_assigned',
      message: `${req.session!.userName} set the Xero sales account ${body.data.accountCode ?? '(none)'} on ${outcome.updated} product(s)${outcome.failed.length ? `; ${outcome.failed.length} could not be changed` : ''}.`,
    });
    // Documents that waited for an account go again (their products now have one).
    const retried = await retryWaitingOnMapping(store, memberId);
    if (retried) services.outbox.wake();
    res.json({ ...outcome, retried });
  });

  router.post('/api/backfill/preview', admin, async (req, res) => {
    res.json(await previewBackfill(services, req.session!.memberId));
  });

  router.post('/api/backfill', admin, async (req, res) => {
    const body = z.object({ previewId: z.string().uuid() }).safeParse(req.body ?? {});
    if (!body.success) throw new AppError('HTTP.BAD_REQUEST', 'Send the preview to start as {"previewId": "…"}.', 400);
    const progress = await startBackfill(services, req.session!.memberId, body.data.previewId);
    services.outbox.wake();
    res.json(progress);
  });

  router.get('/api/backfill', anyone, async (req, res) => {
    res.json(await backfillProgress(store, req.session!.memberId));
  });

  return router;
}
