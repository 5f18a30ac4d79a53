/**
 * What the pull keeps: a written document's new Xero state on its link (amounts, the stage the sync set — the
 * expected echo —, when "Paid in Xero" fired) with its log line, in one transaction; a document that failed this round
 * only its log line, worded in messages.ts.
 */
import { clock } from '../../clock.js';
import { keyOf } from '../../bitrix/documents.js';
import type { Line } from './messages.js';
import * as say from './messages.js';
import type { Pending, Plan, PullRound } from './round.js';

async function log(round: PullRound, p: Pending, line: Line): Promise<void> {
  await round.store.activity.record({ memberId: round.memberId, subject: keyOf(p.ref), ...line });
}

/** The document's stage, or its pipeline's, could not be read: nothing is written or recorded; it is tried again. */
export async function notRead(round: PullRound, p: Pending, why: { stage: string } | { pipeline: string }): Promise<void> {
  round.fail(p);
  await log(round, p, say.notRead(round.kind, p, why));
}

/** Bitrix24 refused the write, or gave no answer: it is tried again. */
export async function notWritten(round: PullRound, p: Pending, error: string): Promise<void> {
  round.fail(p);
  await log(round, p, say.notWritten(round.kind, p, error));
}

/** The write went through: the link keeps what Xero says and the stage the write leaves, with the log line. */
export async function pulled(round: PullRound, plan: Plan, triggerFailed: string | undefined): Promise<void> {
  const { link, change } = plan;
  const triggerFired = plan.write.paidTrigger === true && triggerFailed === undefined;
  await round.store.transaction(async () => {
    await round.store.links.recordPulled(link.id, {
      xeroStatus: change.status,
      amountPaid: change.amountPaid.toFixed(2),
      total: change.total.toFixed(2),
      amountDue: change.amountDue.toFixed(2),
      currency: change.currency,
      dueDate: change.dueDate,
      xeroUpdatedAt: change.updatedAt,
      ...(plan.movedTo ? { movedToStage: plan.movedTo } : {}),
      stageAfterWrite: plan.movedTo ?? plan.stage,
      ...(triggerFired ? { triggerFiredAt: clock.now() } : {}),
    });
    await log(round, plan, say.pulled(round.kind, plan));
    if (triggerFailed !== undefined) await log(round, plan, say.triggerFailed(round.kind, plan, triggerFailed));
  });
  round.report.updated += 1;
}
