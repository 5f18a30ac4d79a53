/**
 * Customers → Xero contacts: the customers of the documents to send are announced as soon as they are loaded, so a
 * resolution running for another round takes them along; then they are resolved (links, then look-ups, then one
 * batch create) and the new links recorded.
 */
import { announceCustomers, customerKey, resolveContacts, type ResolvedContacts } from '../../xero/contacts.js';
import { knownContactIds } from './customer-links.js';
import type { DocumentCustomer } from '../../domain/document.js';
import * as record from './record.js';
import type { Candidate, Round } from './round.js';

/** Announces the new customers of documents to send, for a resolution of another round to take along. */
export async function announce<P>(round: Round<P>, candidates: Candidate[]): Promise<void> {
  const customers = customersOf(candidates.filter((c) => c.contentChanged));
  const known = await knownContactIds(round.store, round.memberId, customers);
  const fresh = customers.filter((c) => !known.has(customerKey(c)));
  if (fresh.length) round.announced.push(announceCustomers(round.gateway, fresh));
}

/** The Xero contact of each customer of the documents about to be built, or why it has none. */
export async function resolveCustomers<P>(round: Round<P>, ready: Candidate[]): Promise<ResolvedContacts> {
  const customers = customersOf(ready);
  const contacts = await resolveContacts(round.gateway, round.tenantId, customers, await knownContactIds(round.store, round.memberId, customers));
  await record.contacts(round, contacts.links);
  return contacts;
}

/** The distinct customers of the documents, in their order. */
function customersOf(candidates: Candidate[]): DocumentCustomer[] {
  const seen = new Map<string, DocumentCustomer>();
  for (const { doc } of candidates) if (doc.customer && !seen.has(customerKey(doc.customer))) seen.set(customerKey(doc.customer), doc.customer);
  return [...seen.values()];
}
