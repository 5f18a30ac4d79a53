// The Accounting API's business rules: invoices, quotes, contacts, items, payments. Pure state transitions on a
// Tenant; HTTP lives in accounting-routes.ts. Every rule names its source; "unverified" wording is marked as such.
import {
  ZERO_GUID, compact, dayStart, deepClone, isoDateString, msDate, msFromXeroDate, newId, num, parseClientDate, round, round2,
  type XeroObject,
} from './xero-json.js';
import { addHistory, type Tenant } from './state.js';

export type ChangeKind = 'CREATE' | 'UPDATE';
export type ChangeListener = (tenantId: string, category: 'INVOICE' | 'CONTACT', type: ChangeKind, resourceId: string) => void;

/** Outcome of one element of a PUT/POST batch. */
export interface ElementResult { ok: boolean; record: XeroObject; errors: string[] }

// ---- messages ---------------------------------------------------------------------------------------------------
// Source: docs/reference/xero.md#invoices, docs/reference/xero.md#errors; xero_accounting.yaml 400 examples. Wording marked "unverified" is our best
// knowledge of Xero's text where neither the spec nor the reference quotes it.
export const MSG = {
  invoiceNumberUnique: 'Invoice # must be unique.', // spec /Invoices/{InvoiceID} 400 example
  notValidStatus: 'Invoice not of valid status for modification', // docs/reference/xero.md#invoices
  hasPayment: 'This document cannot be edited as it has a payment or credit note allocated to it.', // docs/reference/xero.md#invoices
  notFound: 'The document with the supplied id was not found for this endpoint.', // spec 400 examples
  contactIdentify: 'The Contact must contain at least 1 of the following elements to identify the contact: Name, ContactID, ContactNumber', // spec
  contactNameUnique: (name: string) => `The contact name ${name} is already assigned to another contact. The contact name must be unique across all active contacts.`, // spec /Contacts 400 example
  paymentExceeds: 'Payment amount exceeds the amount outstanding on this document', // spec /Payments 400 example
  itemCodeExists: (code: string) => `Price List Item with Code '${code}' already exists`, // spec /Items 400 example
  // unverified wording:
  contactRequired: 'A Contact must be specified for this type of transaction',
  contactNotFound: (id: string) => `The contact with ID ${id} could not be found.`,
  contactArchived: 'The contact has been archived and cannot be edited.',
  contactNameRequired: 'The contact name must be specified.',
  invoiceTypeRequired: 'Invoice Type must be specified',
  accountInvalid: (code: string) => `Account code '${code}' is not a valid code for this document.`,
  accountRequired: 'Account code must be specified for each line item of an approved document.',
  taxTypeInvalid: (code: string) => `The TaxType code '${code}' does not exist or cannot be used for this type of transaction.`,
  itemCodeInvalid: (code: string) => `Item code '${code}' is not valid.`,
  dueDateRequired: 'Due Date must be specified for an approved document.',
  lineItemsRequired: 'At least one line item must be specified for this document.',
  currencyInvalid: (c: string) => `The currency code '${c}' is not valid for this organisation.`,
  paidDirectly: 'Invoice not of valid status for modification', // PAID is only ever set by payments (docs/reference/xero.md#invoices)
  paymentNotAuthorised: 'Payment can only be made against Authorised documents.',
  paymentAccount: 'Payments can only be made to Bank accounts or accounts with Enable Payments To Account set.',
  paymentAmount: 'Payment amount must be greater than zero.',
  quoteTransition: (from: string, to: string) => `Quote status cannot be changed from ${from} to ${to}.`,
  quoteNotEditable: (s: string) => `A quote with status ${s} cannot be edited.`,
  dateRequired: 'Date must be specified.',
  brandingThemeInvalid: (id: string) => `The BrandingThemeID '${id}' is not a valid branding theme for this organisation.`,
  itemCodeRequired: 'Item Code must be specified.',
  onlineInvoiceDraft: 'Online invoice is not available for DRAFT or SUBMITTED invoices.',
};

class Rejected extends Error {}
function reject(message: string): never { throw new Rejected(message); }

// ---- lines, tax and totals --------------------------------------------------------------------------------------

export type Lat = 'Exclusive' | 'Inclusive' | 'NoTax';
const LAT: Record<string, Lat> = { EXCLUSIVE: 'Exclusive', INCLUSIVE: 'Inclusive', NOTAX: 'NoTax' };

/**
 * The effective rate of an active tax rate; on a sale only one that can apply to revenue ("does not exist or cannot be
 * used for this type of transaction"). Source: Xero tax-rates docs, CanApplyToRevenue.
 */
function taxRateOf(t: Tenant, taxType: string, forSale?: boolean): number | undefined {
  const r = t.taxRates.find((x) => x.TaxType === taxType && x.Status === 'ACTIVE' && (!forSale || x.CanApplyToRevenue !== false));
  return r ? Number(r.EffectiveRate) : undefined;
}

