// The throttle mix: every kind of work at once, at a steady number of documents a second, against
// Bitrix24's standard leaky bucket with other apps filling it. One document a tick of each kind in turn: a new smart
// invoice, a new quote, a new classic invoice, a contact edited in Bitrix24 (a customer already in Xero), a payment
// made in Xero (an invoice already pushed: approved and paid in full, its status coming back by webhook) and a stage
// move in Bitrix24 (a pushed smart invoice moved to "Sent", which approves it in Xero). Shared by the fast test
// (throttle-mix.test.ts), the bench part `throttle` and the soak (scripts/soak.ts, with its own process).
import assert from 'node:assert/strict';
import { COMPANY, QUOTE, SMART_INVOICE, type Bitrix24Emulator, type CallLogEntry } from '../emulators/bitrix24/index.js';
import type { XeroEmulator } from '../emulators/xero/index.js';
import type { Store } from '../../app/store/index.js';
import { shownXeroId } from '../../app/bitrix/write-back.js';
import { findEach, findIndexEach } from '../../app/async-lists.js';

export const MIX_KINDS = ['smart', 'quote', 'classic', 'contact', 'payment', 'stage'] as const;
export type MixKind = (typeof MIX_KINDS)[number];

/** Bitrix24's standard plan bucket with other apps of the portal sending `requests` every 10 s. */
export const standardBucketWithOthers = (requests = 10) => ({ burst: 50, drainPerSecond: 2, otherApps: { requests, everyMs: 10_000 } });

/** A document of the mix: what was done, to which Bitrix24 record, and when. */
export interface ThrottleDoc {
  kind: MixKind;
  number: string;
  b24Type: 'smart_invoice' | 'invoice' | 'quote' | 'company';
  b24Id: string;
  at: number;
  /** For payments and stage moves: the pushed smart invoice they act on. */
  on?: ThrottleDoc;
}

/** What the mix sees of the connector: its store (read in this process or through a file) and whether it is idle. */
export interface MixSide {
  b24: Bitrix24Emulator;
  xero: XeroEmulator;
  tenantId: string;
  memberId: string;
  /** Opens the store beside the running connector, runs `fn` on it, closes it. */
  withStore<T>(fn: (s: Store) => Promise<T> | T): Promise<T>;
}

/**
 * Creates the mix's documents over time: `next(n)` adds `n` documents, each of the next kind in turn. A payment or a
 * stage move needs a smart invoice already in Xero that nothing else acted on; until there is one, a new smart
 * invoice takes its turn.
 */
export class ThrottleMix {
  readonly docs: ThrottleDoc[] = [];
  #turn = 0;
  #seq = 0;
  readonly #companies: { id: number; title: string }[] = [];
  readonly #free: ThrottleDoc[] = [];

  constructor(private readonly side: MixSide, private readonly prefix: string, private readonly customers = 10, private kinds: readonly MixKind[] = MIX_KINDS) {
    const user = side.b24.actAs(2);
    for (let i = 0; i < customers; i++) {
      const title = `${prefix} Customer ${i + 1} Ltd`;
      this.#companies.push({ id: Number(user.createCompany({ title }).id), title });
    }
  }

