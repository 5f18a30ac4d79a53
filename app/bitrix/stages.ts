/**
 * Stages of Bitrix24 documents and what a Xero status means for them. Defaults come from each pipeline's stage
 * semantics (`crm.status.list`: `SEMANTICS` null = in progress, "S" = success, "F" = failure; docs/reference/bitrix24.md#stages),
 * never from hard-coded ids; the admin's map in settings overrides them per pipeline.
 */
import type { B24Type } from '../store/links.js';
import { AppError } from '../errors.js';
import { limitOf, type PortalClient } from './portal-client.js';
import { ownValue } from '../own-keys.js';

export interface Stage {
  /** `STATUS_ID`: `DT31_2:P` for smart invoices, `P` for classic invoices, `APPROVED` for quotes. */
  id: string;
  name: string;
  sort: number;
  semantics: 'S' | 'F' | null;
}

/** One pipeline's stages in their order. */
export interface Pipeline {
  /** `crm.status.list` directory (`ENTITY_ID`): `SMART_INVOICE_STAGE_2`, `INVOICE_STATUS`, `QUOTE_STATUS`. */
  entityId: string;
  stages: Stage[];
}

/** What a Xero status asks of a document: move forward to "sent", to success, or to failure. */
export type StageRole = 'sent' | 'success' | 'failure';

/**
 * Xero statuses that move a document, per document kind (docs/reference/xero.md#invoices, docs/reference/xero.md#quotes). Others (DRAFT,
 * SUBMITTED) leave it.
 */
export const ROLE_OF_STATUS: Record<'invoice' | 'quote', Record<string, StageRole>> = {
  invoice: { AUTHORISED: 'sent', PAID: 'success', VOIDED: 'failure', DELETED: 'failure' },
  quote: { SENT: 'sent', ACCEPTED: 'success', INVOICED: 'success', DECLINED: 'failure', DELETED: 'failure' },
};

/** The stage directory of a document: per category for smart invoices, one each for classic invoices and quotes. */
export function pipelineEntityId(b24Type: B24Type, categoryId: number | null): string {
  if (b24Type === 'smart_invoice') return `SMART_INVOICE_STAGE_${categoryId ?? 0}`;
  if (b24Type === 'invoice') return 'INVOICE_STATUS';
  return 'QUOTE_STATUS';
}

/** The settings key of a pipeline's stage map: `smart_invoice:2`, `invoice`, `quote`. */
export function pipelineKey(b24Type: B24Type, categoryId: number | null): string {
  return b24Type === 'smart_invoice' ? `smart_invoice:${categoryId ?? 0}` : b24Type;
}

/** Reads the stages of several pipelines in one batch. */
export async function loadPipelines(client: PortalClient, entityIds: string[]): Promise<Map<string, Pipeline>> {
  const unique = [...new Set(entityIds)];
  const out = new Map<string, Pipeline>();
  for (let i = 0; i < unique.length; i += 50) {
    const chunk = unique.slice(i, i + 50);
    const answer = await client.batch(
      // https://apidocs.bitrix24.com/api-reference/crm/status/crm-status-list.html
      Object.fromEntries(chunk.map((entityId, n) => [`p${n}`, ['crm.status.list', { filter: { ENTITY_ID: entityId }, order: { SORT: 'ASC' } }]])),
    );
    limitOf(answer);
    const { results, errors } = answer;
    chunk.forEach((entityId, n) => {
      if (errors[`p${n}`] !== undefined) return;
      // No answer at all is a read that did not happen (docs/reference/bitrix24.md#batch), never a pipeline without stages.
      if (!(`p${n}` in results)) throw new AppError('B24.NO_ANSWER', `Bitrix24 gave no answer for the stages of ${entityId}; they will be read again.`, 502);
      out.set(entityId, pipelineOf(entityId, results[`p${n}`]));
    });
  }
  return out;
}

