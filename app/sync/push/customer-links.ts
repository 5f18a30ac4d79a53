/**
 * The push's customer links: which customers are linked to a Xero contact already, and the links that the Xero
 * contact resolution (xero/contacts.ts) found or created, saved by the use case that asked for them.
 */
import type { Link } from '../../store/links.js';
import type { Store } from '../../store/index.js';
import type { DocumentCustomer } from '../../domain/document.js';
import { customerKey, type ContactLink } from '../../xero/contacts.js';
import { mapEach } from '../../async-lists.js';

/** customerKey → ContactID of the customers already linked for this portal. */
export async function knownContactIds(store: Store, memberId: string, customers: DocumentCustomer[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const c of customers) {
    const l = await store.links.find(memberId, c.kind, c.id);
    if (l && l.xeroType === 'contact') out.set(customerKey(c), l.xeroId);
  }
  return out;
}

/** Saves the links `resolveContacts` found or created. */
export function saveContactLinks(store: Store, memberId: string, connectionId: number, links: ContactLink[]): Promise<Link[]> {
  return store.transaction(() =>
    mapEach(links, (l) =>
      store.links.save({
        memberId, connectionId, b24Type: l.b24Type, b24Id: l.b24Id, xeroType: 'contact', xeroId: l.contactId,
        xeroNumber: l.customerKey, contentHash: null, xeroStatus: 'ACTIVE', xeroUpdatedAt: null,
      }),
    ),
  );
}
