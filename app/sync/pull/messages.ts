/**
 * What the pull says, in one place: its lines in the activity log (kind `pull-statuses`; the dashboard's log and the
 * card) and the payment comment written to a document's timeline. A line carries no portal and no subject: the
 * record step adds them (record.ts). What a Xero status says of a document is worded by its kind (`pull.said`).
 */
import { PAID_TRIGGER } from '../../bitrix/portal-setup.js';
import type { Decimal } from '../../domain/money.js';
import type { ActivityInput } from '../../store/activity.js';
import type { XeroChange } from '../../xero/changes.js';
import type { DocumentKind } from '../document-kind.js';
import type { Pending, Plan } from './round.js';

/** An activity log line without its portal and subject. */
export type Line = Omit<ActivityInput, 'memberId' | 'subject'>;

const KIND = 'pull-statuses';

/** "NZD 1,150.00" */
export function formatMoney(currency: string, amount: Decimal): string {
  const [int, frac] = amount.abs().toFixed(2).split('.');
  const grouped = int!.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${amount.isNegative() ? '-' : ''}${currency ? `${currency} ` : ''}${grouped}.${frac}`;
}

/** "Invoice INV-0042" */
function label(kind: DocumentKind, { link, change }: Pending): string {
  return `${kind.noun.charAt(0).toUpperCase()}${kind.noun.slice(1)} ${change.number || link.xeroNumber || link.xeroId}`;
}

/** A document written: what Xero said, and what became of its stage. */
export function pulled(kind: DocumentKind, plan: Plan): Line {
  const { change } = plan;
  const money = (amount: Decimal) => formatMoney(change.currency, amount);
  const stageName = (id: string) => plan.pipeline?.stages.find((s) => s.id === id)?.name ?? id;
  let text: string;
  if (change.status === 'PAID') text = `${label(kind, plan)} ${kind.pull.said(change.status)} (${money(change.total)}).`;
  else if (plan.received.cmp(0) > 0) text = `${label(kind, plan)} received a payment of ${money(plan.received)} in Xero; ${money(change.amountDue)} is still due.`;
  else text = `${label(kind, plan)} ${kind.pull.said(change.status)}.`;
  if (plan.movedTo) text += ` Moved to the stage "${stageName(plan.movedTo)}".`;
  if (plan.keptByHand) text += ` The stage "${stageName(plan.keptByHand)}", chosen by hand, was kept.`;
  return {
    level: 'info', kind: KIND, message: text,
    details: { xeroId: change.id, status: change.status, amountPaid: change.amountPaid.toFixed(2), amountDue: change.amountDue.toFixed(2), stage: plan.movedTo ?? plan.stage },
  };
}

export function notRead(kind: DocumentKind, p: Pending, why: { stage: string } | { pipeline: string }): Line {
  const what = 'stage' in why ? `its current stage could not be read from Bitrix24 (${why.stage})` : `the stages of its pipeline could not be read from Bitrix24 (${why.pipeline})`;
  return { level: 'warn', kind: KIND, message: `${label(kind, p)}: the Xero status ${p.change.status} was not written to Bitrix24, as ${what}; it will be tried again.` };
}

export function notWritten(kind: DocumentKind, p: Pending, error: string): Line {
  return { level: 'warn', kind: KIND, message: `${label(kind, p)}: the Xero status ${p.change.status} could not be written to Bitrix24 (${error}); it will be tried again.` };
}

export function triggerFailed(kind: DocumentKind, p: Pending, error: string): Line {
  return { level: 'warn', kind: KIND, message: `The "${PAID_TRIGGER.name}" automation could not be started for ${label(kind, p)}: ${error}` };
}

/** The timeline comment of a payment received in Xero. */
export function paymentComment(change: XeroChange, received: Decimal): string {
  const money = (amount: Decimal) => formatMoney(change.currency, amount);
  if (change.amountDue.isZero()) return `Payment of ${money(received)} received in Xero for invoice ${change.number}. The invoice is paid in full (${money(change.total)}).`;
  return `Payment of ${money(received)} received in Xero for invoice ${change.number}. Paid so far: ${money(change.amountPaid)} of ${money(change.total)}; ${money(change.amountDue)} is still due.`;
}
