/**
 * Invoices (smart and classic) as a kind of document push: `POST /Invoices`, edits while DRAFT or SUBMITTED, a
 * Bitrix24 deletion deletes the draft or voids the approved unpaid invoice, a failure stage does the same and the
 * approve stage approves (when the setting is on).
 */
import type { Invoice } from 'xero-node';
import { AppError } from '../errors.js';
import { mappedStage, pipelineKey, semanticDefaults } from '../bitrix/stages.js';
import { invoicesModifiedSince } from '../xero/changes.js';
import { approveInvoice, deleteOrVoidInvoice, findInvoicesByReference, getInvoices, pushInvoices } from '../xero/invoices.js';
import { toXeroInvoice } from '../xero/invoice-mapper.js';
import { getQuotes, moveQuote } from '../xero/quotes.js';
import type { OrgTrackingCategory } from '../xero/organisation.js';
import type { SalesDocument } from '../domain/document.js';
import type { Link } from '../store/links.js';
import type { PortalSettings } from '../domain/settings.js';
import type { DocumentKind, KindContext } from './document-kind.js';
import { ownValue } from '../own-keys.js';

/**
 * The invoice's Reference, as the `reference` setting says: its Bitrix24 number or its title (the number when it has
 * none), and the Xero quote it was made from. Xero takes up to 255 characters.
 */
function referenceOf(doc: SalesDocument, settings: Pick<PortalSettings, 'reference'>): string {
  const base = settings.reference === 'title' ? doc.title.trim() || doc.number : doc.number;
  return (doc.quoteNumber ? `${base} (quote ${doc.quoteNumber})` : base).slice(0, 255);
}

/** The value of the Bitrix24 field the tracking setting names, as text ('' when empty). */
function trackingValueOf(doc: SalesDocument, field: string): string {
  const fields = doc.fields ?? {};
  const key = Object.keys(fields).find((k) => k.toLowerCase() === field.toLowerCase());
  const v = key === undefined ? null : fields[key];
  return v === null || v === undefined || Array.isArray(v) || typeof v === 'object' ? '' : String(v).trim();
}

/**
 * The invoice settings applied to the built invoice: Reference, branding theme, and the tracking category on every
 * line, its option named by the chosen Bitrix24 field. A document whose field is empty goes untracked. A value that is
 * no active option of the category holds the invoice (SYNC.UNKNOWN_TRACKING_OPTION) rather than sending it untracked:
 * an accountant's tracking reports would silently miss it otherwise.
 */
export function applyInvoiceSettings(invoice: Invoice, doc: SalesDocument, settings: PortalSettings, trackingCategories?: readonly OrgTrackingCategory[]): Invoice {
  const out: Invoice = { ...invoice, reference: referenceOf(doc, settings) };
  if (settings.brandingThemeId) out.brandingThemeID = settings.brandingThemeId;
  if (!settings.tracking) return out;
  const value = trackingValueOf(doc, settings.tracking.field);
  if (!value) return out;
  const what = `Invoice ${doc.number || doc.id}`;
  const category = trackingCategories?.find((c) => c.id.toLowerCase() === settings.tracking!.categoryId.toLowerCase());
  if (!category || category.status !== 'ACTIVE') {
    throw new AppError('SYNC.UNKNOWN_TRACKING_CATEGORY', `${what} cannot be tracked: the tracking category chosen in the connector settings is not an active Xero tracking category. Choose another one in the settings, or refresh the organisation's data from Xero.`, 422);
  }
  const option = category.options.find((o) => o.status === 'ACTIVE' && o.name.trim().toLowerCase() === value.toLowerCase());
  if (!option) {
    throw new AppError(
      'SYNC.UNKNOWN_TRACKING_OPTION',
      `${what} has "${value}" in ${settings.tracking.field}, which is not an option of the Xero tracking category "${category.name}" (it has ${category.options.filter((o) => o.status === 'ACTIVE').map((o) => `"${o.name}"`).join(', ') || 'none'}). Add the option in Xero (Settings → Tracking categories) or change the value in Bitrix24.`,
      422,
      { value, category: category.name },
    );
  }
  const tracking = [{ trackingCategoryID: category.id, trackingOptionID: option.id, name: category.name, option: option.name }];
  out.lineItems = (invoice.lineItems ?? []).map((l) => ({ ...l, tracking }));
  return out;
}

/**
 * The quote an invoice was made from becomes INVOICED in Xero, where Xero allows it (from ACCEPTED); otherwise the
 * quote's card says why it stays as it is. Errors here never undo the invoice: they are logged on the quote.
 */