/**
 * Builds stored line items and computes tax per line, rounded to 2 dp, then sums (see `lineMath`).
 * UnitAmount keeps 2 dp, or 4 dp with `unitdp=4`. A supplied LineAmount/Total is recomputed (ignored); a supplied
 * TaxAmount overrides the computed one (see `lineMath`).
 * Source: docs/reference/xero.md#rounding (unitdp; "Tax is computed per line, rounded to 2 dp, then summed; totals are 2 dp; a
 * supplied Total that differs from the line sum is ignored"); xero_accounting.yaml components/schemas/LineItem,
 * LineAmountTypes. A line's TaxType overrides the account default (docs/reference/xero.md#tax-rates-and-accounts).
 */
function buildLines(t: Tenant, raw: unknown, existing: XeroObject[], lat: Lat, unitdp: number, forSale: boolean): XeroObject[] {
  if (!Array.isArray(raw)) return [];
  return raw.map((r: XeroObject) => {
    const prev = typeof r.LineItemID === 'string' ? existing.find((l) => l.LineItemID === r.LineItemID) : undefined;
    let description = r.Description as string | undefined;
    let unit = num(r.UnitAmount);
    let accountCode = r.AccountCode as string | undefined;
    let taxType = r.TaxType as string | undefined;
    if (r.ItemCode !== undefined && r.ItemCode !== null && r.ItemCode !== '') {
      // Source: docs/reference/xero.md#items (Item SalesDetails/PurchaseDetails supply defaults for a line with ItemCode).
      const item = [...t.items.values()].find((i) => i.Code === r.ItemCode);
      if (!item) reject(MSG.itemCodeInvalid(String(r.ItemCode)));
      const d = (forSale ? item.SalesDetails : item.PurchaseDetails) ?? {};
      description ??= forSale ? item.Description : (item.PurchaseDescription ?? item.Description);
      unit ??= num(d.UnitPrice);
      accountCode ??= d.AccountCode;
      taxType ??= d.TaxType;
    }
    const qty = num(r.Quantity) ?? 1;
    const discount = num(r.DiscountRate);
    if (unit === undefined && num(r.LineAmount) !== undefined) unit = (num(r.LineAmount) as number) / (qty || 1);
    unit = round(unit ?? 0, unitdp === 4 ? 4 : 2);
    if (accountCode !== undefined && accountCode !== '') {
      const acc = t.accounts.find((a) => a.Code === accountCode && a.Status === 'ACTIVE');
      if (!acc) reject(MSG.accountInvalid(accountCode));
      taxType ??= acc.TaxType;
    }
    if (lat === 'NoTax') taxType = 'NONE';
    taxType ??= 'NONE';
    const rate = taxRateOf(t, taxType, forSale);
    if (rate === undefined) reject(MSG.taxTypeInvalid(taxType));
    // DiscountAmount: an absolute discount on the line (ACCREC invoices and quotes), taken off after the rate.
    // Source: xero_accounting.yaml components/schemas/LineItem (DiscountAmount).
    const discountAmount = num(r.DiscountAmount);
    const { lineAmount, tax } = lineMath({ quantity: qty, unitAmount: unit, discountRate: discount, discountAmount, taxAmount: num(r.TaxAmount) }, lat, rate);
    return compact({
      LineItemID: prev?.LineItemID ?? newId(), Description: description, Quantity: qty, UnitAmount: unit,
      ItemCode: r.ItemCode || undefined, AccountCode: accountCode || undefined, TaxType: taxType, TaxAmount: tax,
      LineAmount: lineAmount, DiscountRate: discount, DiscountAmount: discountAmount, Tracking: Array.isArray(r.Tracking) ? r.Tracking : [],
    });
  });
}

/**
 * One line's amounts, the way Xero computes them (pure, so tests can check thousands of documents against the same
 * arithmetic the emulator serves):
 * - LineAmount = round2(Quantity × UnitAmount × (100 − DiscountRate)/100), or − DiscountAmount for an absolute
 *   discount. Source: developer.xero.com/documentation/api/accounting/invoices (LineItems: "LineAmount = Quantity *
 *   Unit Amount * ((100 – DiscountRate)/100)"; DiscountRate or DiscountAmount); xero_accounting.yaml LineItem.
 * - TaxAmount per line rounded to 2 dp: Exclusive LineAmount × rate/100; Inclusive LineAmount × rate/(100 + rate);
 *   NoTax 0 (docs/reference/xero.md#rounding). A supplied TaxAmount overrides it on a taxed line. Source: the same LineItems table
 *   ("The tax amount is auto calculated as a percentage of the line amount … based on the tax rate. This value can
 *   be overriden if the calculated TaxAmount is not correct"). How far an override may stray is not documented
 *   (unverified): the emulator accepts any 2-dp value.
 */
export function lineMath(
  l: { quantity: number; unitAmount: number; discountRate?: number; discountAmount?: number; taxAmount?: number },
  lat: Lat,
  rate: number,
): { lineAmount: number; tax: number } {
  const lineAmount = round2(l.quantity * l.unitAmount * (1 - (l.discountRate ?? 0) / 100) - (l.discountAmount ?? 0));
  if (lat === 'NoTax' || rate === 0) return { lineAmount, tax: 0 };
  if (l.taxAmount !== undefined) return { lineAmount, tax: round2(l.taxAmount) };
  return { lineAmount, tax: lat === 'Exclusive' ? round2((lineAmount * rate) / 100) : round2((lineAmount * rate) / (100 + rate)) };
}

