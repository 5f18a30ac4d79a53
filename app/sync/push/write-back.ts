/**
 * Write back to Bitrix24: Xero's id, number and status on each document Xero now has (batched; their echoes are
 * skipped by hash, load.ts), also for documents an earlier write-back missed. A failed write-back is tried again: Xero
 * has the documents, so the next run finds them unchanged and only writes back what Bitrix24 does not show yet.
 */
import { keyOf } from '../../bitrix/documents.js';
import { writeBackXeroState } from '../../bitrix/write-back.js';
import * as record from './record.js';
import type { Candidate, Round, Written, XeroStates } from './round.js';

/** Writes back what Xero now has, with the unchanged documents whose Xero id Bitrix24 does not show yet. */
export async function writeBack<P>(round: Round<P>, candidates: Candidate[], written: Written[], xeroState: XeroStates): Promise<void> {
  const all = [...written, ...unwrittenBefore(round, candidates, xeroState)];
  if (all.length === 0) return;
  try {
    await writeBackXeroState(await round.client(), all);
  } catch (err) {
    const said = round.say.writeBackFailed(err as Error);
    round.deps.logger.warn({ err, memberId: round.memberId }, said.log);
    await record.say(round, said.line);
    for (const w of all) round.settle(keyOf(w.doc), { kind: 'retry', code: 'B24.WRITE_BACK_FAILED', message: said.line.message });
  }
}

/** Unchanged documents whose Xero id Bitrix24 does not show yet, with their Xero state, to write back again. */
function unwrittenBefore<P>(round: Round<P>, candidates: Candidate[], xeroState: XeroStates): Written[] {
  return candidates.flatMap((c) => {
    if (!c.unwritten || !c.link) return [];
    if (!round.outcomes.has(c.job.id)) round.settle(keyOf(c.doc), { kind: 'done' });
    const state = xeroState.get(c.link.xeroId.toLowerCase()) ?? round.kind.stateOfLink?.(c.link);
    return state ? [{ doc: c.doc, state }] : [];
  });
}
