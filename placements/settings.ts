/**
 * The settings slider (DEFAULT placement, PLACEMENT_OPTIONS.view = "settings"): the tax table, the accounts, the
 * stage maps per pipeline with the defaults from stage semantics, what a deletion does, approve-on-stage, numbering
 * and reference, branding theme, tracking category, poll interval, quote sync, the GL-code table and "Send existing
 * invoices". Everyone reads; only admins get the controls (and the server checks again on every change).
 */
import type { Response } from 'express';
import type { VerifiedPage } from '../app/bitrix/request-auth.js';
import { pipelineKey, ROLE_OF_STATUS, semanticDefaults } from '../app/bitrix/stages.js';
import { pipelinesSeenBy } from '../app/bitrix/user-pipelines.js';
import { originOf, renderPage } from '../app/http/pages.js';
import type { Services } from '../app/services.js';
import { revenueAccounts } from '../app/sync/setup/mapping.js';
import { portalSettings } from '../app/sync/settings.js';
import { setupOverview } from '../app/sync/setup/setup-checklist.js';
import { salesTaxRates } from '../app/sync/setup/tax-matching.js';

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
  let org = await orgData.cached(memberId);
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
      settings: (await portalSettings(store, memberId)),
      overview: await setupOverview(store, orgData, memberId),
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

/** The pipelines the page's user sees (bitrix/user-pipelines.ts), with the defaults from their stage semantics. */
async function pipelineViews(page: VerifiedPage): Promise<PipelineView[]> {
  return (await pipelinesSeenBy(page.portal.clientEndpoint, page.authId)).map(({ type, categoryId, name, pipeline }) => {
    const kind = type === 'quote' ? 'quote' : 'invoice';
    const roles = semanticDefaults(pipeline);
    const defaults = Object.fromEntries(Object.entries(ROLE_OF_STATUS[kind]).map(([status, role]) => [status, roles[role] ?? null]));
    return {
      key: pipelineKey(type, categoryId), name: name ?? (type === 'quote' ? 'Quotes' : 'Invoices (classic)'), kind,
      stages: pipeline.stages.map((s) => ({ id: s.id, name: s.name })), defaults,
    };
  });
}