/** A document's SubTotal, TotalTax and Total from its lines (Inclusive: SubTotal excludes the tax). */
export function totals(lines: Array<{ LineAmount: number; TaxAmount: number }>, lat: Lat): { SubTotal: number; TotalTax: number; Total: number } {
  const sumLines = round2(lines.reduce((s, l) => s + l.LineAmount, 0));
  const tax = round2(lines.reduce((s, l) => s + l.TaxAmount, 0));
  if (lat === 'Inclusive') return { SubTotal: round2(sumLines - tax), TotalTax: tax, Total: sumLines };
  return { SubTotal: sumLines, TotalTax: tax, Total: round2(sumLines + tax) };
}

/** Renders UnitAmount with 2 dp unless `unitdp=4`. Source: docs/reference/xero.md#requests (unitdp). */
export function renderLines(rec: XeroObject, unitdp: number): XeroObject {
  const out = deepClone(rec);
  if (unitdp !== 4 && Array.isArray(out.LineItems)) for (const l of out.LineItems) l.UnitAmount = round2(l.UnitAmount);
  return out;
}

// ---- contacts -------------------------------------------------------------------------------------------------

const normName = (s: unknown) => String(s ?? '').trim().toLowerCase();

function contactSummary(c: XeroObject): XeroObject {
  return compact({ ContactID: c.ContactID, ContactNumber: c.ContactNumber, Name: c.Name, ContactStatus: c.ContactStatus, EmailAddress: c.EmailAddress, HasValidationErrors: false });
}

export class Books {
  constructor(private readonly onChange: ChangeListener, private readonly now: () => number = Date.now) {}

  private touch(rec: XeroObject): void {
    // Guarantee strictly increasing timestamps so If-Modified-Since watermarks behave deterministically.
    const prev = msFromXeroDate(rec.UpdatedDateUTC) ?? 0;
    rec.UpdatedDateUTC = msDate(Math.max(this.now(), prev + 1));
  }

  /** Resolves the Contact of a document. Source: docs/reference/xero.md#invoices ("send only ContactID"); spec 400 example for identification. */
  private resolveContact(t: Tenant, c: unknown): XeroObject {
    if (!c || typeof c !== 'object') reject(MSG.contactRequired);
    const ref = c as XeroObject;
    if (ref.ContactID) {
      const found = t.contacts.get(String(ref.ContactID).toLowerCase());
      if (!found) reject(MSG.contactNotFound(String(ref.ContactID)));
      return found;
    }
    if (ref.ContactNumber) {
      const found = [...t.contacts.values()].find((x) => x.ContactNumber === ref.ContactNumber);
      if (found) return found;
    }
    if (ref.Name) {
      // A contact given by name is matched against active contacts or created (Xero behaviour for inline contacts).
      const found = [...t.contacts.values()].find((x) => x.ContactStatus === 'ACTIVE' && normName(x.Name) === normName(ref.Name));
      if (found) return found;
      const created = this.saveContact(t, { Name: ref.Name, ContactNumber: ref.ContactNumber, EmailAddress: ref.EmailAddress }, 'create');
      if (!created.ok) reject(created.errors[0]);
      return created.record;
    }
    reject(MSG.contactIdentify);
  }

  // Source: xero_accounting.yaml components/schemas/Contact; docs/reference/xero.md#contacts (unique active name, ContactNumber,
  // archived contacts not editable (unverified)).
  saveContact(t: Tenant, body: XeroObject, mode: 'create' | 'upsert' | 'update', pathId?: string): ElementResult {
    try {
      let existing: XeroObject | undefined;
      const id = pathId ?? body.ContactID;
      if (id) {
        existing = t.contacts.get(String(id).toLowerCase()) ?? [...t.contacts.values()].find((c) => c.ContactNumber === id);
        if (!existing && (mode === 'update' || mode === 'upsert')) reject(MSG.notFound);
      } else if (mode !== 'create' && body.ContactNumber) {
        existing = [...t.contacts.values()].find((c) => c.ContactNumber === body.ContactNumber);
      }
      if (mode === 'create' && existing) reject(MSG.contactNameUnique(existing.Name));
      if (existing && existing.ContactStatus === 'ARCHIVED' && !(body.ContactStatus === 'ACTIVE')) reject(MSG.contactArchived);
      const name = body.Name ?? existing?.Name;
      if (!name || String(name).trim() === '') reject(MSG.contactNameRequired);
      const willBeActive = (body.ContactStatus ?? existing?.ContactStatus ?? 'ACTIVE') === 'ACTIVE';
      if (willBeActive) {
        const clash = [...t.contacts.values()].find((c) => c !== existing && c.ContactStatus === 'ACTIVE' && normName(c.Name) === normName(name));
        if (clash) reject(MSG.contactNameUnique(String(name)));
      }
      const rec: XeroObject = existing ?? {
        ContactID: newId(), ContactStatus: 'ACTIVE', Addresses: [], Phones: [], ContactPersons: [], ContactGroups: [],
        IsSupplier: false, IsCustomer: false, HasAttachments: false, HasValidationErrors: false,
      };
      const writable = ['Name', 'ContactNumber', 'AccountNumber', 'ContactStatus', 'FirstName', 'LastName', 'CompanyNumber',
        'EmailAddress', 'ContactPersons', 'BankAccountDetails', 'TaxNumber', 'AccountsReceivableTaxType', 'AccountsPayableTaxType',
        'Addresses', 'Phones', 'IsSupplier', 'IsCustomer', 'DefaultCurrency', 'Website', 'SalesDefaultAccountCode',
        'PurchasesDefaultAccountCode', 'PaymentTerms', 'Discount', 'XeroNetworkKey'];
      for (const k of writable) if (body[k] !== undefined) rec[k] = deepClone(body[k]);
      this.touch(rec);
      t.contacts.set(rec.ContactID, rec);
      addHistory(t, rec.ContactID, existing ? 'Updated' : 'Created', existing ? 'Contact updated' : 'Contact created');
      this.onChange(t.tenantId, 'CONTACT', existing ? 'UPDATE' : 'CREATE', rec.ContactID);
      return { ok: true, record: rec, errors: [] };
    } catch (e) {
      if (e instanceof Rejected) return { ok: false, record: { ...body, ContactID: ZERO_GUID }, errors: [e.message] };
      throw e;
    }
  }

