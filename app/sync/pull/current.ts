/**
 * Where the documents stand: their current stage and pipeline, read from Bitrix24 in one batch of list reads, and the
 * pipelines' stage lists (cached a few minutes) for kinds whose statuses move documents. A document whose stage read,
 * or whose pipeline's, got an error or no answer is not written nor recorded: it fails this round and is tried again,
 * so a stage move is never lost behind a status recorded as pulled.
 */
import { keyOf } from '../../bitrix/documents.js';
import { pipelineEntityId, Pipelines, readCurrentStages } from '../../bitrix/stages.js';
import * as record from './record.js';
import type { Current, Pending, PullRound } from './round.js';
import { flatMapEach } from '../../async-lists.js';

export async function readCurrent(round: PullRound, pending: Pending[]): Promise<Current[]> {
  const stages = await readCurrentStages(await round.client(), pending.map((p) => p.ref));
  const entityOf = (p: Pending) => {
    const found = stages.found.get(keyOf(p.ref));
    return found && round.kind.pull.stageOf ? pipelineEntityId(p.ref.type, found.categoryId) : undefined;
  };
  const entityIds = pending.flatMap((p) => entityOf(p) ?? []);
  const pipelines = entityIds.length ? await round.pipelines.of(await round.client(), round.memberId, entityIds) : new Pipelines();
  return flatMapEach(pending, async (p) => {
    const unread = stages.unread.get(keyOf(p.ref));
    if (unread !== undefined) {
      await record.notRead(round, p, { stage: unread });
      return [];
    }
    const entityId = entityOf(p);
    const pipelineUnread = entityId === undefined ? undefined : pipelines.unread.get(entityId);
    if (pipelineUnread !== undefined) {
      await record.notRead(round, p, { pipeline: pipelineUnread });
      return [];
    }
    const found = stages.found.get(keyOf(p.ref));
    return [{ ...p, stage: found?.stage || null, categoryId: found?.categoryId ?? null, pipeline: entityId === undefined ? undefined : pipelines.get(entityId) }];
  });
}
