/**
 * What the push says, in one place: each line it writes to the activity log (the dashboard's log and the card), its
 * level and log kind, the problems that hold a document, and the lines of the process log. A line carries no portal
 * and no subject: the record step adds them (record.ts). What differs per kind is worded by the kind
 * (document-kind.ts: `notEditable`, `remove`, `stageAction`); this module gives those words their place in the log.
 */
import type { ActivityInput } from '../../store/activity.js';
import { Decimal } from '../../domain/money.js';
import type { XeroDocumentState } from '../../xero/documents.js';
import type { SalesDocument } from '../../domain/document.js';
import type { DocumentKind } from '../document-kind.js';

/** An activity log line without its portal and subject. */
export type Line = Omit<ActivityInput, 'memberId' | 'subject'>;

/** Why a document cannot be sent: it needs attention, with a stable code. */
export interface Problem {
  code: string;
  message: string;
}

export type PushMessages = ReturnType<typeof pushMessages>;

/** The push's words for documents of this kind. */
export function pushMessages(kind: Pick<DocumentKind, 'noun' | 'xeroType' | 'notEditable'>) {
  const { noun, xeroType: x } = kind;
  const Noun = capital(noun);
  return {
    created: (doc: SalesDocument, state: XeroDocumentState): Line => ({
      level: 'info', kind: `${x}.created`, message: `${Noun} ${doc.number} sent to Xero as draft ${state.number}.`,
      details: { xeroId: state.id, total: state.total },
    }),
    updated: (doc: SalesDocument, state: XeroDocumentState): Line => ({
      level: 'info', kind: `${x}.updated`, message: `${Noun} ${doc.number} updated in Xero as ${state.number} (${state.status}).`,
      details: { xeroId: state.id, total: state.total },
    }),
    totalMismatch: (doc: SalesDocument, xeroTotal: Decimal): Line => ({
      level: 'warn', kind: `${x}.total_mismatch`,
      message: `Totals differ for ${noun} ${doc.number}: Bitrix24 ${doc.total.toFixed(2)} ${doc.currency}, Xero ${xeroTotal.toFixed(2)} ${doc.currency}. Check the rows' prices, discounts and VAT rates.`,
      details: { bitrix24: doc.total.toFixed(2), xero: xeroTotal.toFixed(2) },
    }),
    notEditable: (doc: SalesDocument, status: string): Line => ({ level: 'warn', kind: `${x}.not_editable`, message: kind.notEditable(doc, status) }),
    deleteRefused: (id: string): Line => ({
      level: 'warn', kind: 'event.delete_refused',
      message: `A delete event arrived for ${noun} ${id}, but it still exists in Bitrix24, so nothing was deleted or voided in Xero.`,
    }),
    kept: (message: string): Line => ({ level: 'warn', kind: `${x}.kept`, message }),
    removed: (message: string): Line => ({ level: 'info', kind: `${x}.removed`, message }),
    removeRefused: (message: string): Line => ({ level: 'error', kind: `${x}.remove_refused`, message }),
    stageAction: (message: string): Line => ({ level: 'info', kind: `${x}.stage_action`, message }),
    stageRefused: (message: string): Line => ({ level: 'error', kind: `${x}.stage_refused`, message }),
    followUpFailed: (err: Error) => ({
      log: `follow-up of pushed ${noun}s failed`,
      line: { level: 'warn', kind: `${x}.follow_up_failed`, message: `After sending ${noun}s to Xero, a follow-up failed: ${err.message}` } satisfies Line,
    }),
    writeBackFailed: (err: Error) => ({
      log: `write-back to Bitrix24 failed; Xero has the ${noun}s`,
      line: { level: 'warn', kind: 'b24.write_back_failed', message: `Xero numbers could not be written back to Bitrix24: ${err.message}` } satisfies Line,
    }),
    stagesUnread: (doc: SalesDocument, error: string): string =>
      `The stage ${noun} ${doc.number} was moved to could not be acted on: Bitrix24 did not read the stages of its pipeline (${error}); it will be tried again.`,
    noCustomer: (doc: SalesDocument): Problem => ({
      code: 'SYNC.NO_CUSTOMER', message: `${Noun} ${doc.number} has no company or contact. Choose the customer on the ${noun}.`,
    }),
    contactFailed: (doc: SalesDocument): Problem => ({
      code: 'XERO.CONTACT_FAILED', message: `The customer "${doc.customer!.name}" could not be found or created in Xero.`,
    }),
  };
}

function capital(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}