  // ---- items ---------------------------------------------------------------------------------------------------
  // Source: docs/reference/xero.md#items (Code ≤ 30 is the upsert key of POST /Items; Name ≤ 50; SalesDetails);
  // spec /Items 400 example for the duplicate-code message.
  saveItem(t: Tenant, body: XeroObject, mode: 'create' | 'upsert' | 'update', unitdp: number, pathId?: string): ElementResult {
    try {
      const id = pathId ?? body.ItemID;
      let existing = id ? t.items.get(String(id).toLowerCase()) : undefined;
      if (id && !existing && mode === 'update') reject(MSG.notFound);
      if (!body.Code && !existing) reject(MSG.itemCodeRequired);
      const byCode = body.Code ? [...t.items.values()].find((i) => i.Code === body.Code) : undefined;
      if (byCode && byCode !== existing) {
        if (mode === 'create' || existing) reject(MSG.itemCodeExists(body.Code));
        existing = byCode;
      }
      const rec: XeroObject = existing ?? { ItemID: newId(), IsSold: true, IsPurchased: true, IsTrackedAsInventory: false };
      for (const k of ['Code', 'Name', 'Description', 'PurchaseDescription', 'IsSold', 'IsPurchased', 'InventoryAssetAccountCode']) {
        if (body[k] !== undefined) rec[k] = body[k];
      }
      for (const k of ['SalesDetails', 'PurchaseDetails'] as const) {
        const d = body[k] as XeroObject | undefined;
        if (!d) continue;
        if (d.AccountCode && !t.accounts.some((a) => a.Code === d.AccountCode)) reject(MSG.accountInvalid(d.AccountCode));
        if (d.TaxType && taxRateOf(t, d.TaxType) === undefined) reject(MSG.taxTypeInvalid(d.TaxType));
        rec[k] = compact({ ...d, UnitPrice: num(d.UnitPrice) !== undefined ? round(num(d.UnitPrice) as number, unitdp === 4 ? 4 : 2) : undefined });
      }
      rec.IsTrackedAsInventory = Boolean(rec.InventoryAssetAccountCode);
      this.touch(rec);
      t.items.set(rec.ItemID, rec);
      return { ok: true, record: rec, errors: [] };
    } catch (e) {
      if (e instanceof Rejected) return { ok: false, record: { ...body, ItemID: ZERO_GUID }, errors: [e.message] };
      throw e;
    }
  }

  // ---- invoices ------------------------------------------------------------------------------------------------

  private findInvoice(t: Tenant, idOrNumber: string): XeroObject | undefined {
    return t.invoices.get(idOrNumber.toLowerCase()) ?? [...t.invoices.values()].find((i) => i.InvoiceNumber === idOrNumber);
  }

  /**
   * PUT /Invoices (create), POST /Invoices (update or create), POST /Invoices/{id} (update one).
   * Source: docs/reference/xero.md#requests (PUT creates, POST creates or updates),
   * docs/reference/xero.md#invoices (fields, statuses, transitions, editing rules).
   */
  saveInvoice(t: Tenant, body: XeroObject, mode: 'create' | 'upsert' | 'update', unitdp: number, pathId?: string): ElementResult {
    try {
      let existing: XeroObject | undefined;
      const id = pathId ?? body.InvoiceID;
      if (id) {
        existing = this.findInvoice(t, String(id));
        if (!existing) reject(MSG.notFound);
        if (mode === 'create') reject(MSG.invoiceNumberUnique);
      } else if (mode !== 'create' && body.InvoiceNumber) {
        // POST /Invoices matches an existing invoice by InvoiceNumber too (developer.xero.com invoices: "InvoiceNumber
        // can be used instead of InvoiceID"); unverified for ACCPAY, so only ACCREC numbers are matched here.
        existing = [...t.invoices.values()].find((i) => i.Type === 'ACCREC' && i.InvoiceNumber === body.InvoiceNumber && i.Status !== 'DELETED');
      }
      return existing ? this.updateInvoice(t, existing, body, unitdp) : this.createInvoice(t, body, unitdp);
    } catch (e) {
      if (e instanceof Rejected) return { ok: false, record: { ...body, InvoiceID: ZERO_GUID }, errors: [e.message] };
      throw e;
    }
  }