async function invoiceQuotes(written: { doc: SalesDocument }[], ctx: KindContext): Promise<void> {
  const { store, memberId } = ctx;
  const pairs: { doc: SalesDocument; quote: Link }[] = [];
  for (const { doc } of written) {
    const quote = doc.parentQuoteId ? await store.links.find(memberId, 'quote', doc.parentQuoteId) : undefined;
    if (quote && quote.connectionId === ctx.connectionId && quote.xeroStatus !== 'INVOICED') pairs.push({ doc, quote });
  }
  if (pairs.length === 0) return;
  const states = await getQuotes(ctx.gateway, ctx.tenantId, pairs.map((p) => p.quote.xeroId));
  for (const { doc, quote } of pairs) {
    const subject = `quote:${quote.b24Id}`;
    const status = states.get(quote.xeroId.toLowerCase())?.status ?? quote.xeroStatus ?? 'DRAFT';
    if (status === 'INVOICED') continue;
    if (status !== 'ACCEPTED') {
      await store.activity.record({ memberId, level: 'warn', kind: 'quote.not_invoiced', subject, message: `Quote ${quote.xeroNumber} stays ${status} in Xero although invoice ${doc.number} was made from it: Xero marks only accepted quotes as invoiced.` });
      continue;
    }
    try {
      const moved = await moveQuote(ctx.gateway, ctx.tenantId, quote.xeroId, status, 'INVOICED');
      await store.transaction(async () => {
        await store.links.save({ ...quote, xeroStatus: moved.status });
        await store.activity.record({ memberId, level: 'info', kind: 'quote.invoiced', subject, message: `Quote ${quote.xeroNumber} was marked invoiced in Xero: invoice ${doc.number} was made from it.` });
      });
    } catch (err) {
      if (!(err instanceof AppError) || (err as { transient?: boolean }).transient) throw err;
      await store.activity.record({ memberId, level: 'error', kind: 'quote.stage_refused', subject, message: err.message });
    }
  }
}

/** What a Xero invoice status says of the invoice in the pull's log (docs/reference/xero.md#invoices). */
const SAID: Record<string, string> = {
  AUTHORISED: 'was approved in Xero', SUBMITTED: 'was submitted for approval in Xero', DRAFT: 'is a draft in Xero',
  VOIDED: 'was voided in Xero', DELETED: 'was deleted in Xero', PAID: 'was paid in Xero',
};

export const invoiceKind: DocumentKind<Invoice> = {
  xeroType: 'invoice',
  noun: 'invoice',
  // Xero statuses in which Bitrix24 edits still reach the Xero invoice (docs/reference/xero.md#invoices).
  editable: new Set(['DRAFT', 'SUBMITTED']),
  enabled: () => true,
  async prepare(doc, { store, memberId, connectionId }) {
    const quote = doc.parentQuoteId ? await store.links.find(memberId, 'quote', doc.parentQuoteId) : undefined;
    return quote && quote.connectionId === connectionId && quote.xeroNumber ? { ...doc, quoteNumber: quote.xeroNumber } : doc;
  },
  afterWrite: invoiceQuotes,
  reference: referenceOf,
  hashed: (doc, settings) => [
    ...(doc.quoteNumber ? [doc.quoteNumber] : []),
    ...(settings.reference === 'title' ? ['title', doc.title] : []),
    ...(settings.brandingThemeId ? [settings.brandingThemeId] : []),
    ...(settings.tracking ? [settings.tracking.categoryId, trackingValueOf(doc, settings.tracking.field)] : []),
  ],
  build: (doc, ctx) => applyInvoiceSettings(toXeroInvoice(doc, ctx), doc, ctx.settings, ctx.trackingCategories),
  push: pushInvoices,
  read: getInvoices,
  findLost: (gateway, tenantId, lost) => findInvoicesByReference(gateway, tenantId, lost.map((l) => l.reference)),

  notEditable: (doc, status) =>
    `Changes to invoice ${doc.number} were not sent: it is ${status} in Xero, where only drafts can be edited. Change it in Xero, or void it there and create a new invoice.`,

  async remove(gateway, tenantId, link, state, settings) {
    if (state.status === 'AUTHORISED' && !settings.voidOnDelete) {
      return { kept: `Invoice ${link.xeroNumber} was deleted in Bitrix24 but stays approved in Xero (voiding on delete is off in the settings).` };
    }
    const { status } = await deleteOrVoidInvoice(gateway, tenantId, link.xeroId, state.status);
    return { status, message: `Invoice ${link.xeroNumber} was ${status === 'VOIDED' ? 'voided' : 'deleted'} in Xero because it was deleted in Bitrix24.` };
  },

  async stageAction(gateway, tenantId, { doc, link, pipeline, stage, status }, settings) {
    const where = `"${stage?.name ?? doc.stageId}"`;
    if (stage?.semantics === 'F') {
      if (status === 'DELETED' || status === 'VOIDED') return null;
      if (status === 'PAID') {
        throw new AppError('SYNC.CANNOT_REMOVE_INVOICE', `Invoice ${link.xeroNumber} is paid in Xero, so moving it to ${where} cannot void it. Remove the payment in Xero first, or credit the invoice there.`, 409);
      }
      const next = (await deleteOrVoidInvoice(gateway, tenantId, link.xeroId, status)).status;
      return { status: next, message: `Invoice ${link.xeroNumber} was ${next === 'VOIDED' ? 'voided' : 'deleted'} in Xero because it was moved to ${where} in Bitrix24.` };
    }
    const approveStage = pipeline ? ownValue(settings.approveStages, pipelineKey(doc.type, doc.categoryId)) ?? semanticDefaults(pipeline).sent : undefined;
    if (settings.approveInXero && doc.stageId === approveStage && (status === 'DRAFT' || status === 'SUBMITTED')) {
      const next = (await approveInvoice(gateway, tenantId, link.xeroId)).status;
      return { status: next, message: `Invoice ${link.xeroNumber} was approved in Xero because it was moved to ${where} in Bitrix24.` };
    }
    return null;
  },

  pull: {
    changedSince: invoicesModifiedSince,
    stageOf: (pipeline, status, override) => mappedStage(pipeline, 'invoice', status, override),
    fields: (change) => ({ status: change.status, amountDue: change.amountDue.toNumber(2), amountPaid: change.amountPaid.toNumber(2) }),
    tellsPayments: true,
    said: (status) => ownValue(SAID, status) ?? `is ${status} in Xero`,
  },
};
