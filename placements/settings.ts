/**
 * The settings slider (DEFAULT placement, PLACEMENT_OPTIONS.view = "settings"): the tax table, the accounts, the
 * stage maps per pipeline with the defaults from stage semantics, what a deletion does, approve-on-stage, numbering
 * and reference, branding theme, tracking category, poll interval, quote sync, the GL-code table and "Send existing
 * invoices". Everyone reads; only admins get the controls (and the server checks again on every change).
 */
import type { Response } from 'express';
import type { VerifiedPage } from '../app/bitrix/request-auth.js';
import { loadPipelines, ROLE_OF_STATUS, semanticDefaults, type Pipeline } from '../app/bitrix/stages.js';
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
  const pipelines = await pipelineViews(services, memberId).catch((err) => {
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

/** Smart-invoice pipelines (one per category), classic invoices and quotes, with their stages (one batch). */
async function pipelineViews(services: Services, memberId: string): Promise<PipelineView[]> {
  const client = services.portals.for(memberId);
  // https://apidocs.bitrix24.com/api-reference/crm/universal/category/crm-category-list.html
  const categories = await client.call<{ categories?: { id: number | string; name: string }[] }>('crm.category.list', { entityTypeId: 31 }, { idempotent: true });
  const wanted = [
    ...(categories.categories ?? []).map((c) => ({ key: `smart_invoice:${c.id}`, entityId: `SMART_INVOICE_STAGE_${c.id}`, name: c.name, kind: 'invoice' as const })),
    { key: 'invoice', entityId: 'INVOICE_STATUS', name: 'Invoices (classic)', kind: 'invoice' as const },
    { key: 'quote', entityId: 'QUOTE_STATUS', name: 'Quotes', kind: 'quote' as const },
  ];
  const loaded = await loadPipelines(client, wanted.map((w) => w.entityId));
  return wanted.flatMap((w) => {
    const p: Pipeline | undefined = loaded.get(w.entityId);
    if (!p || p.stages.length === 0) return [];
    const roles = semanticDefaults(p);
    const defaults = Object.fromEntries(Object.entries(ROLE_OF_STATUS[w.kind]).map(([status, role]) => [status, roles[role] ?? null]));
    return [{ key: w.key, name: w.name, kind: w.kind, stages: p.stages.map((s) => ({ id: s.id, name: s.name })), defaults }];
  });
}
