/**
 * Send to Xero, exactly once: documents about to be created are marked sent before the request (a lost answer is then
 * healed by its Reference, heal-lost.ts); each payload goes with an idempotency key naming its content; up to 50 go
 * per request (the kind's `push`). Each answer is linked in the same transaction that records it (record.ts); a
 * refusal clears the mark, a transient failure keeps it. Then what follows elsewhere in Xero (the quote an invoice was
 * made from becomes INVOICED).
 */
import type { PushFailure, XeroDocumentState } from '../../xero/documents.js';
import type { JobOutcome } from '../outbox.js';
import type { SendItem } from './build.js';
import * as record from './record.js';
import type { Round, Written, XeroStates } from './round.js';

/** Sends the payloads and links Xero's answers; the documents Xero now has, also added to `xeroState`. */
export async function send<P>(round: Round<P>, items: SendItem<P>[], xeroState: XeroStates): Promise<Written[]> {
  if (items.length === 0) return [];
  await record.sent(round, items.filter((i) => i.creates).map((i) => i.c.doc));
  const results = await round.kind.push(round.gateway, round.tenantId, items);
  const written: Written[] = [];
  for (const item of items) {
    const r = results.get(item.key);
    if (!r) continue;
    if (!r.ok) {
      // Refused by Xero: nothing was created, so no look-up is needed next time. A transient failure may have
      // reached Xero: the mark stays.
      if (r.permanent && item.creates) await record.notSent(round, item.c.doc);
      round.settle(item.key, failureOutcome(r));
      continue;
    }
    const state: XeroDocumentState = { ...r, reference: round.kind.reference(item.c.doc, round.settings), currencyCode: item.c.doc.currency, contactId: null };
    await record.linked(round, item.c.doc, item.c.hash, state, item.note);
    written.push({ doc: item.c.doc, state });
    xeroState.set(state.id.toLowerCase(), state);
    round.settle(item.key, { kind: 'done' });
  }
  return written;
}

/** What follows elsewhere in Xero from documents it now has (the kind's `afterWrite`); a failure is only logged. */
export async function followUp<P>(round: Round<P>, written: Written[]): Promise<void> {
  if (written.length === 0 || !round.kind.afterWrite) return;
  await round.kind.afterWrite(written, round.kindContext).catch(async (err: Error) => {
    const said = round.say.followUpFailed(err);
    round.deps.logger.warn({ err, memberId: round.memberId }, said.log);
    await record.say(round, said.line);
  });
}

/** What becomes of a document Xero did not take: it needs attention, waits for a limit or a reconnect, or is retried. */
function failureOutcome(r: PushFailure): JobOutcome {
  if (r.permanent) return { kind: 'attention', code: r.code, message: r.message };
  if (r.retryAt) return { kind: 'wait', code: r.code, message: r.message, until: r.retryAt };
  if (r.code === 'XERO.NEEDS_RECONNECT') return { kind: 'paused', message: r.message };
  return { kind: 'retry', code: r.code, message: r.message };
}