/** How long a portal's stage lists are trusted, ms: stages change by hand, rarely; each read costs a request. */
export const PIPELINES_TTL_MS = 5 * 60_000;

/**
 * The stage lists of a portal's pipelines, read with `loadPipelines` (one batch for those not cached) and kept for
 * PIPELINES_TTL_MS: under Bitrix24's request limit a stage move or a status coming back costs no stage read.
 */
export class PipelineCache {
  readonly #hits = new Map<string, { at: number; pipeline: Pipeline }>();

  async of(client: PortalClient, memberId: string, entityIds: string[]): Promise<Map<string, Pipeline>> {
    const out = new Map<string, Pipeline>();
    const missing: string[] = [];
    for (const entityId of new Set(entityIds)) {
      const hit = this.#hits.get(`${memberId}|${entityId}`);
      if (hit && Date.now() - hit.at < PIPELINES_TTL_MS) out.set(entityId, hit.pipeline);
      else missing.push(entityId);
    }
    if (missing.length) {
      for (const [entityId, pipeline] of await loadPipelines(client, missing)) {
        this.#hits.set(`${memberId}|${entityId}`, { at: Date.now(), pipeline });
        out.set(entityId, pipeline);
      }
    }
    return out;
  }
}

/** A pipeline from a `crm.status.list` answer (rows of any order). */
export function pipelineOf(entityId: string, rows: unknown): Pipeline {
  const list = Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [];
  return { entityId, stages: list.map(toStage).sort((a, b) => a.sort - b.sort) };
}

function toStage(r: Record<string, unknown>): Stage {
  const sem = r.SEMANTICS;
  return {
    id: String(r.STATUS_ID ?? ''),
    name: String(r.NAME ?? r.STATUS_ID ?? ''),
    sort: Number(r.SORT ?? 0),
    semantics: sem === 'S' ? 'S' : sem === 'F' ? 'F' : null,
  };
}

/**
 * The default stage of each role in a pipeline, from its semantics:
 * - sent: the last in-progress stage, when there is more than one (the first is where documents start);
 * - success: the success stage (exactly one per pipeline);
 * - failure: the first failure stage.
 */
export function semanticDefaults(p: Pipeline): Partial<Record<StageRole, string>> {
  const inProgress = p.stages.filter((s) => s.semantics === null);
  const success = p.stages.find((s) => s.semantics === 'S');
  const failure = p.stages.find((s) => s.semantics === 'F');
  return {
    ...(inProgress.length > 1 ? { sent: inProgress[inProgress.length - 1]!.id } : {}),
    ...(success ? { success: success.id } : {}),
    ...(failure ? { failure: failure.id } : {}),
  };
}

/**
 * The stage a Xero status maps to: the admin's map (keyed by Xero status, e.g. `{ PAID: 'DT31_2:P' }`) when it
 * names a stage of this pipeline, else the semantic default of the status's role. Null: leave the stage alone.
 */
export function mappedStage(p: Pipeline, kind: 'invoice' | 'quote', xeroStatus: string, override: Record<string, string> | undefined): string | null {
  const status = xeroStatus.toUpperCase();
  const chosen = ownValue(override, status);
  if (chosen && p.stages.some((s) => s.id === chosen)) return chosen;
  const role = ownValue(ROLE_OF_STATUS[kind], status);
  return role ? (semanticDefaults(p)[role] ?? null) : null;
}

/**
 * Whether moving from `current` to `target` would take the document back: a document that already stands at a
 * closing stage (success or failure) is only moved to another closing stage, and within the in-progress stages
 * never to an earlier one. Unknown stages are never moved from.
 */
export function wouldMoveBack(p: Pipeline, current: string, target: string): boolean {
  const from = p.stages.find((s) => s.id === current);
  const to = p.stages.find((s) => s.id === target);
  if (!from || !to) return true;
  if (from.semantics !== null) return to.semantics === null || to.sort < from.sort;
  if (to.semantics !== null) return false;
  return to.sort < from.sort;
}
