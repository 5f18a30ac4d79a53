/**
 * What changed: of the Xero documents read, the linked ones of this portal whose Xero status or amount paid differs
 * from what their link last saw — the latest change of each, when a read names one twice.
 */
import { Decimal } from '../../domain/money.js';
import type { XeroChange } from '../../xero/changes.js';
import type { Pending, PullRound } from './round.js';

export async function changedLinks(round: PullRound, changes: XeroChange[]): Promise<Pending[]> {
  const latest = new Map<string, XeroChange>();
  for (const c of changes) {
    const prev = latest.get(c.id.toLowerCase());
    if (!prev || (c.updatedAt ?? 0) >= (prev.updatedAt ?? 0)) latest.set(c.id.toLowerCase(), c);
  }
  if (latest.size === 0) return [];
  return (await round.store.links.pulledByXero(round.connection.id, round.kind.xeroType, [...latest.keys()]))
    .filter((link) => link.memberId === round.memberId)
    .map((link) => ({ link, change: latest.get(link.xeroId.toLowerCase())!, ref: round.refOf(link) }))
    .filter(({ link, change }) => change.status !== link.xeroStatus || !change.amountPaid.eq(Decimal.of(link.amountPaid ?? 0)));
}
