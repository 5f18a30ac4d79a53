/**
 * A month of plausible history for the demo, so the dashboard's charts and log show something on first open:
 * documents sent to Xero, edits, payments that came back, and a few that stopped for a cause — spread over the
 * last 30 days (more on weekdays and office hours), about the portal's own invoices. Entries carry
 * `details.demo = true`; the demo's live syncs come on top. Deterministic: the same history every start.
 */
import type { Store } from '../app/store/index.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Records the history; returns how many entries were written. */
export function seedDemoHistory(store: Store, memberId: string, invoiceIds: number[], now = Date.now()): number {
  if (!invoiceIds.length) return 0;
  let seed = 7;
  const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
  let written = 0;
  let number = 100;
  store.transaction(() => {
    for (let day = 30; day >= 1; day--) {
      const start = Math.floor((now - day * DAY) / DAY) * DAY;
      const weekday = new Date(start).getUTCDay() % 6 !== 0;
      const count = Math.round((weekday ? 8 : 2) + random() * (weekday ? 10 : 3));
      for (let i = 0; i < count; i++) {
        const at = start + (8 + Math.floor(random() * 10)) * HOUR + Math.floor(random() * HOUR);
        const id = invoiceIds[Math.floor(random() * invoiceIds.length)]!;
        const subject = `smart_invoice:${id}`;
        const roll = random();
        number += 1;
        const xeroNumber = `INV-${String(number).padStart(4, '0')}`;
        if (roll < 0.08) {
          store.activity.record({ memberId, level: 'error', kind: 'job.attention', subject, message: `Invoice ${id}: "Consulting hour" has no Xero sales account. Set its Xero sales account in the product card, or a default sales account in the connector settings.`, details: { demo: true } }, at);
        } else if (roll < 0.6) {
          store.activity.record({ memberId, level: 'info', kind: 'invoice.created', subject, message: `Invoice ${id} sent to Xero as draft ${xeroNumber}.`, details: { demo: true } }, at);
        } else if (roll < 0.8) {
          store.activity.record({ memberId, level: 'info', kind: 'invoice.updated', subject, message: `Invoice ${id} updated in Xero as ${xeroNumber} (DRAFT).`, details: { demo: true } }, at);
        } else {
          store.activity.record({ memberId, level: 'info', kind: 'pull-statuses', subject, message: `Invoice ${xeroNumber} was paid in Xero. Moved to the stage "Paid".`, details: { demo: true } }, at);
        }
        written += 1;
      }
    }
  });
  return written;
}
