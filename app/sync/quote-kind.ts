/**
 * Quotes as a kind of document push: `POST /Quotes`, edits while Xero allows them (DRAFT, SENT), a Bitrix24 deletion
 * marks the Xero quote DELETED, and a stage a person chooses asks for the Xero status it means — by the stage's
 * semantics (success → ACCEPTED, failure → DECLINED, the last in-progress stage → SENT) or the admin's quote stage
 * map — reached through Xero's allowed transitions (a draft goes through SENT before ACCEPTED). Xero's own changes
 * (e.g. INVOICED) never move the Bitrix24 quote: the status pull only shows them.
 */
import type { Quote } from 'xero-node';
import { semanticDefaults, type Pipeline, type Stage } from '../bitrix/stages.js';
import { toXeroQuote } from '../xero/invoice-mapper.js';
import { findQuotesByReference, getQuotes, moveQuote, pushQuotes } from '../xero/quotes.js';
import { quotesModifiedSince } from '../xero/changes.js';
import type { DocumentKind } from './document-kind.js';
import type { PortalSettings } from '../domain/settings.js';
import { ownValue } from '../own-keys.js';

/** Seconds before the earliest lost send from which Xero's quotes are searched (clock skew). */
const LOOKUP_SKEW_MS = 60_000;

const VERB: Record<string, string> = { SENT: 'marked sent', ACCEPTED: 'accepted', DECLINED: 'declined', DELETED: 'deleted', INVOICED: 'marked invoiced' };

/** The Xero quote status a Bitrix24 quote stage asks for: the admin's map, else the stage's semantics; null: none. */
export function quoteStatusOfStage(pipeline: Pipeline | undefined, stage: Stage | undefined, settings: PortalSettings): string | null {
  if (!stage) return null;
  const chosen = ownValue(settings.quoteStageMap, stage.id);
  if (chosen) return chosen;
  if (stage.semantics === 'S') return 'ACCEPTED';
  if (stage.semantics === 'F') return 'DECLINED';
  return pipeline && semanticDefaults(pipeline).sent === stage.id ? 'SENT' : null;
}

/** What a Xero quote status says of the quote in the pull's log (docs/reference/xero.md#quotes). */
const SAID: Record<string, string> = {
  DRAFT: 'is a draft in Xero', SENT: 'was sent to the customer from Xero', ACCEPTED: 'was accepted in Xero',
  DECLINED: 'was declined in Xero', INVOICED: 'was invoiced in Xero', DELETED: 'was deleted in Xero',
};

export const quoteKind: DocumentKind<Quote> = {
  xeroType: 'quote',
  noun: 'quote',
  // Xero accepts content edits of DRAFT and SENT quotes (docs/reference/xero.md#quotes).
  editable: new Set(['DRAFT', 'SENT']),
  followsFirstStage: true,
  enabled: (settings) => settings.quoteSync,
  reference: (doc) => doc.number,
  hashed: (doc, settings) => [doc.title, doc.summary ?? null, doc.terms ?? null, settings.brandingThemeId, settings.documentNumbering],
  build: toXeroQuote,
  push: pushQuotes,
  // A write-back shows the quote's id, number and status, all kept on the link (the status pull keeps the status).
  stateOfLink: (link) => (link.xeroNumber && link.xeroStatus ? {
    id: link.xeroId, number: link.xeroNumber, reference: '', status: link.xeroStatus, total: 0, amountDue: 0, amountPaid: 0,
    currencyCode: '', contactId: null, lineItemIds: [], updatedDateUTC: null,
  } : null),
  read: getQuotes,
  findLost: (gateway, tenantId, lost) =>
    findQuotesByReference(gateway, tenantId, lost.map((l) => l.reference), new Date(Math.min(...lost.map((l) => l.sentAt)) - LOOKUP_SKEW_MS)),

  notEditable: (doc, status) =>
    `Changes to quote ${doc.number} were not sent: it is ${status} in Xero, which keeps ${status.toLowerCase()} quotes as they are. Change it in Xero, or create a new quote in Bitrix24.`,

  async remove(gateway, tenantId, link, state) {
    const { status } = await moveQuote(gateway, tenantId, link.xeroId, state.status, 'DELETED');
    return { status, message: `Quote ${link.xeroNumber} was deleted in Xero because it was deleted in Bitrix24.` };
  },

  async stageAction(gateway, tenantId, { doc, link, pipeline, stage, status }, settings) {
    const target = quoteStatusOfStage(pipeline, stage, settings);
    if (!target || target === status) return null;
    const moved = await moveQuote(gateway, tenantId, link.xeroId, status, target).catch((err: Error) => {
      err.message = `Quote ${link.xeroNumber} stays ${status} in Xero although it was moved to "${stage?.name ?? doc.stageId}" in Bitrix24: ${err.message}`;
      throw err;
    });
    const via = moved.steps.length > 1 ? ` (through ${moved.steps.slice(0, -1).join(', ')})` : '';
    return { status: moved.status, message: `Quote ${link.xeroNumber} was ${VERB[moved.status] ?? `set to ${moved.status}`} in Xero${via} because it was moved to "${stage?.name ?? doc.stageId}" in Bitrix24.` };
  },

  // Quotes are mastered in Bitrix24: Xero's quote statuses (e.g. INVOICED) are shown on the card and logged, and never
  // move the Bitrix24 quote (no `stageOf`); quotes have no payments.
  pull: {
    changedSince: quotesModifiedSince,
    fields: (change) => ({ status: change.status }),
    tellsPayments: false,
    said: (status) => ownValue(SAID, status) ?? `is ${status} in Xero`,
  },
};
