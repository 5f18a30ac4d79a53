/**
 * Stages of Bitrix24 documents and what a Xero status means for them. Defaults come from each pipeline's stage
 * semantics (`crm.status.list`: `SEMANTICS` null = in progress, "S" = success, "F" = failure; docs/reference/bitrix24.md#stages),
 * never from hard-coded ids; the admin's map in settings overrides them per pipeline.
 */
import type { B24Type } from '../store/links.js';
import { AppError } from '../errors.js';
import { keyOf, type DocumentRef } from './documents.js';
import { ENTITY_TYPE } from './entity-types.js';
import { limitOf, type BatchCalls, type PortalClient } from './portal-client.js';
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

/**
 * Pipelines by their directory (`entityId`). One whose read Bitrix24 refused is not among them but in `unread`, with
 * Bitrix24's words: its documents' stages are unknown for now, not absent.
 */
export class Pipelines extends Map<string, Pipeline> {
  readonly unread = new Map<string, string>();
}

/** Reads the stages of several pipelines in one batch. */
export async function loadPipelines(client: PortalClient, entityIds: string[]): Promise<Pipelines> {
  const unique = [...new Set(entityIds)];
  const out = new Pipelines();
  for (let i = 0; i < unique.length; i += 50) {
    const chunk = unique.slice(i, i + 50);
    const answer = await client.batch(
      // https://apidocs.bitrix24.com/api-reference/crm/status/crm-status-list.html
      Object.fromEntries(chunk.map((entityId, n) => [`p${n}`, ['crm.status.list', { filter: { ENTITY_ID: entityId }, order: { SORT: 'ASC' } }]])),
    );
    limitOf(answer);
    const { results, errors } = answer;
    chunk.forEach((entityId, n) => {
      if (errors[`p${n}`] !== undefined) return void out.unread.set(entityId, errors[`p${n}`]!);
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

  async of(client: PortalClient, memberId: string, entityIds: string[]): Promise<Pipelines> {
    const out = new Pipelines();
    const missing: string[] = [];
    for (const entityId of new Set(entityIds)) {
      const hit = this.#hits.get(`${memberId}|${entityId}`);
      if (hit && Date.now() - hit.at < PIPELINES_TTL_MS) out.set(entityId, hit.pipeline);
      else missing.push(entityId);
    }
    if (missing.length) {
      const read = await loadPipelines(client, missing);
      for (const [entityId, pipeline] of read) {
        this.#hits.set(`${memberId}|${entityId}`, { at: Date.now(), pipeline });
        out.set(entityId, pipeline);
      }
      read.unread.forEach((why, entityId) => out.unread.set(entityId, why));
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

/** A document's stage as Bitrix24 has it now, with its pipeline (smart invoices' `categoryId`). */
export interface CurrentStage {
  stage: string;
  categoryId: number | null;
}

/**
 * The current stages of documents, by document key (`keyOf`). A document whose read got no answer, or an error, is in
 * `unread` with the reason: its stage is unknown, not absent. One Bitrix24 did list in none of its answers is in
 * neither (gone, or out of the connector's sight).
 */
export interface CurrentStages {
  found: Map<string, CurrentStage>;
  unread: Map<string, string>;
}

/** Reads the current stage (smart invoices and quotes `stageId`, classic invoices `STATUS_ID`) and pipeline of documents. */
export async function readCurrentStages(client: PortalClient, refs: DocumentRef[]): Promise<CurrentStages> {
  const calls: BatchCalls = {};
  const asked = new Map<string, DocumentRef[]>();
  for (const type of ['smart_invoice', 'quote', 'invoice'] as const) {
    const ids = refs.filter((r) => r.type === type).map((r) => Number(r.id));
    for (let i = 0; i < ids.length; i += 50) {
      const key = `${type}:${i}`;
      const chunk = ids.slice(i, i + 50);
      asked.set(key, chunk.map((id) => ({ type, id: String(id) })));
      calls[key] = type === 'invoice'
        // https://apidocs.bitrix24.com/api-reference/crm/outdated/invoice/crm-invoice-list.html
        ? ['crm.invoice.list', { filter: { '@ID': chunk }, select: ['ID', 'STATUS_ID'] }]
        // https://apidocs.bitrix24.com/api-reference/crm/universal/crm-item-list.html
        : ['crm.item.list', { entityTypeId: ENTITY_TYPE[type], filter: { '@id': chunk }, select: ['id', 'categoryId', 'stageId'] }];
    }
  }
  const out: CurrentStages = { found: new Map(), unread: new Map() };
  const keys = Object.keys(calls);
  for (let i = 0; i < keys.length; i += 50) {
    const answer = await client.batch(Object.fromEntries(keys.slice(i, i + 50).map((k) => [k, calls[k]!])));
    limitOf(answer);
    for (const key of keys.slice(i, i + 50)) {
      // No answer is a read that did not happen (docs/reference/bitrix24.md#batch), never a document without a stage.
      const why = answer.errors[key] ?? (key in answer.results ? undefined : 'Bitrix24 gave no answer');
      if (why !== undefined) {
        for (const ref of asked.get(key)!) out.unread.set(keyOf(ref), why);
        continue;
      }
      const type = asked.get(key)![0]!.type;
      const value = answer.results[key];
      const rows = (Array.isArray(value) ? value : ((value as { items?: unknown[] })?.items ?? [])) as Record<string, unknown>[];
      for (const row of rows) {
        if (type === 'invoice') out.found.set(keyOf({ type, id: String(row.ID) }), { stage: String(row.STATUS_ID ?? ''), categoryId: null });
        else out.found.set(keyOf({ type, id: String(row.id) }), { stage: String(row.stageId ?? ''), categoryId: row.categoryId === undefined || row.categoryId === null ? null : Number(row.categoryId) });
      }
    }
  }
  return out;
}
