/**
 * A settings change checked against what Xero and Bitrix24 hold now: the default sales account must be an active
 * revenue account, each chosen tax rate an active rate that applies to revenue, the branding theme and tracking
 * category ones the organisation has, and every stage a stage of its pipeline. Each refusal names the value and why.
 */
import type { PortalClient } from '../../bitrix/portal-client.js';
import { loadPipelines, ROLE_OF_STATUS, type Pipeline } from '../../bitrix/stages.js';
import type { CachedOrgData } from './org-data.js';
import { accountProblem } from './mapping.js';
import type { PortalSettings } from '../../domain/settings.js';
import { taxTypeProblem, vatLabel } from './tax-matching.js';
import { hasOwnKey } from '../../own-keys.js';

/** `smart_invoice:2` → `SMART_INVOICE_STAGE_2`, `invoice` → `INVOICE_STATUS`, `quote` → `QUOTE_STATUS`. */
export function entityIdOfPipelineKey(key: string): string | null {
  const m = /^smart_invoice:(\d+)$/.exec(key);
  if (m) return `SMART_INVOICE_STAGE_${m[1]}`;
  if (key === 'invoice') return 'INVOICE_STATUS';
  if (key === 'quote') return 'QUOTE_STATUS';
  return null;
}

/** The problems of a patch with Xero's lists (org) — empty when it can be saved. */
export function orgProblems(patch: Partial<PortalSettings>, org: CachedOrgData): string[] {
  const out: string[] = [];
  if (patch.defaultSalesAccount) {
    const p = accountProblem(org.accounts, patch.defaultSalesAccount);
    if (p) out.push(`defaultSalesAccount: ${p}`);
  }
  for (const [key, taxType] of Object.entries(patch.taxRateMap ?? {})) {
    const p = taxTypeProblem(org.taxRates, taxType);
    if (p) out.push(`taxRateMap.${key}: ${p} It cannot be used for ${vatLabel(key)}.`);
  }
  if (patch.brandingThemeId && !org.brandingThemes.some((t) => t.id === patch.brandingThemeId)) {
    out.push(`brandingThemeId: Xero has no branding theme ${patch.brandingThemeId}.`);
  }
  if (patch.tracking) {
    const c = org.trackingCategories.find((x) => x.id === patch.tracking!.categoryId);
    if (!c) out.push(`tracking.categoryId: Xero has no tracking category ${patch.tracking.categoryId}.`);
    else if (c.status !== 'ACTIVE') out.push(`tracking.categoryId: The tracking category "${c.name}" is ${c.status.toLowerCase()} in Xero.`);
  }
  return out;
}

/** The problems of a patch's stages with the portal's pipelines (one Bitrix24 batch when stages are changed). */
export async function stageProblems(patch: Partial<PortalSettings>, client: PortalClient): Promise<string[]> {
  const keys = [...new Set([...Object.keys(patch.approveStages ?? {}), ...Object.keys(patch.stageMap ?? {})])];
  if (!keys.length) return [];
  const out: string[] = [];
  const entityIds = new Map<string, string>();
  for (const k of keys) {
    const e = entityIdOfPipelineKey(k);
    if (e) entityIds.set(k, e);
    else out.push(`${k}: not a pipeline (use smart_invoice:<category id>, invoice or quote).`);
  }
  const pipelines = await loadPipelines(client, [...entityIds.values()]);
  const stageOf = (key: string): Pipeline | undefined => pipelines.get(entityIds.get(key) ?? '');
  const check = (where: string, key: string, stageId: string) => {
    const p = stageOf(key);
    if (!p || p.stages.length === 0) out.push(`${where}: the pipeline ${key} does not exist in Bitrix24.`);
    else if (!p.stages.some((s) => s.id === stageId)) out.push(`${where}: ${stageId} is not a stage of the pipeline ${key}.`);
  };
  for (const [key, stageId] of Object.entries(patch.approveStages ?? {})) check(`approveStages.${key}`, key, stageId);
  for (const [key, byStatus] of Object.entries(patch.stageMap ?? {})) {
    const statuses = key === 'quote' ? ROLE_OF_STATUS.quote : ROLE_OF_STATUS.invoice;
    for (const [status, stageId] of Object.entries(byStatus)) {
      if (!hasOwnKey(statuses, status)) out.push(`stageMap.${key}.${status}: not a Xero status that moves a document (${Object.keys(statuses).join(', ')}).`);
      else check(`stageMap.${key}.${status}`, key, stageId);
    }
  }
  return out;
}
