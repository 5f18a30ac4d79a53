/**
 * The settings slider (DEFAULT placement, PLACEMENT_OPTIONS.view = "settings"): the tax table, the accounts, the
 * stage maps per pipeline with the defaults from stage semantics, what a deletion does, approve-on-stage, numbering
 * and reference, branding theme, tracking category, poll interval, quote sync, the GL-code table and "Send existing
 * invoices". Everyone reads; only admins get the controls (and the server checks again on every change).
 */
import type { Response } from 'express';
import type { VerifiedPage } from '../app/bitrix/request-auth.js';
import { pipelineOf, ROLE_OF_STATUS, semanticDefaults, type Pipeline } from '../app/bitrix/stages.js';
import { userBatch } from '../app/bitrix/document-access.js';
import { AppError } from '../app/errors.js';
import { ownValue } from '../app/own-keys.js';
import { originOf, renderPage } from '../app/http/pages.js';
import type { Services } from '../app/services.js';
import { revenueAccounts } from '../app/sync/mapping.js';
import { portalSettings } from '../app/sync/settings.js';
import { setupOverview } from '../app/sync/setup-checklist.js';
import { salesTaxRates } from '../app/sync/tax-matching.js';

export interface PipelineView {
  key: string;
  name: string;
  kind: 'invoice' | 'quote';
  stages: { id: string; name: string }[];
  /** Xero status → the stage it moves to by default (stage semantics). */
  defaults: Record<string, string | null>;
}

export async function settingsSlider(services: Services, page: VerifiedPage, lang: string, res: Response): Promise<void> {
  const { store, sessions, orgData, logger } = services;
  const memberId = page.portal.memberId;
  const session = sessions.issue({ memberId, userId: page.user.id, isAdmin: page.user.isAdmin, userName: page.user.name, authId: page.authId });
  let org = orgData.cached(memberId);
  if (!org) {
    try {
      org = await orgData.refresh(memberId);
    } catch (err) {
      logger.info({ err, memberId }, 'settings: the organisation\'s lists could not be read yet');
    }
  }
  const pipelines = await pipelineViews(page).catch((err) => {
    logger.warn({ err, memberId }, 'settings: the pipelines could not be read');
    return [] as PipelineView[];
  });
  await renderPage(
    res,
    'settings',
    {
      lang, session, isAdmin: page.user.isAdmin,
      settings: portalSettings(store, memberId),
      overview: setupOverview(store, orgData, memberId),
      lists: {
        readAt: org?.readAt ?? null,
        accounts: org ? revenueAccounts(org.accounts) : [],
        taxRates: org ? salesTaxRates(org.taxRates) : [],
        brandingThemes: org?.brandingThemes ?? [],
        trackingCategories: (org?.trackingCategories ?? []).filter((c) => c.status === 'ACTIVE'),
      },
      pipelines,
      defaultPollSeconds: services.config.pollIntervalSeconds,
    },
    { portalOrigin: originOf(page.portal.clientEndpoint) },
  );
}

/**
 * Smart-invoice pipelines (one per category), classic invoices and quotes, with their stages, as Bitrix24 shows them
 * to the page's user: read with the user's own token, so a pipeline the user may not read is not listed
 * (docs/reference/bitrix24.md#stages: "filtered by access permissions"). Two batch calls: the pipelines, then their stages.
 */
async function pipelineViews(page: VerifiedPage): Promise<PipelineView[]> {
  const endpoint = page.portal.clientEndpoint;
  const answerOf = (body: unknown) => (body as { result?: { result?: Record<string, unknown> } }).result?.result ?? {};
  // https://apidocs.bitrix24.com/api-reference/crm/universal/category/crm-category-list.html
  const first = await userBatch(endpoint, page.authId, { c: 'crm.category.list?entityTypeId=31' });
  if (!first.ok) throw new AppError('B24.CALL_FAILED', 'Bitrix24 did not list the pipelines.', 502);
  const categories = (ownValue(answerOf(first.body), 'c') as { categories?: { id: number | string; name: string }[] } | undefined)?.categories ?? [];
  const wanted = [
    ...categories.map((c) => ({ key: `smart_invoice:${c.id}`, entityId: `SMART_INVOICE_STAGE_${c.id}`, name: c.name, kind: 'invoice' as const })),
    { key: 'invoice', entityId: 'INVOICE_STATUS', name: 'Invoices (classic)', kind: 'invoice' as const },
    { key: 'quote', entityId: 'QUOTE_STATUS', name: 'Quotes', kind: 'quote' as const },
  ].slice(0, 50);
  // https://apidocs.bitrix24.com/api-reference/crm/status/crm-status-list.html
  const second = await userBatch(endpoint, page.authId, Object.fromEntries(wanted.map((w, n) => [`s${n}`, `crm.status.list?filter[ENTITY_ID]=${encodeURIComponent(w.entityId)}&order[SORT]=ASC`])));
  const stages = answerOf(second.body);
  return wanted.flatMap((w, n) => {
    const p: Pipeline | undefined = Object.hasOwn(stages, `s${n}`) ? pipelineOf(w.entityId, stages[`s${n}`]) : undefined;
    if (!p || p.stages.length === 0) return [];
    const roles = semanticDefaults(p);
    const defaults = Object.fromEntries(Object.entries(ROLE_OF_STATUS[w.kind]).map(([status, role]) => [status, roles[role] ?? null]));
    return [{ key: w.key, name: w.name, kind: w.kind, stages: p.stages.map((s) => ({ id: s.id, name: s.name })), defaults }];
  });
}
