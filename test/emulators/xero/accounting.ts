// Accounting API routes under /api.xro/2.0: request → Reply. The pipeline (auth, limits, idempotency, contract
// check, faults) is in index.ts.
import { Books, MSG, renderLines, type ElementResult } from './books.js';
import { applyOrder, compileWhere, csv, modifiedSince, paginate, WhereError } from './query.js';
import type { Tenant } from './state.js';
import { envelope, msFromXeroDate, parseClientDate, validationException, validationMessage, type XeroObject } from './xero-json.js';

export interface Ctx {
  method: string; path: string; query: Record<string, string>; headers: Record<string, string | string[] | undefined>;
  body: XeroObject | undefined; tenant: Tenant; baseUrl: string; providerName: string;
}
export type Reply = { status: number; json: unknown; headers?: Record<string, string> } | { status: number; buffer: Buffer; contentType: string };

type Handler = (c: Ctx, id?: string, sub?: string) => Reply;

const ok = (json: unknown): Reply => ({ status: 200, json });
const notFound = (): Reply => ({ status: 404, json: { Title: 'Resource not found', Status: 404, Detail: 'The resource you\'re looking for cannot be found' } });
// Source: xero_accounting.yaml 400 examples ("The document with the supplied id was not found for this endpoint.")
// for writes; GET of an unknown id answers 404 at Xero (unverified body shape).

/** Invoices/quotes show the contact as it is now (Xero embeds the current contact). */
function withContact(c: Ctx, rec: XeroObject): XeroObject {
  const cur = rec.Contact?.ContactID ? c.tenant.contacts.get(rec.Contact.ContactID) : undefined;
  if (cur) rec.Contact = { ...rec.Contact, Name: cur.Name, ContactNumber: cur.ContactNumber, ContactStatus: cur.ContactStatus, EmailAddress: cur.EmailAddress };
  return rec;
}

const summarize = (c: Ctx) => c.query.summarizeErrors?.toLowerCase() !== 'false'; // API default: summarised (docs/reference/xero.md#writes)
const unitdp = (c: Ctx) => (c.query.unitdp === '4' ? 4 : 2);

/**
 * Batch write reply. summarizeErrors=false → 200 with every element carrying StatusAttributeString OK|ERROR and
 * ValidationErrors on failures (zero GUID id); default → valid elements are saved and, if any failed, HTTP 400
 * ValidationException listing only the failures (not transactional). Source: docs/reference/xero.md#writes, docs/reference/xero.md#errors.
 */
function batchReply(c: Ctx, key: string, results: ElementResult[], render: (r: XeroObject) => XeroObject): Reply {
  const elements = results.map((r) => r.ok
    ? { ...render(r.record), StatusAttributeString: 'OK' }
    : { ...r.record, HasValidationErrors: true, StatusAttributeString: 'ERROR', ValidationErrors: r.errors.map((Message) => ({ Message })) });
  if (summarize(c) && results.some((r) => !r.ok)) return { status: 400, json: validationException(elements.filter((e) => e.StatusAttributeString === 'ERROR')) };
  return ok(envelope(c.providerName, key, elements));
}

function elementsOf(c: Ctx, key: string): XeroObject[] | Reply {
  const b = c.body;
  if (b && Array.isArray(b[key])) return b[key] as XeroObject[];
  if (b && typeof b === 'object' && Object.keys(b).length && !(key in b)) return [b]; // single-object bodies (e.g. createPayment)
  return { status: 400, json: validationMessage(`No ${key} were provided in the request.`) }; // wording unverified
}

function listReply(c: Ctx, key: string, all: XeroObject[], opts: { pagedByDefault?: boolean; where?: boolean } = {}): Reply {
  let list = all;
  const ims = modifiedSince(header(c, 'if-modified-since'));
  if (ims) list = list.filter(ims);
  if (c.query.where && opts.where !== false) {
    try { list = list.filter(compileWhere(c.query.where)); } catch (e) {
      if (e instanceof WhereError) return { status: 400, json: validationMessage(e.message) };
      throw e;
    }
  }
  list = applyOrder(list, c.query.order);
  const page = paginate(list, c.query.page, c.query.pageSize, opts.pagedByDefault);
  return ok(envelope(c.providerName, key, page.items, page.pagination ? { pagination: page.pagination } : {}));
}

