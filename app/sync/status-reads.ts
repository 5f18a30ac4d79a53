/**
 * A status read asked for one Xero invoice: a job of the status pull (pull/pull-statuses.ts, kind `xero-webhook`) that reads
 * the invoice by id and carries what changed into Bitrix24 — its stage, the payment comment, the "Paid in Xero"
 * trigger. Xero's webhooks ask for it (http/xero-webhook-routes.ts), and so does the push when it meets an invoice Xero
 * changed before its status came back. One job per invoice and connection: a second ask while one waits is the same job.
 */
import type { Store } from '../store/index.js';

export interface StatusReadAsk {
  memberId: string;
  connectionId: number;
  invoiceId: string;
  /** What asked, for the job's payload (a webhook's event type and time). */
  eventType?: string;
  at?: string | null;
}

export async function askStatusRead(store: Store, ask: StatusReadAsk): Promise<void> {
  await store.jobs.enqueue({
    memberId: ask.memberId,
    kind: 'xero-webhook',
    key: `xero-webhook:${ask.connectionId}:${ask.invoiceId}`,
    payload: { connectionId: ask.connectionId, invoiceId: ask.invoiceId, ...(ask.eventType ? { eventType: ask.eventType, at: ask.at ?? null } : {}) },
  });
}
