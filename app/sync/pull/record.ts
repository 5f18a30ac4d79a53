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

function log(round: PullRound, p: Pending, line: Line): void { // step B: async transaction (runs inside store.transaction)
  round.store.activity.record({ memberId: round.memberId, subject: keyOf(p.ref), ...line });
}

/** The document's stage, or its pipeline's, could not be read: nothing is written or recorded; it is tried again. */
export function notRead(round: PullRound, p: Pending, why: { stage: string } | { pipeline: string }): void {
  round.fail(p);
  log(round, p, say.notRead(round.kind, p, why));
}

/** Bitrix24 refused the write, or gave no answer: it is tried again. */
export function notWritten(round: PullRound, p: Pending, error: string): void {
  round.fail(p);
  log(round, p, say.notWritten(round.kind, p, error));
}

/** The write went through: the link keeps what Xero says and the stage the write leaves, with the log line. */
export function pulled(round: PullRound, plan: Plan, triggerFailed: string | undefined): void {
  const { link, change } = plan;
  const triggerFired = plan.write.paidTrigger === true && triggerFailed === undefined;
  // step B: async transaction
  round.store.transaction(() => {
    round.store.links.recordPulled(link.id, {
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
    log(round, plan, say.pulled(round.kind, plan));
    if (triggerFailed !== undefined) log(round, plan, say.triggerFailed(round.kind, plan, triggerFailed));
  });
  round.report.updated += 1;
}