  /** Adds `n` documents of the next kinds in turn; returns them. */
  async next(n: number): Promise<ThrottleDoc[]> {
    const out: ThrottleDoc[] = [];
    for (let i = 0; i < n; i++) out.push((await this.one(this.kinds[this.#turn++ % this.kinds.length]!)));
    return out;
  }

  private async one(kind: MixKind): Promise<ThrottleDoc> {
    const user = this.side.b24.actAs(2);
    const seq = ++this.#seq;
    const number = `${this.prefix}-${String(seq).padStart(5, '0')}`;
    const company = this.#companies[seq % this.#companies.length]!;
    const doc = (d: Omit<ThrottleDoc, 'at' | 'number'> & { number?: string }): ThrottleDoc => {
      const full = { number, ...d, at: Date.now() } as ThrottleDoc;
      this.docs.push(full);
      return full;
    };
    if (kind === 'payment' || kind === 'stage') {
      const target = await this.takePushed();
      if (!target) return this.one('smart');
      if (kind === 'stage') {
        user.moveStage(SMART_INVOICE, Number(target.b24Id), 'DT31_2:S');
      } else {
        const link = (await this.side.withStore((s) => s.links.find(this.side.memberId, 'smart_invoice', target.b24Id)))!;
        this.side.xero.approveInvoice(this.side.tenantId, link.xeroId);
        const inv = this.side.xero.invoices(this.side.tenantId).find((x) => x.InvoiceID === link.xeroId)!;
        this.side.xero.addPayment(this.side.tenantId, link.xeroId, Number(inv.AmountDue));
      }
      return doc({ kind, number: target.number, b24Type: 'smart_invoice', b24Id: target.b24Id, on: target });
    }
    if (kind === 'contact') {
      // Only customers already in Xero have their edits synced: the company of an invoice pushed earlier.
      const linked = await this.side.withStore((s) => findEach(this.#companies, async (c) => (await s.links.find(this.side.memberId, 'company', String(c.id)))?.xeroType === 'contact'));
      if (!linked) return this.one('smart');
      const title = `${linked.title} (${number})`;
      user.updateItem(COMPANY, linked.id, { title });
      return doc({ kind, number: title, b24Type: 'company', b24Id: String(linked.id) });
    }
    if (kind === 'quote') {
      const q = user.createQuote({ title: number, quoteNumber: number, companyId: company.id, currencyId: 'NZD', closedate: '2026-12-31T00:00:00+00:00' });
      user.setProductRows(QUOTE, Number(q.id), [{ productName: 'Fit-out', price: 460, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
      return doc({ kind, b24Type: 'quote', b24Id: String(q.id) });
    }
    if (kind === 'classic') {
      const inv = user.createClassicInvoice({
        ORDER_TOPIC: number, ACCOUNT_NUMBER: number, UF_COMPANY_ID: company.id, CURRENCY: 'NZD', PERSON_TYPE_ID: 1,
        DATE_BILL: '2026-11-20', DATE_PAY_BEFORE: '2026-12-20', STATUS_ID: 'N',
        PRODUCT_ROWS: [{ PRODUCT_ID: 0, PRODUCT_NAME: 'Design work', PRICE: 230, QUANTITY: 1, VAT_RATE: 0.15, VAT_INCLUDED: 'Y' }],
      });
      return doc({ kind, b24Type: 'invoice', b24Id: String(inv.ID ?? inv.id) });
    }
    const inv = user.createSmartInvoice({ title: number, accountNumber: number, companyId: company.id, currencyId: 'NZD', closedate: '2026-12-31T00:00:00+00:00' });
    user.setProductRows(SMART_INVOICE, Number(inv.id), [
      { productName: 'Consulting hour', price: 115, quantity: 1 + (seq % 3), taxRate: 15, taxIncluded: 'Y' },
      { productName: 'Travel', price: 23, quantity: 1, taxRate: 15, taxIncluded: 'Y' },
    ]);
    const d = doc({ kind: 'smart', b24Type: 'smart_invoice', b24Id: String(inv.id) });
    this.#free.push(d);
    return d;
  }

  /** A smart invoice of the mix already in Xero (as a draft) that no payment or stage move acted on yet. */
  private async takePushed(): Promise<ThrottleDoc | undefined> {
    const i = await this.side.withStore((s) => findIndexEach(this.#free, async (d) => (await s.links.find(this.side.memberId, 'smart_invoice', d.b24Id))?.xeroStatus === 'DRAFT'));
    return i < 0 ? undefined : this.#free.splice(i, 1)[0];
  }

  /** From now on, only these kinds take turns (e.g. payments on the invoices this mix pushed before). */
  only(...kinds: MixKind[]): void {
    this.kinds = kinds;
  }

  count(kind: MixKind): number {
    return this.docs.filter((d) => d.kind === kind).length;
  }
}

/** The mix's end state: what has not landed yet, by kind (every list empty when it all did). */
export async function notLanded(side: MixSide, docs: ThrottleDoc[]): Promise<Record<MixKind, string[]>> {
  const { b24, xero, tenantId, memberId } = side;
  const out = Object.fromEntries(MIX_KINDS.map((k) => [k, [] as string[]])) as Record<MixKind, string[]>;
  const live = [...xero.invoices(tenantId), ...xero.quotes(tenantId)].filter((x) => x.Status !== 'DELETED' && x.Status !== 'VOIDED');
  const inXero = new Map<string, number>();
  for (const x of live) inXero.set(String(x.Reference ?? x.QuoteNumber ?? x.InvoiceNumber), (inXero.get(String(x.Reference ?? x.QuoteNumber ?? x.InvoiceNumber)) ?? 0) + 1);
  // Each list rendered once (the connector may share this process: the check must not starve it).
  const byId = (rows: Record<string, unknown>[], key: string) => new Map(rows.map((x) => [String(x[key]), x]));
  const classic = byId(b24.classicInvoices(), 'ID');
  const smart = byId(b24.items(SMART_INVOICE), 'id');
  const quotes = byId(b24.items(QUOTE), 'id');
  const invoices = new Map(xero.invoices(tenantId).map((x) => [String(x.InvoiceID), x]));
  const contacts = new Map(xero.contacts(tenantId).map((x) => [String(x.ContactID).toLowerCase(), x]));
  const raw = (d: ThrottleDoc) => (d.b24Type === 'invoice' ? classic : d.b24Type === 'quote' ? quotes : smart).get(d.b24Id) ?? {};
  const lastEdit = new Map(docs.filter((x) => x.kind === 'contact').map((x) => [x.b24Id, x]));
  await side.withStore(async (s) => {
    for (const d of docs) {
      const found = await s.links.find(memberId, d.b24Type as 'smart_invoice', d.b24Id);
      const link = (_d: ThrottleDoc) => found;
      if (d.kind === 'smart' || d.kind === 'quote' || d.kind === 'classic') {
        // Exactly once in Xero, and its Xero id written back to Bitrix24.
        const n = inXero.get(d.number) ?? 0;
        const l = link(d);
        if (n !== 1 || !l) out[d.kind].push(`${d.number} (in Xero ${n}×, ${l ? 'linked' : 'no link'})`);
        else if (shownXeroId({ type: d.b24Type as 'smart_invoice', fields: raw(d) }) !== l.xeroId) out[d.kind].push(`${d.number} (Xero id not written back)`);
      } else if (d.kind === 'payment') {
        const stage = String(raw(d).stageId ?? '');
        if (link(d)?.xeroStatus !== 'PAID' || !/:P$/.test(stage)) out.payment.push(`${d.number} (${link(d)?.xeroStatus}, ${stage})`);
      } else if (d.kind === 'stage') {
        const inv = invoices.get(String(link(d)?.xeroId));
        if (inv?.Status !== 'AUTHORISED') out.stage.push(`${d.number} (${inv?.Status ?? 'not in Xero'})`);
      } else if (d.kind === 'contact') {
        const l = await s.links.find(memberId, 'company', d.b24Id);
        const contact = l && contacts.get(l.xeroId.toLowerCase());
        // Only the latest edit of a company counts: a later one replaces it.
        const latest = lastEdit.get(d.b24Id);
        if (latest === d && String(contact?.Name ?? '') !== d.number) out.contact.push(`${d.b24Id} (${String(contact?.Name ?? 'no contact')} ≠ ${d.number})`);
      }
    }
  });
  return out;
}

export async function assertLanded(side: MixSide, docs: ThrottleDoc[]): Promise<void> {
  assert.deepEqual((await notLanded(side, docs)), Object.fromEntries(MIX_KINDS.map((k) => [k, []])));
}

/** The connector's own REST requests to the portal in a call log (each `batch` one request; token renewals apart). */
export function connectorRequests(log: CallLogEntry[]): CallLogEntry[] {
  return log.filter((c) => !c.viaBatch && c.method !== 'oauth/token' && c.error !== 'dropped');
}