  private invoiceNumberTaken(t: Tenant, number: string, except?: XeroObject): boolean {
    // Source: docs/reference/xero.md#invoices (InvoiceNumber unique for ACCREC); spec 400 example "Invoice # must be unique.".
    return [...t.invoices.values()].some((i) => i !== except && i.Type === 'ACCREC' && i.Status !== 'DELETED' && i.InvoiceNumber === number);
  }

  /** Requirements for SUBMITTED/AUTHORISED. Source: docs/reference/xero.md#invoices ("AUTHORISED needs complete data: contact, due date, account codes, tax"). */
  private checkComplete(inv: XeroObject): void {
    if (inv.Status !== 'AUTHORISED' && inv.Status !== 'SUBMITTED') return;
    if (!inv.LineItems?.length) reject(MSG.lineItemsRequired);
    if (inv.Status === 'AUTHORISED') {
      if (!inv.DueDate) reject(MSG.dueDateRequired);
      if (inv.LineItems.some((l: XeroObject) => !l.AccountCode)) reject(MSG.accountRequired);
    }
  }

  /**
   * A document's BrandingThemeID must name one of the organisation's branding themes (GET /BrandingThemes): Xero
   * refuses an invoice whose theme was deleted (XeroAPI/xero-php-oauth2#267) and does not fall back to the default.
   * The same field on quotes (xero_accounting.yaml Quote.BrandingThemeID) is checked alike. Wording unverified.
   */
  private checkBrandingTheme(t: Tenant, body: XeroObject): void {
    const id = body.BrandingThemeID;
    if (id === undefined || id === null) return;
    if (!t.brandingThemes.some((b) => String(b.BrandingThemeID).toLowerCase() === String(id).toLowerCase())) reject(MSG.brandingThemeInvalid(String(id)));
  }

  private applyInvoiceFields(t: Tenant, inv: XeroObject, body: XeroObject, unitdp: number): void {
    if (body.Contact !== undefined) {
      const c = this.resolveContact(t, body.Contact);
      inv.Contact = contactSummary(c);
    }
    this.checkBrandingTheme(t, body);
    for (const k of ['Reference', 'Url', 'BrandingThemeID', 'SentToContact']) if (body[k] !== undefined) inv[k] = body[k];
    for (const k of ['Date', 'DueDate', 'ExpectedPaymentDate', 'PlannedPaymentDate']) {
      if (body[k] === undefined) continue;
      const ms = parseClientDate(body[k]);
      if (ms === undefined) continue;
      inv[k] = msDate(dayStart(ms));
      if (k === 'Date' || k === 'DueDate') inv[`${k}String`] = isoDateString(dayStart(ms));
    }
    if (body.CurrencyCode !== undefined) {
      if (!t.currencies.includes(body.CurrencyCode)) reject(MSG.currencyInvalid(body.CurrencyCode));
      inv.CurrencyCode = body.CurrencyCode;
    }
    if (body.CurrencyRate !== undefined) inv.CurrencyRate = num(body.CurrencyRate) ?? inv.CurrencyRate;
    if (body.LineAmountTypes !== undefined) inv.LineAmountTypes = LAT[String(body.LineAmountTypes).toUpperCase()] ?? 'Exclusive';
    if (body.InvoiceNumber !== undefined && body.InvoiceNumber !== inv.InvoiceNumber) {
      if (inv.Type === 'ACCREC' && this.invoiceNumberTaken(t, body.InvoiceNumber, inv)) reject(MSG.invoiceNumberUnique);
      inv.InvoiceNumber = body.InvoiceNumber;
    }
    if (body.LineItems !== undefined || body.LineAmountTypes !== undefined) {
      const raw = body.LineItems ?? inv.LineItems;
      inv.LineItems = buildLines(t, raw, inv.LineItems ?? [], inv.LineAmountTypes, unitdp, inv.Type === 'ACCREC');
    }
    Object.assign(inv, totals(inv.LineItems, inv.LineAmountTypes));
    inv.AmountDue = round2(inv.Total - inv.AmountPaid - inv.AmountCredited);
  }