function header(c: Ctx, name: string): string | undefined {
  const v = c.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

const wantsPdf = (c: Ctx) => String(header(c, 'accept') ?? '').includes('application/pdf');

/** A small valid PDF naming the document. Source: docs/reference/xero.md#invoices (GET /Invoices/{id} with Accept: application/pdf). */
function pdf(title: string): Buffer {
  const text = title.replace(/[()\\]/g, '');
  const objs = [
    '<< /Type /Catalog /Pages 2 0 R >>', '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${`BT /F1 18 Tf 72 770 Td (${text}) Tj ET`.length} >>\nstream\nBT /F1 18 Tf 72 770 Td (${text}) Tj ET\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objs.forEach((o, i) => { offsets.push(out.length); out += `${i + 1} 0 obj\n${o}\nendobj\n`; });
  const xref = out.length;
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  out += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

export function routes(books: Books): Array<[string, RegExp, Handler]> {
  const byId = <T extends XeroObject>(m: Map<string, T>, id: string) => m.get(id.toLowerCase());
  const history = (c: Ctx, id: string, exists: boolean): Reply => {
    if (!exists) return notFound();
    if (c.method === 'PUT') {
      // PUT …/History adds notes: {HistoryRecords:[{Details}]}. Source: docs/reference/xero.md#history-notes; spec /Invoices/{InvoiceID}/History.
      const recs = (c.body?.HistoryRecords ?? []) as XeroObject[];
      const list = c.tenant.history.get(id) ?? [];
      const added = recs.map((r) => {
        const now = c.tenant.now();
        const rec = { Changes: 'Note', DateUTCString: new Date(now).toISOString().slice(0, 19), DateUTC: `/Date(${now}+0000)/`, User: 'API', Details: String(r.Details ?? '') };
        list.push(rec);
        return rec;
      });
      c.tenant.history.set(id, list);
      return ok(envelope(c.providerName, 'HistoryRecords', added));
    }
    return ok(envelope(c.providerName, 'HistoryRecords', c.tenant.history.get(id) ?? []));
  };

  // ---- Invoices: Source xero_accounting.yaml /Invoices*, docs/reference/xero.md#requests, docs/reference/xero.md#invoices ----
  const getInvoices: Handler = (c) => {
    let list = [...c.tenant.invoices.values()];
    const ids = csv(c.query.IDs)?.map((s) => s.toLowerCase());
    if (ids) list = list.filter((i) => ids.includes(i.InvoiceID));
    const numbers = csv(c.query.InvoiceNumbers);
    if (numbers) list = list.filter((i) => numbers.includes(i.InvoiceNumber));
    const contactIds = csv(c.query.ContactIDs)?.map((s) => s.toLowerCase());
    if (contactIds) list = list.filter((i) => contactIds.includes(String(i.Contact?.ContactID).toLowerCase()));
    const statuses = csv(c.query.Statuses)?.map((s) => s.toUpperCase());
    if (statuses) list = list.filter((i) => statuses.includes(i.Status));
    if (c.query.searchTerm) {
      const s = c.query.searchTerm.toLowerCase();
      list = list.filter((i) => `${i.InvoiceNumber} ${i.Reference ?? ''}`.toLowerCase().includes(s));
    }
    const r = listReply(c, 'Invoices', list.sort((a, b) => (msFromXeroDate(a.UpdatedDateUTC) ?? 0) - (msFromXeroDate(b.UpdatedDateUTC) ?? 0)));
    if ('json' in r && r.status === 200) {
      const env = r.json as XeroObject;
      // Line items come with paged requests; an unpaged list or summaryOnly=true omits them.
      // Source: docs/reference/xero.md#reads ("page=N returns up to 100 invoices with line items"); spec parameter summaryOnly.
      const withLines = c.query.page !== undefined && c.query.summaryOnly !== 'true';
      env.Invoices = env.Invoices.map((i: XeroObject) => { const out = withContact(c, renderLines(i, unitdp(c))); if (!withLines) delete out.LineItems; return out; });
    }
    return r;
  };
  const invoiceWrite = (mode: 'create' | 'upsert'): Handler => (c) => {
    const els = elementsOf(c, 'Invoices');
    if (!Array.isArray(els)) return els;
    return batchReply(c, 'Invoices', els.map((e) => books.saveInvoice(c.tenant, e, mode, unitdp(c))), (r) => renderLines(r, unitdp(c)));
  };
  const invoiceOne: Handler = (c, id) => {
    if (c.method === 'POST') {
      const els = elementsOf(c, 'Invoices');
      if (!Array.isArray(els)) return els;
      return batchReply(c, 'Invoices', [books.saveInvoice(c.tenant, els[0] ?? {}, 'update', unitdp(c), id)], (r) => renderLines(r, unitdp(c)));
    }
    const inv = byId(c.tenant.invoices, id!) ?? [...c.tenant.invoices.values()].find((i) => i.InvoiceNumber === id);
    if (!inv) return notFound();
    if (wantsPdf(c)) return { status: 200, buffer: pdf(`Invoice ${inv.InvoiceNumber}`), contentType: 'application/pdf' };
    return ok(envelope(c.providerName, 'Invoices', [withContact(c, renderLines(inv, unitdp(c)))]));
  };
  const onlineInvoice: Handler = (c, id) => {
    const inv = byId(c.tenant.invoices, id!);
    if (!inv) return notFound();
    // Believed unavailable for DRAFT (docs/reference/xero.md#invoices, unverified); also SUBMITTED and ACCPAY.
    if (inv.Type !== 'ACCREC' || inv.Status === 'DRAFT' || inv.Status === 'SUBMITTED' || inv.Status === 'DELETED') return { status: 400, json: validationMessage(MSG.onlineInvoiceDraft) };
    return ok(envelope(c.providerName, 'OnlineInvoices', [{ OnlineInvoiceUrl: `${c.baseUrl}/online/invoice/${inv.InvoiceID}` }]));
  };

  // ---- Contacts: Source xero_accounting.yaml /Contacts*, docs/reference/xero.md#contacts ----
  const getContacts: Handler = (c) => {
    let list = [...c.tenant.contacts.values()];
    const ids = csv(c.query.IDs)?.map((s) => s.toLowerCase());
    if (ids) list = list.filter((x) => ids.includes(x.ContactID));
    if (c.query.includeArchived !== 'true' && !ids) list = list.filter((x) => x.ContactStatus !== 'ARCHIVED');
    if (c.query.searchTerm) {
      const s = c.query.searchTerm.toLowerCase();
      list = list.filter((x) => ['Name', 'FirstName', 'LastName', 'ContactNumber', 'CompanyNumber', 'EmailAddress'].some((k) => String(x[k] ?? '').toLowerCase().includes(s)));
    }
    const r = listReply(c, 'Contacts', list.sort((a, b) => String(a.Name).localeCompare(String(b.Name))));
    if (c.query.summaryOnly === 'true' && 'json' in r && r.status === 200) {
      const env = r.json as XeroObject;
      env.Contacts = env.Contacts.map((x: XeroObject) => ({ ContactID: x.ContactID, ContactNumber: x.ContactNumber, Name: x.Name, ContactStatus: x.ContactStatus, UpdatedDateUTC: x.UpdatedDateUTC }));
    }
    return r;
  };
  const contactWrite = (mode: 'create' | 'upsert'): Handler => (c) => {
    const els = elementsOf(c, 'Contacts');
    if (!Array.isArray(els)) return els;
    return batchReply(c, 'Contacts', els.map((e) => books.saveContact(c.tenant, e, mode)), (r) => structuredClone(r));
  };
  const contactOne: Handler = (c, id) => {
    if (c.method === 'POST') {
      const els = elementsOf(c, 'Contacts');
      if (!Array.isArray(els)) return els;
      return batchReply(c, 'Contacts', [books.saveContact(c.tenant, els[0] ?? {}, 'update', id)], (r) => structuredClone(r));
    }
    // GET /Contacts/{ContactID} or /Contacts/{ContactNumber} (docs/reference/xero.md#contacts, unverified for ContactNumber).
    const found = byId(c.tenant.contacts, id!) ?? [...c.tenant.contacts.values()].find((x) => x.ContactNumber === id);
    return found ? ok(envelope(c.providerName, 'Contacts', [found])) : notFound();
  };

  // ---- Items: Source xero_accounting.yaml /Items*, docs/reference/xero.md#items ----
  const items: Handler = (c) => {
    if (c.method === 'GET') {
      return listReply(c, 'Items', [...c.tenant.items.values()].map((i) => {
        const o = structuredClone(i);
        if (unitdp(c) !== 4) for (const k of ['SalesDetails', 'PurchaseDetails']) if (o[k]?.UnitPrice !== undefined) o[k].UnitPrice = Math.round(o[k].UnitPrice * 100) / 100;
        return o;
      }).sort((a, b) => String(a.Code).localeCompare(String(b.Code))));
    }
    const els = elementsOf(c, 'Items');
    if (!Array.isArray(els)) return els;
    return batchReply(c, 'Items', els.map((e) => books.saveItem(c.tenant, e, c.method === 'PUT' ? 'create' : 'upsert', unitdp(c))), (r) => structuredClone(r));
  };
  const itemOne: Handler = (c, id) => {
    if (c.method === 'POST') {
      const els = elementsOf(c, 'Items');
      if (!Array.isArray(els)) return els;
      return batchReply(c, 'Items', [books.saveItem(c.tenant, els[0] ?? {}, 'update', unitdp(c), id)], (r) => structuredClone(r));
    }
    const found = byId(c.tenant.items, id!) ?? [...c.tenant.items.values()].find((i) => i.Code === id);
    return found ? ok(envelope(c.providerName, 'Items', [found])) : notFound();
  };

  // ---- Quotes: Source xero_accounting.yaml /Quotes*, docs/reference/xero.md#quotes ----
  const getQuotes: Handler = (c) => {
    let list = [...c.tenant.quotes.values()];
    const q = c.query;
    const day = (k: string) => (q[k] ? parseClientDate(q[k]) : undefined);
    const range = (field: string, from?: number, to?: number) => (x: XeroObject) => {
      const v = msFromXeroDate(x[field]) ?? 0;
      return (from === undefined || v >= from) && (to === undefined || v <= to);
    };
    list = list.filter(range('Date', day('DateFrom'), day('DateTo'))).filter(range('ExpiryDate', day('ExpiryDateFrom'), day('ExpiryDateTo')));
    if (q.ContactID) list = list.filter((x) => String(x.Contact?.ContactID).toLowerCase() === q.ContactID.toLowerCase());
    if (q.Status) list = list.filter((x) => x.Status === q.Status.toUpperCase());
    if (q.QuoteNumber) list = list.filter((x) => x.QuoteNumber === q.QuoteNumber);
    // GET /Quotes has no `where` (nor `IDs`) parameter in xero_accounting.yaml: it is ignored like any unknown parameter.
    return listReply(c, 'Quotes', list.sort((a, b) => (msFromXeroDate(a.UpdatedDateUTC) ?? 0) - (msFromXeroDate(b.UpdatedDateUTC) ?? 0)), { where: false });
  };
  const quoteWrite = (mode: 'create' | 'upsert'): Handler => (c) => {
    const els = elementsOf(c, 'Quotes');
    if (!Array.isArray(els)) return els;
    return batchReply(c, 'Quotes', els.map((e) => books.saveQuote(c.tenant, e, mode)), (r) => structuredClone(r));
  };
  const quoteOne: Handler = (c, id) => {
    if (c.method === 'POST') {
      const els = elementsOf(c, 'Quotes');
      if (!Array.isArray(els)) return els;
      return batchReply(c, 'Quotes', [books.saveQuote(c.tenant, els[0] ?? {}, 'update', id)], (r) => structuredClone(r));
    }
    const found = byId(c.tenant.quotes, id!);
    if (!found) return notFound();
    if (wantsPdf(c)) return { status: 200, buffer: pdf(`Quote ${found.QuoteNumber}`), contentType: 'application/pdf' };
    return ok(envelope(c.providerName, 'Quotes', [withContact(c, structuredClone(found))]));
  };

  // ---- Payments: Source xero_accounting.yaml /Payments*, docs/reference/xero.md#payments ----
  const payments: Handler = (c) => {
    if (c.method === 'GET') return listReply(c, 'Payments', [...c.tenant.payments.values()]);
    const els = elementsOf(c, 'Payments');
    if (!Array.isArray(els)) return els;
    return batchReply(c, 'Payments', els.map((e) => books.createPayment(c.tenant, e)), (r) => structuredClone(r));
  };
  const paymentOne: Handler = (c, id) => {
    if (c.method === 'POST') {
      const els = elementsOf(c, 'Payments');
      if (!Array.isArray(els)) return els;
      return batchReply(c, 'Payments', [books.deletePayment(c.tenant, id!, els[0] ?? {})], (r) => structuredClone(r));
    }
    const found = byId(c.tenant.payments, id!);
    return found ? ok(envelope(c.providerName, 'Payments', [found])) : notFound();
  };

  // ---- Settings: Accounts, TaxRates, Organisation, Currencies; CreditNotes (read) ----
  const accounts: Handler = (c, id) => {
    if (id) { const a = c.tenant.accounts.find((x) => x.AccountID === id.toLowerCase()); return a ? ok(envelope(c.providerName, 'Accounts', [a])) : notFound(); }
    return listReply(c, 'Accounts', c.tenant.accounts);
  };
  const taxRates: Handler = (c) => listReply(c, 'TaxRates', c.tenant.taxRates);
  const organisation: Handler = (c) => ok(envelope(c.providerName, 'Organisations', [c.tenant.organisation]));
  const currencies: Handler = (c) => ok(envelope(c.providerName, 'Currencies', c.tenant.currencies.map((Code) => ({ Code, Description: Code }))));
  // Source: xero_accounting.yaml GET /BrandingThemes, GET /TrackingCategories (includeArchived; archived hidden otherwise).
  const brandingThemes: Handler = (c) => ok(envelope(c.providerName, 'BrandingThemes', c.tenant.brandingThemes));
  const trackingCategories: Handler = (c) => listReply(c, 'TrackingCategories', c.tenant.trackingCategories.filter((x) => x.Status === 'ACTIVE' || c.query.includeArchived === 'true'));
  const creditNotes: Handler = (c, id) => {
    if (id) { const n = byId(c.tenant.creditNotes, id); return n ? ok(envelope(c.providerName, 'CreditNotes', [n])) : notFound(); }
    return listReply(c, 'CreditNotes', [...c.tenant.creditNotes.values()]);
  };

  const ID = '([^/]+)';
  return [
    ['GET', /^\/Invoices$/i, getInvoices], ['PUT', /^\/Invoices$/i, invoiceWrite('create')], ['POST', /^\/Invoices$/i, invoiceWrite('upsert')],
    ['GET', new RegExp(`^/Invoices/${ID}/OnlineInvoice$`, 'i'), onlineInvoice],
    ['GET|PUT', new RegExp(`^/Invoices/${ID}/History$`, 'i'), (c, id) => history(c, id!.toLowerCase(), Boolean(byId(c.tenant.invoices, id!)))],
    ['GET|POST', new RegExp(`^/Invoices/${ID}$`, 'i'), invoiceOne],
    ['GET', /^\/Contacts$/i, getContacts], ['PUT', /^\/Contacts$/i, contactWrite('create')], ['POST', /^\/Contacts$/i, contactWrite('upsert')],
    ['GET', new RegExp(`^/Contacts/${ID}/History$`, 'i'), (c, id) => history(c, id!.toLowerCase(), Boolean(byId(c.tenant.contacts, id!)))],
    ['GET|POST', new RegExp(`^/Contacts/${ID}$`, 'i'), contactOne],
    ['GET|PUT|POST', /^\/Items$/i, items], ['GET|POST', new RegExp(`^/Items/${ID}$`, 'i'), itemOne],
    ['GET', /^\/Quotes$/i, getQuotes], ['PUT', /^\/Quotes$/i, quoteWrite('create')], ['POST', /^\/Quotes$/i, quoteWrite('upsert')],
    ['GET|PUT', new RegExp(`^/Quotes/${ID}/History$`, 'i'), (c, id) => history(c, id!.toLowerCase(), Boolean(byId(c.tenant.quotes, id!)))],
    ['GET|POST', new RegExp(`^/Quotes/${ID}$`, 'i'), quoteOne],
    ['GET|PUT|POST', /^\/Payments$/i, payments], ['GET|POST', new RegExp(`^/Payments/${ID}$`, 'i'), paymentOne],
    ['GET', /^\/Accounts$/i, accounts], ['GET', new RegExp(`^/Accounts/${ID}$`, 'i'), accounts],
    ['GET', /^\/TaxRates$/i, taxRates], ['GET', /^\/Organisation$/i, organisation], ['GET', /^\/Currencies$/i, currencies],
    ['GET', /^\/BrandingThemes$/i, brandingThemes], ['GET', /^\/TrackingCategories$/i, trackingCategories],
    ['GET', /^\/CreditNotes$/i, creditNotes], ['GET', new RegExp(`^/CreditNotes/${ID}$`, 'i'), creditNotes],
  ];
}

/** Endpoint key for counters: `PUT /Invoices`, `GET /Invoices/{id}`, `GET /Invoices/{id}/History`. */
export function endpointKey(method: string, path: string): string {
  const segs = path.split('/').filter(Boolean);
  if (segs.length >= 2) segs[1] = '{id}';
  return `${method} /${segs.join('/')}`;
}
