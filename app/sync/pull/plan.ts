/**
 * What to write for one document: the stage the Xero status asks for (the kind's `pull.stageOf`: the admin's map for
 * the pipeline, else its stage semantics), unless a person chose a stage further on; the kind's sync fields; for kinds
 * that tell payments, a timeline comment for a payment received and, once, the "Paid in Xero" trigger.
 */
import { pipelineKey, wouldMoveBack } from '../../bitrix/stages.js';
import { Decimal } from '../../domain/money.js';
import { paymentComment } from './messages.js';
import type { DocumentWrite } from '../../bitrix/write-back.js';
import type { Current, Plan, PullRound } from './round.js';

export async function planWrite(round: PullRound, c: Current): Promise<Plan> {
  const { link, change, pipeline, stage } = c;
  const { pull } = round.kind;
  const override = upperKeys((await round.stageMap)[pipelineKey(c.ref.type, c.categoryId)]);
  const target = pipeline && pull.stageOf ? pull.stageOf(pipeline, change.status, override) : null;
  let movedTo: string | null = null;
  let keptByHand: string | null = null;
  if (target && stage && target !== stage) {
    // A stage the sync itself set may be changed again (e.g. a payment removed in Xero); a person's choice further on stays.
    if (stage === link.syncStageId || !wouldMoveBack(pipeline!, stage, target)) movedTo = target;
    else keptByHand = stage;
  }
  const received = change.amountPaid.sub(Decimal.of(link.amountPaid ?? 0));
  const write: DocumentWrite = {
    ref: c.ref,
    fields: pull.fields(change),
    stageId: movedTo,
    comment: pull.tellsPayments && received.cmp(0) > 0 ? paymentComment(change, received) : null,
    paidTrigger: pull.tellsPayments && change.status === 'PAID' && link.paidTriggerAt === null,
  };
  return { ...c, write, movedTo, keptByHand, received };
}

function upperKeys(map: Record<string, string> | undefined): Record<string, string> | undefined {
  return map && Object.fromEntries(Object.entries(map).map(([k, v]) => [k.toUpperCase(), v]));
}
