/**
 * Removals: documents gone from Bitrix24 are removed in Xero the way the kind allows (an invoice's draft deleted or
 * its approved unpaid invoice voided, a quote marked DELETED), or kept there and said so. A delete event is only a
 * hint: the load step sends here only what Bitrix24 no longer has.
 */
import { keyOf, type DocumentRef } from '../../bitrix/documents.js';
import type { JobOutcome } from '../outbox.js';
import * as record from './record.js';
import { isRefusal, type Round, type XeroStates } from './round.js';

/** Removes each document from Xero (their Xero states read at once) and settles its job. */
export async function removeAll<P>(round: Round<P>, gone: DocumentRef[]): Promise<void> {
  if (gone.length === 0) return;
  const ids: string[] = [];
  for (const ref of gone) {
    const xeroId = (await round.linkOf(ref))?.xeroId;
    if (xeroId !== undefined) ids.push(xeroId);
  }
  const states: XeroStates = ids.length ? await round.kind.read(round.gateway, round.tenantId, ids) : new Map();
  for (const ref of gone) round.settle(keyOf(ref), await removeOne(round, ref, states));
}

/** What Xero allows for one document gone from Bitrix24; a refusal needs attention, in the kind's words. */
async function removeOne<P>(round: Round<P>, ref: DocumentRef, states: XeroStates): Promise<JobOutcome> {
  const link = await round.linkOf(ref);
  if (!link) return { kind: 'done' };
  const state = states.get(link.xeroId.toLowerCase());
  if (!state || state.status === 'DELETED' || state.status === 'VOIDED') {
    await record.xeroStatus(round, ref, link, state?.status ?? 'DELETED');
    return { kind: 'done' };
  }
  try {
    const action = await round.kind.remove(round.gateway, round.tenantId, link, state, round.settings);
    if (!action) return { kind: 'done' };
    if ('kept' in action) await record.say(round, round.say.kept(action.kept), ref);
    else await record.xeroStatus(round, ref, link, action.status, round.say.removed(action.message));
    return { kind: 'done' };
  } catch (err) {
    if (!isRefusal(err)) throw err;
    await record.say(round, round.say.removeRefused(err.message), ref);
    return { kind: 'attention', code: err.code, message: err.message };
  }
}
