/**
 * Write to Bitrix24: the plans go out through the one writer of Xero's state (bitrix/write-back.ts), a document's
 * commands together in batches of ≤ 50. Each outcome is recorded (record.ts); a document Bitrix24's operating time
 * limit blocked is not failed but waits, with the round, until the method is free again (the limit is thrown once
 * what went through is recorded).
 */
import { keyOf } from '../../bitrix/documents.js';
import { limitOf } from '../../bitrix/portal-client.js';
import { writeDocuments } from '../../bitrix/write-back.js';
import * as record from './record.js';
import type { Plan, PullRound } from './round.js';

export async function writeAll(round: PullRound, plans: Plan[]): Promise<void> {
  if (plans.length === 0) return;
  const { outcomes, limit } = await writeDocuments(await round.client(), plans.map((p) => p.write));
  for (const plan of plans) {
    const outcome = outcomes.get(keyOf(plan.ref));
    if (!outcome) continue; // not sent: after a limited batch, the round waits (below)
    if (!outcome.written && outcome.limited) round.fail(plan);
    else if (!outcome.written) await record.notWritten(round, plan, outcome.error);
    else await record.pulled(round, plan, outcome.triggerFailed);
  }
  limitOf({ limit });
}
