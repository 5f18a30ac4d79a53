/**
 * The pipelines a page's user sees, with their stages: smart-invoice pipelines (one per category), classic invoices
 * and quotes, read with the user's own token, so a pipeline the user may not read is not listed
 * (docs/reference/bitrix24.md#stages: "filtered by access permissions"). Two batch calls: the pipelines, then their
 * stages.
 */
import type { DocumentType } from '../domain/document.js';
import { AppError } from '../errors.js';
import { ownValue } from '../own-keys.js';
import { userBatch } from './document-access.js';
import { ENTITY_TYPE } from './entity-types.js';
import { pipelineEntityId, pipelineOf, type Pipeline } from './stages.js';

export interface UserPipeline {
  type: DocumentType;
  /** The smart-invoice pipeline's category; null for classic invoices and quotes (one pipeline each). */
  categoryId: number | null;
  /** Bitrix24's name of the category; null for classic invoices and quotes. */
  name: string | null;
  /** Its stages in their order (never empty). */
  pipeline: Pipeline;
}

/** Every pipeline the user may read that has stages, smart-invoice pipelines first (at most 50 in all). */
export async function pipelinesSeenBy(clientEndpoint: string, authId: string): Promise<UserPipeline[]> {
  const answerOf = (body: unknown) => (body as { result?: { result?: Record<string, unknown> } }).result?.result ?? {};
  // https://apidocs.bitrix24.com/api-reference/crm/universal/category/crm-category-list.html
  const first = await userBatch(clientEndpoint, authId, { c: `crm.category.list?entityTypeId=${ENTITY_TYPE.smart_invoice}` });
  if (!first.ok) throw new AppError('B24.CALL_FAILED', 'Bitrix24 did not list the pipelines.', 502);
  const categories = (ownValue(answerOf(first.body), 'c') as { categories?: { id: number | string; name: string }[] } | undefined)?.categories ?? [];
  const wanted: Omit<UserPipeline, 'pipeline'>[] = [
    ...categories.map((c) => ({ type: 'smart_invoice' as const, categoryId: Number(c.id), name: c.name })),
    { type: 'invoice' as const, categoryId: null, name: null },
    { type: 'quote' as const, categoryId: null, name: null },
  ].slice(0, 50);
  const entityIds = wanted.map((w) => pipelineEntityId(w.type, w.categoryId));
  // https://apidocs.bitrix24.com/api-reference/crm/status/crm-status-list.html
  const second = await userBatch(clientEndpoint, authId, Object.fromEntries(entityIds.map((e, n) => [`s${n}`, `crm.status.list?filter[ENTITY_ID]=${encodeURIComponent(e)}&order[SORT]=ASC`])));
  const stages = answerOf(second.body);
  return wanted.flatMap((w, n) => {
    const pipeline = Object.hasOwn(stages, `s${n}`) ? pipelineOf(entityIds[n]!, stages[`s${n}`]) : undefined;
    return pipeline && pipeline.stages.length ? [{ ...w, pipeline }] : [];
  });
}