  private createInvoice(t: Tenant, body: XeroObject, unitdp: number): ElementResult {
    if (body.Type !== 'ACCREC' && body.Type !== 'ACCPAY') reject(MSG.invoiceTypeRequired);
    if (!body.Contact) reject(MSG.contactRequired);
    const status = body.Status ?? 'DRAFT';
    // Source: docs/reference/xero.md#invoices (create as DRAFT / SUBMITTED / AUTHORISED; PAID never set directly).
    if (!['DRAFT', 'SUBMITTED', 'AUTHORISED'].includes(status)) reject(MSG.notValidStatus);
    const today = dayStart(this.now());
    const inv: XeroObject = {
      Type: body.Type, InvoiceID: newId(), InvoiceNumber: undefined, Reference: '', Status: status,
      LineAmountTypes: 'Exclusive', LineItems: [], Date: msDate(today), DateString: isoDateString(today),
      CurrencyCode: t.organisation.BaseCurrency, CurrencyRate: 1, SubTotal: 0, TotalTax: 0, Total: 0,
      AmountDue: 0, AmountPaid: 0, AmountCredited: 0, Payments: [], CreditNotes: [], Prepayments: [], Overpayments: [],
      HasAttachments: false, HasErrors: false, IsDiscounted: false, SentToContact: false,
    };
    this.applyInvoiceFields(t, inv, { LineItems: [], ...body, Status: undefined }, unitdp);
    if (!inv.InvoiceNumber && inv.Type === 'ACCREC') {
      // Xero numbers sales invoices INV-0001, INV-0002, … when none is given (org invoice settings default).
      do { t.seq.invoice += 1; inv.InvoiceNumber = `INV-${String(t.seq.invoice).padStart(4, '0')}`; } while (this.invoiceNumberTaken(t, inv.InvoiceNumber));
    }
    inv.InvoiceNumber ??= '';
    this.checkComplete(inv);
    compact(inv);
    this.touch(inv);
    t.invoices.set(inv.InvoiceID, inv);
    addHistory(t, inv.InvoiceID, 'Created', `INV ${inv.InvoiceNumber} to ${inv.Contact?.Name} for ${inv.Total.toFixed(2)}.`);
    this.onChange(t.tenantId, 'INVOICE', 'CREATE', inv.InvoiceID);
    return { ok: true, record: inv, errors: [] };
  }

  /**
   * Status rules. Source: docs/reference/xero.md#invoices table: DRAFT↔SUBMITTED, →AUTHORISED, DRAFT/SUBMITTED→DELETED;
   * AUTHORISED→VOIDED only without payments; AUTHORISED/PAID→DELETED "Invoice not of valid status for modification";
   * PAID only via payments; VOIDED/DELETED final. Editing AUTHORISED content is rejected (the rule; the
   * reference calls it conflicting, so the emulator is strict); with payments: "This document cannot be edited…".
   */
  private updateInvoice(t: Tenant, inv: XeroObject, body: XeroObject, unitdp: number): ElementResult {
    const from = inv.Status as string;
    const to = (body.Status ?? from) as string;
    const ignored = new Set(['InvoiceID', 'Status', 'Type', 'SentToContact', 'ExpectedPaymentDate', 'PlannedPaymentDate',
      'UpdatedDateUTC', 'HasAttachments', 'HasErrors', 'IsDiscounted', 'StatusAttributeString', 'ValidationErrors', 'Warnings',
      'Payments', 'CreditNotes', 'Prepayments', 'Overpayments', 'AmountDue', 'AmountPaid', 'AmountCredited', 'SubTotal', 'TotalTax', 'Total']);
    const contentKeys = Object.keys(body).filter((k) => !ignored.has(k) && !(k === 'InvoiceNumber' && body[k] === inv.InvoiceNumber));
    const hasPayments = (inv.AmountPaid ?? 0) > 0 || (inv.AmountCredited ?? 0) > 0;
    if (to === 'PAID' && from !== 'PAID') reject(MSG.paidDirectly);
    if (from === 'VOIDED' || from === 'DELETED') {
      if (to !== from || contentKeys.length) reject(MSG.notValidStatus);
    } else if (from === 'AUTHORISED' || from === 'PAID') {
      if (to === 'DELETED') reject(MSG.notValidStatus);
      if (hasPayments && (to !== from || contentKeys.length)) reject(MSG.hasPayment);
      if (to === 'VOIDED' && contentKeys.length === 0) {
        // allowed
      } else if (to !== from || contentKeys.length) reject(MSG.notValidStatus);
    } else if (!['DRAFT', 'SUBMITTED', 'AUTHORISED', 'DELETED'].includes(to)) {
      reject(MSG.notValidStatus); // DRAFT/SUBMITTED → VOIDED is not a Xero transition
    }
    if (body.Type !== undefined && body.Type !== inv.Type) reject(MSG.notValidStatus);
    const next = deepClone(inv);
    if (contentKeys.length) this.applyInvoiceFields(t, next, body, unitdp);
    next.Status = to;
    this.checkComplete(next);
    compact(next);
    this.touch(next);
    t.invoices.set(next.InvoiceID, next);
    const what = to !== from ? ({ AUTHORISED: 'Approved', VOIDED: 'Voided', DELETED: 'Deleted', SUBMITTED: 'Submitted for approval' } as XeroObject)[to] ?? 'Edited' : 'Edited';
    addHistory(t, next.InvoiceID, what, `INV ${next.InvoiceNumber} ${what.toLowerCase()}.`);
    this.onChange(t.tenantId, 'INVOICE', 'UPDATE', next.InvoiceID);
    return { ok: true, record: next, errors: [] };
  }

  // ---- payments ------------------------------------------------------------------------------------------------

