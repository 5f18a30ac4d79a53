/**
 * Stage moves: a stage a person chose in Bitrix24 for a linked document asks the kind for the Xero change it means
 * (an invoice approved or voided, a quote sent, accepted or declined); for kinds that follow it, a new document's first
 * stage counts as such a move. What Xero does not allow is refused in words on the card and in the log, and not
 * retried: the stage is recorded as seen either way. A move whose pipeline's stage list Bitrix24 refused to read is not
 * recorded: its job is tried again.
 */
import { keyOf } from '../../bitrix/documents.js';
import { mapEach } from '../../async-lists.js';
import { pipelineEntityId } from '../../bitrix/stages.js';
import * as record from './record.js';
import { isRefusal, type Candidate, type Round, type Written, type XeroStates } from './round.js';

/** Acts on the stage moves of the candidates; the documents whose Xero status changed, to write back. */
export async function applyStageMoves<P>(round: Round<P>, candidates: Candidate[], written: Written[], xeroState: XeroStates): Promise<Written[]> {
  if (round.kind.followsFirstStage) await followFirstStages(round, candidates, written);
  const candidateMoves = candidates.filter((c) => c.stageMoved && c.link && round.outcomes.get(c.job.id)?.kind !== 'attention');
  if (candidateMoves.length === 0) return [];
  const pipelines = await round.pipelines.of(await round.client(), round.memberId, candidateMoves.map((m) => pipelineEntityId(m.doc.type, m.doc.categoryId)));
  const changed: Written[] = [];
  // The stage's meaning is unknown while its pipeline's stage list is unread: such a move is not recorded as seen, so
  // the retry acts on it.
  const moves = candidateMoves.filter(({ doc }) => {
    const unread = pipelines.unread.get(pipelineEntityId(doc.type, doc.categoryId));
    if (unread !== undefined) round.settle(keyOf(doc), { kind: 'retry', code: 'B24.READ_FAILED', message: round.say.stagesUnread(doc, unread) });
    return unread === undefined;
  });
  // All asked at once: the kind's Xero calls of one round go out together (approvals share one request, xero/invoices.ts).
  const asked = moves.map(({ doc, link }) => {
    const pipeline = pipelines.get(pipelineEntityId(doc.type, doc.categoryId));
    const state = xeroState.get(link!.xeroId.toLowerCase());
    const status = state?.status ?? link!.xeroStatus ?? 'DRAFT';
    return round.kind.stageAction(round.gateway, round.tenantId, { doc, link: link!, pipeline, stage: pipeline?.stages.find((x) => x.id === doc.stageId), status }, round.settings);
  });
  const answers = await Promise.allSettled(asked);
  let failure: unknown;
  await mapEach(moves, async ({ doc, link }, i) => {
    const answer = answers[i]!;
    if (answer.status === 'rejected') {
      // What Xero refused is said and not retried; any other failure fails the round once the rest is recorded.
      if (!isRefusal(answer.reason)) return void (failure ??= answer.reason);
      await record.stageMove(round, doc, link!, { refused: answer.reason.message });
    } else {
      const action = answer.value;
      const state = xeroState.get(link!.xeroId.toLowerCase());
      await record.stageMove(round, doc, link!, { action });
      if (action && state) changed.push({ doc, state: { ...state, status: action.status } });
      if (action) round.settle(keyOf(doc), { kind: 'done' });
    }
    round.settleDone(keyOf(doc));
  });
  if (failure !== undefined) throw failure;
  return changed;
}

/** Documents linked just now count as moved to the stage they were created at. */
async function followFirstStages<P>(round: Round<P>, candidates: Candidate[], written: Written[]): Promise<void> {
  const created = new Set(written.map((w) => keyOf(w.doc)));
  for (const c of candidates) {
    if (c.link || !created.has(keyOf(c.doc))) continue;
    c.link = await round.linkOf(c.doc);
    c.stageMoved = Boolean(c.link && c.doc.stageId);
  }
}
