/**
 * Check and build: every changed document is checked before any write (a customer, the VAT rates and the account
 * matched — mapping.ts), then given its Xero payload by the kind: a new document, or an update of the linked one (or
 * of the one a lost send created, heal-lost.ts) while Xero allows edits. A document Xero no longer lets us edit is
 * recorded as seen, and the card says why; a document that cannot be built needs attention in words.
 */
import { keyOf } from '../../bitrix/documents.js';
import { AppError } from '../../errors.js';
import { customerKey, type ResolvedContacts } from '../../xero/contacts.js';
import type { PushItem } from '../../xero/documents.js';
import { representationOf, roundingNote } from '../../xero/invoice-mapper.js';
import { roundingAccountOf } from '../../xero/rounding-account.js';
import { healedOf, type LostDocuments } from './heal-lost.js';
import * as record from './record.js';
import type { Candidate, Round, XeroStates } from './round.js';

/** A payload to send, with the document it came from. */
export interface SendItem<P> extends PushItem<P> {
  c: Candidate;
  /** Whether it creates a Xero document (marked sent before the request) rather than updating one. */
  creates: boolean;
  /** The rounding line's words for the card, if it has one. */
  note: string | null;
}

/** The changed documents that can be sent; each other one needs attention, and says why. */
export async function checked<P>(round: Round<P>, candidates: Candidate[]): Promise<Candidate[]> {
  const ready: Candidate[] = [];
  for (const c of candidates) {
    if (!c.contentChanged) continue;
    const held = c.doc.customer ? await round.mapping.holdOf(c.doc) : round.say.noCustomer(c.doc);
    if (held) round.attention(keyOf(c.doc), held);
    else ready.push(c);
  }
  return ready;
}

/** The Xero state of the linked candidates, keyed by lower-case Xero id. */
export async function readLinked<P>(round: Round<P>, candidates: Candidate[]): Promise<XeroStates> {
  // A document that only misses its write-back needs no read when its link tells what to write (`stateOfLink`).
  const ids = candidates.flatMap((c) => (c.link && !(c.unwritten && round.kind.stateOfLink?.(c.link)) ? [c.link.xeroId] : []));
  return ids.length ? round.kind.read(round.gateway, round.tenantId, ids) : new Map();
}

/**
 * The Xero payload of each ready document. The organisation's currencies and tracking categories come from its
 * cached lists (org-data.ts, as the round's mapping read them); the rounding account is read only when a document
 * needs a rounding line (rounding-account.ts).
 */
export async function buildAll<P>(
  round: Round<P>,
  ready: Candidate[],
  known: { xeroState: XeroStates; lost: LostDocuments; contacts: ResolvedContacts },
): Promise<SendItem<P>[]> {
  const needsRounding = ready.some((c) => representationOf(c.doc, { roundingAccount: 'any' }, round.kind.xeroType).rounding);
  const roundingAccount = needsRounding ? await roundingAccountOf(round.gateway, round.settings) : null;
  const { currencies, trackingCategories } = round.mapping.org;
  const items: SendItem<P>[] = [];
  for (const c of ready) {
    const key = keyOf(c.doc);
    const cKey = customerKey(c.doc.customer!);
    const contactId = known.contacts.contactIds.get(cKey);
    if (!contactId) {
      round.attention(key, known.contacts.failures.get(cKey) ?? round.say.contactFailed(c.doc));
      continue;
    }
    let existing: { id: string; lineItemIds: string[] } | undefined;
    if (c.link) {
      const state = known.xeroState.get(c.link.xeroId.toLowerCase());
      if (state && !round.kind.editable.has(state.status)) {
        await record.notEditable(round, c.doc, c.link, c.hash, state);
        round.settle(key, { kind: 'done' });
        continue;
      }
      if (state) existing = { id: state.id, lineItemIds: state.lineItemIds };
    } else {
      // Only the document this connector sent before the crash is healed, never a stranger's with the same
      // reference (heal-lost.ts).
      const healed = await healedOf(round, c, contactId, known.lost);
      if (healed) {
        if (!round.kind.editable.has(healed.status)) {
          await record.linked(round, c.doc, c.hash, healed);
          round.settle(key, { kind: 'done' });
          continue;
        }
        existing = { id: healed.id, lineItemIds: healed.lineItemIds };
      }
    }
    try {
      // Products imported from (or matched to) Xero items carry their item code on the line.
      const itemCodes = await round.store.links.itemCodes(round.memberId, c.doc.lines.flatMap((l) => (l.productId ? [l.productId] : [])));
      const payload = round.kind.build(c.doc, { contactId, settings: round.settings, currencies, existing, roundingAccount, itemCodes, trackingCategories });
      const note = roundingNote(c.doc, representationOf(c.doc, { roundingAccount }, round.kind.xeroType), roundingAccount);
      // The key names the content and whether it updates an existing document, so a healed document is a new
      // request for Xero rather than a replay of the lost one with another body.
      items.push({ key, payload, idempotencyKey: `${key}:${c.hash}:${existing?.id ?? 'new'}`, c, creates: !existing, note });
    } catch (err) {
      if (err instanceof AppError) round.attention(key, err);
      else throw err;
    }
  }
  return items;
}