  /**
   * PUT /Payments. Source: docs/reference/xero.md#payments ( Amount ≤ outstanding; account BANK or EnablePaymentsToAccount;
   * a payment covering AmountDue makes the invoice PAID, partial ones reduce AmountDue); spec /Payments 400 example.
   */
  createPayment(t: Tenant, body: XeroObject): ElementResult {
    try {
      const invRef = body.Invoice as XeroObject | undefined;
      const inv = invRef ? this.findInvoice(t, String(invRef.InvoiceID ?? invRef.InvoiceNumber ?? '')) : undefined;
      if (!inv) reject(MSG.notFound);
      if (inv.Status !== 'AUTHORISED') reject(MSG.paymentNotAuthorised);
      const accRef = (body.Account ?? {}) as XeroObject;
      const acc = t.accounts.find((a) => (accRef.AccountID && a.AccountID === accRef.AccountID) || (accRef.Code && a.Code === accRef.Code));
      if (!acc) reject(MSG.accountInvalid(String(accRef.Code ?? accRef.AccountID ?? '')));
      if (acc.Type !== 'BANK' && !acc.EnablePaymentsToAccount) reject(MSG.paymentAccount);
      const amount = round2(num(body.Amount) ?? 0);
      if (amount <= 0) reject(MSG.paymentAmount);
      if (amount > inv.AmountDue) reject(MSG.paymentExceeds);
      const dateMs = dayStart(parseClientDate(body.Date) ?? this.now());
      const payment: XeroObject = compact({
        PaymentID: newId(), Date: msDate(dateMs), Amount: amount, BankAmount: amount, Reference: body.Reference,
        CurrencyRate: num(body.CurrencyRate) ?? 1, PaymentType: inv.Type === 'ACCREC' ? 'ACCRECPAYMENT' : 'ACCPAYPAYMENT',
        Status: 'AUTHORISED', IsReconciled: Boolean(body.IsReconciled), HasAccount: true, HasValidationErrors: false,
        Account: { AccountID: acc.AccountID, Code: acc.Code },
        Invoice: { InvoiceID: inv.InvoiceID, InvoiceNumber: inv.InvoiceNumber, Type: inv.Type, Contact: inv.Contact, CurrencyCode: inv.CurrencyCode },
      });
      this.touch(payment);
      t.payments.set(payment.PaymentID, payment);
      this.applyPaymentToInvoice(t, inv, payment, +1);
      return { ok: true, record: payment, errors: [] };
    } catch (e) {
      if (e instanceof Rejected) return { ok: false, record: { ...body, PaymentID: ZERO_GUID }, errors: [e.message] };
      throw e;
    }
  }

  /** POST /Payments/{id} {Status:"DELETED"}: payments cannot be edited, only deleted. Source: docs/reference/xero.md#payments. */
  deletePayment(t: Tenant, paymentId: string, body: XeroObject): ElementResult {
    try {
      const p = t.payments.get(paymentId.toLowerCase());
      if (!p) reject(MSG.notFound);
      if (body.Status !== 'DELETED' || p.Status === 'DELETED') reject('Payments can only be deleted.'); // wording unverified
      p.Status = 'DELETED';
      this.touch(p);
      const inv = t.invoices.get(p.Invoice.InvoiceID);
      if (inv) this.applyPaymentToInvoice(t, inv, p, -1);
      return { ok: true, record: p, errors: [] };
    } catch (e) {
      if (e instanceof Rejected) return { ok: false, record: { ...body, PaymentID: ZERO_GUID }, errors: [e.message] };
      throw e;
    }
  }

  private applyPaymentToInvoice(t: Tenant, inv: XeroObject, p: XeroObject, sign: 1 | -1): void {
    inv.AmountPaid = round2(inv.AmountPaid + sign * p.Amount);
    inv.AmountDue = round2(inv.Total - inv.AmountPaid - inv.AmountCredited);
    if (sign > 0) inv.Payments.push({ PaymentID: p.PaymentID, Date: p.Date, Amount: p.Amount, Reference: p.Reference, CurrencyRate: p.CurrencyRate, HasAccount: true, HasValidationErrors: false });
    else inv.Payments = inv.Payments.filter((x: XeroObject) => x.PaymentID !== p.PaymentID);
    if (inv.AmountDue === 0 && inv.Status === 'AUTHORISED') {
      inv.Status = 'PAID';
      inv.FullyPaidOnDate = p.Date;
    } else if (inv.AmountDue > 0 && inv.Status === 'PAID') {
      inv.Status = 'AUTHORISED';
      delete inv.FullyPaidOnDate;
    }
    compact(inv);
    this.touch(inv);
    addHistory(t, inv.InvoiceID, sign > 0 ? 'Payment Applied' : 'Payment Deleted', `Payment ${sign > 0 ? 'received' : 'removed'}: ${p.Amount.toFixed(2)}.`);
    // Whether Xero fires an INVOICE UPDATE webhook for a payment is unverified (docs/reference/xero.md#payments); the emulator does.
    this.onChange(t.tenantId, 'INVOICE', 'UPDATE', inv.InvoiceID);
  }

  // ---- quotes --------------------------------------------------------------------------------------------------

  /**
   * Quote transitions. Source: docs/reference/xero.md#quotes (unverified, third-party code consistent with Xero's quote docs):
   * DRAFT→SENT|DELETED; SENT→ACCEPTED|DECLINED|DELETED; DECLINED→SENT|DELETED; ACCEPTED→SENT|DELETED|INVOICED;
   * INVOICED→SENT|DELETED. Content edits are accepted in DRAFT and SENT only (strict reading; MCP server edits DRAFT only).
   */
  static readonly QUOTE_TRANSITIONS: Record<string, string[]> = {
    DRAFT: ['SENT', 'DELETED'], SENT: ['ACCEPTED', 'DECLINED', 'DELETED'], DECLINED: ['SENT', 'DELETED'],
    ACCEPTED: ['SENT', 'DELETED', 'INVOICED'], INVOICED: ['SENT', 'DELETED'], DELETED: [],
  };

  saveQuote(t: Tenant, body: XeroObject, mode: 'create' | 'upsert' | 'update', pathId?: string): ElementResult {
    try {
      const id = pathId ?? body.QuoteID;
      const existing = id ? t.quotes.get(String(id).toLowerCase()) : undefined;
      if (id && !existing) reject(MSG.notFound);
      if (!existing) return this.createQuote(t, body);
      const from = existing.Status as string;
      const to = (body.Status ?? from) as string;
      if (to !== from && !Books.QUOTE_TRANSITIONS[from].includes(to)) reject(MSG.quoteTransition(from, to));
      const ignored = new Set(['QuoteID', 'Status', 'UpdatedDateUTC', 'StatusAttributeString', 'ValidationErrors', 'SubTotal', 'TotalTax', 'Total', 'TotalDiscount']);
      const contentKeys = Object.keys(body).filter((k) => !ignored.has(k));
      if (contentKeys.length && !['DRAFT', 'SENT'].includes(from)) reject(MSG.quoteNotEditable(from));
      const next = deepClone(existing);
      this.applyQuoteFields(t, next, body);
      next.Status = to;
      this.touch(next);
      t.quotes.set(next.QuoteID, next);
      addHistory(t, next.QuoteID, to !== from ? `Status changed to ${to}` : 'Edited', `Quote ${next.QuoteNumber} updated.`);
      return { ok: true, record: next, errors: [] };
    } catch (e) {
      if (e instanceof Rejected) return { ok: false, record: { ...body, QuoteID: ZERO_GUID }, errors: [e.message] };
      throw e;
    }
  }

  private applyQuoteFields(t: Tenant, q: XeroObject, body: XeroObject): void {
    if (body.Contact !== undefined) q.Contact = contactSummary(this.resolveContact(t, body.Contact));
    this.checkBrandingTheme(t, body);
    for (const k of ['Reference', 'Title', 'Summary', 'Terms', 'BrandingThemeID', 'QuoteNumber']) if (body[k] !== undefined) q[k] = body[k];
    for (const k of ['Date', 'ExpiryDate']) {
      const ms = parseClientDate(body[k]);
      if (ms === undefined) continue;
      q[k] = msDate(dayStart(ms));
      q[`${k}String`] = isoDateString(dayStart(ms));
    }
    if (body.CurrencyCode !== undefined) {
      if (!t.currencies.includes(body.CurrencyCode)) reject(MSG.currencyInvalid(body.CurrencyCode));
      q.CurrencyCode = body.CurrencyCode;
    }
    // Quote LineAmountTypes are upper case EXCLUSIVE|INCLUSIVE|NOTAX (docs/reference/xero.md#quotes).
    if (body.LineAmountTypes !== undefined) q.LineAmountTypes = String(body.LineAmountTypes).toUpperCase();
    const lat = LAT[q.LineAmountTypes] ?? 'Exclusive';
    if (body.LineItems !== undefined || body.LineAmountTypes !== undefined) {
      q.LineItems = buildLines(t, body.LineItems ?? q.LineItems, q.LineItems ?? [], lat, 2, true);
    }
    Object.assign(q, totals(q.LineItems, lat));
    q.TotalDiscount = round2(q.LineItems.reduce((s: number, l: XeroObject) => s + (l.DiscountRate ? round2(l.Quantity * l.UnitAmount) - l.LineAmount : 0), 0));
  }

  private createQuote(t: Tenant, body: XeroObject): ElementResult {
    // Required on create in practice: Contact, Date, ≥ 1 line item (docs/reference/xero.md#quotes, official list unverified).
    if (!body.Contact) reject(MSG.contactRequired);
    if (!body.Date) reject(MSG.dateRequired);
    if (!Array.isArray(body.LineItems) || body.LineItems.length === 0) reject(MSG.lineItemsRequired);
    const status = body.Status ?? 'DRAFT';
    if (!['DRAFT', 'SENT'].includes(status)) reject(MSG.quoteTransition('DRAFT', status));
    const q: XeroObject = {
      QuoteID: newId(), QuoteNumber: undefined, Reference: '', Status: status, LineAmountTypes: 'EXCLUSIVE', LineItems: [],
      CurrencyCode: t.organisation.BaseCurrency, CurrencyRate: 1, Title: '', Summary: '', Terms: '',
    };
    this.applyQuoteFields(t, q, body);
    if (!q.QuoteNumber) { t.seq.quote += 1; q.QuoteNumber = `QU-${String(t.seq.quote).padStart(4, '0')}`; }
    this.touch(q);
    t.quotes.set(q.QuoteID, q);
    addHistory(t, q.QuoteID, 'Created', `Quote ${q.QuoteNumber} created.`);
    return { ok: true, record: q, errors: [] };
  }

  /** Test control: move a quote as a Xero user would (same transition rules). */
  setQuoteStatus(t: Tenant, quoteId: string, status: string): XeroObject {
    const r = this.saveQuote(t, { Status: status }, 'update', quoteId);
    if (!r.ok) throw new Error(r.errors.join('; '));
    return r.record;
  }
}
