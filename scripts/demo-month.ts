/**
 * The demo's month of business, done for real: over the 30 days before today, people create invoices, estimates and a
 * classic invoice in the emulated Bitrix24 portal (more on weekdays and in office hours), sometimes correct them, and
 * in the emulated Xero an accountant approves drafts each morning and records the customers' payments each afternoon.
 * The real connector syncs every one of these moments as it happens — Bitrix24 events → outbox → Xero, Xero's webhooks
 * and status poll → stages and payments back in Bitrix24 — with the emulators and the connector on one clock that is
 * put at each moment in turn (app/clock.ts). What the dashboard's charts, log and each card's history then show is
 * what the connector did, and every Xero number in them is a document of the emulated organisation.
 *
 * Two documents stop for a real cause: an invoice saved without a customer (its author adds the company the same day,
 * and it goes out), and an invoice in pounds, a currency the organisation does not have (it still waits).
 *
 * The plan comes from a seeded generator; it differs between two starts only by where the weekends fall.
 */
import type { OffsetClock } from '../app/clock.js';
import type { Services } from '../app/services.js';
import type { B24Type } from '../app/store/links.js';
import { COMPANY, QUOTE, SMART_INVOICE, type Bitrix24Emulator } from '../test/emulators/bitrix24/index.js';
import type { XeroEmulator } from '../test/emulators/xero/index.js';
import { seeded } from '../test/xero-push/fixtures.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Who does what: the emulators as people use them, the connector at work, and the clock they share. */
export interface Business {
  b24: Bitrix24Emulator;
  xero: XeroEmulator;
  tenantId: string;
  memberId: string;
  services: Pick<Services, 'store' | 'outbox' | 'statusPoll' | 'intakeSchedule' | 'portals'>;
  clock: OffsetClock;
}

/** A document the month created in Bitrix24. */
export interface MonthDocument {
  type: B24Type;
  id: string;
  title: string;
}

export interface MonthReport {
  /** The month's first moment (epoch ms), just after the connector was installed and connected. */
  from: number;
  /** Its last moment. */
  to: number;
  documents: MonthDocument[];
  /** Moments of the month: people's actions in the portal or in Xero (entering customers, writing, correcting, approving, paying, moving stages), each synced by the connector. */
  actions: number;
}

/** The month's first moment for a month ending at `end`: 30 days before, at 08:00 UTC. */
export function monthStart(end: number, days = 30): number {
  return Math.floor((end - days * DAY) / DAY) * DAY + 8 * HOUR;
}

interface Customer {
  companyId: number;
  contactId?: number;
  name: string;
  currency: string;
}

/** One row as a person picks it from the catalog (prices as the catalog has them; 15 % GST). */
type Row = {
  productId?: number;
  productName: string;
  price: number;
  quantity: number;
  taxRate: number | null;
  taxIncluded: 'Y' | 'N';
};

/** What happens to an invoice after it is written: a correction, approval, payment or voiding in Xero. */
interface InvoicePlan {
  editAfter?: number;
  approveAfterDays?: number;
  payAfterDays?: number;
  /** Share of the amount due that the customer pays (a part payment); default: all of it. */
  payShare?: number;
  voidAfterDays?: number;
}

interface Step {
  at: number;
  act: () => void | Promise<void>;
}

/** Runs the month up to `end` (default: now on the system clock, less a quarter of an hour). */
export async function runMonth(w: Business, opts: { end?: number; seed?: number } = {}): Promise<MonthReport> {
  const end = opts.end ?? Date.now() - 15 * MINUTE;
  const from = monthStart(end);
  const random = seeded(opts.seed ?? 20_260_101);
  const sales = w.b24.actAs(2);
  const admin = w.b24.actAs(1);
  const documents: MonthDocument[] = [];
  const steps: Step[] = [];
  const at = (t: number, act: Step['act']) => {
    if (t <= end) steps.push({ at: t, act });
  };
  let actions = 0;

  // The catalog as seeded (test/emulators/bitrix24/seed.ts).
  const product = (name: string) => Number(w.b24.products().find((p) => p.name === name)?.id);
  const catalog = {
    hour: { productId: product('Consulting hour'), productName: 'Consulting hour', price: 138, taxRate: 15, taxIncluded: 'Y' as const },
    package: { productId: product('Implementation package'), productName: 'Implementation package', price: 2875, taxRate: 15, taxIncluded: 'Y' as const },
    support: { productId: product('Support subscription (month)'), productName: 'Support subscription (month)', price: 99, taxRate: 15, taxIncluded: 'N' as const },
    training: { productId: product('Training day'), productName: 'Training day', price: 800, taxRate: 15, taxIncluded: 'N' as const },
  };
  const rowsFor = (): Row[] => {
    const rows: Row[] = [{ ...catalog.hour, quantity: 2 + Math.floor(random() * 14) }];
    const r = random();
    if (r < 0.25) rows.push({ ...catalog.package, quantity: 1 });
    else if (r < 0.5) rows.push({ ...catalog.support, quantity: 1 + Math.floor(random() * 3) });
    else if (r < 0.62) rows.push({ productName: 'Travel (no GST)', price: 45 + Math.floor(random() * 8) * 15, quantity: 1, taxRate: null, taxIncluded: 'N' });
    return rows;
  };
  const day = (t: number) => new Date(t).toISOString().slice(0, 10);
  const dates = (t: number, termDays: number) => ({ begindate: `${day(t)}T00:00:00+00:00`, closedate: `${day(t + termDays * DAY)}T00:00:00+00:00` });
  /** A moment on the working day `days` after `t`, at `hour` UTC (weekends skipped), with a few minutes' spread. */
  const workday = (t: number, days: number, hour: number) => {
    let d = Math.floor(t / DAY) * DAY + days * DAY;
    while (isWeekend(d)) d += DAY;
    return d + hour * HOUR + Math.floor(random() * 40) * MINUTE;
  };

  // The customers, entered on the first morning (Ridgeway University and City Limousines are known in Xero already).
  const customers: Customer[] = [];
  at(from + 5 * MINUTE, () => {
    const add = (title: string, email: string, person?: [string, string]) => {
      const company = admin.createCompany({ title, currencyId: 'NZD', fm: [{ typeId: 'EMAIL', valueType: 'WORK', value: email }] });
      const contact = person ? admin.createContact({ name: person[0], lastName: person[1], companyId: company.id, fm: [{ typeId: 'EMAIL', valueType: 'WORK', value: `${person[0].toLowerCase()}@${email.split('@')[1]}` }] }) : undefined;
      customers.push({ companyId: Number(company.id), contactId: contact ? Number(contact.id) : undefined, name: title, currency: 'NZD' });
    };
    add('Ridgeway University', 'accounts@ridgeway.example', ['Hemi', 'Walker']);
    add('City Limousines', 'billing@citylimo.example');
    add('Harbourside Cafe Ltd', 'office@harbourside.example', ['Aroha', 'Ngata']);
    add('Kowhai Dental Clinic', 'admin@kowhaidental.example');
    add('Tui Freight Ltd', 'accounts@tuifreight.example', ['Sam', 'Patel']);
  });

  const smartInvoice = (t: number, regular: number, title: string, plan: InvoicePlan, rows = rowsFor()) => {
    at(t, () => {
      const customer = customers[regular]!;
      const created = sales.createSmartInvoice({
        title, currencyId: customer.currency, ...dates(t, 20), companyId: customer.companyId,
        ...(customer.contactId ? { contactId: customer.contactId, contactIds: [customer.contactId] } : {}),
      });
      const id = Number(created.id);
      sales.setProductRows(SMART_INVOICE, id, rows);
      documents.push({ type: 'smart_invoice', id: String(id), title });
      planInvoice(t, 'smart_invoice', id, rows, plan);
    });
  };

  /** What happens to an invoice after it is written: scheduled once it exists. */
  const planInvoice = (t: number, type: B24Type, id: number, rows: Row[], plan: InvoicePlan) => {
    if (plan.editAfter !== undefined && type === 'smart_invoice') {
      at(t + plan.editAfter, () => {
        // A correction while it is still a draft: one more hour, as the customer asked.
        sales.setProductRows(SMART_INVOICE, id, rows.map((r, i) => (i === 0 ? { ...r, quantity: r.quantity + 1 } : r)));
      });
    }
    if (plan.approveAfterDays !== undefined) {
      const approved = workday(t, plan.approveAfterDays, 9);
      xeroAt(approved, async () => { w.xero.approveInvoice(w.tenantId, await xeroIdOf(type, id)); });
      if (plan.payAfterDays !== undefined) {
        const paid = workday(approved, plan.payAfterDays, 14);
        xeroAt(paid, async () => {
          const xeroId = await xeroIdOf(type, id);
          const invoice = w.xero.invoices(w.tenantId).find((i) => i.InvoiceID === xeroId);
          const due = Number(invoice?.AmountDue ?? 0);
          if (invoice?.Status !== 'AUTHORISED' || due <= 0) return;
          const amount = plan.payShare === undefined ? due : Math.round(due * plan.payShare * 100) / 100;
          w.xero.addPayment(w.tenantId, String(invoice.InvoiceID), amount, day(paid));
        });
      }
      if (plan.voidAfterDays !== undefined) xeroAt(workday(approved, plan.voidAfterDays, 11), async () => { w.xero.voidInvoice(w.tenantId, await xeroIdOf(type, id)); });
    }
  };

  /** A Xero user's action on a document the connector sent (skipped when it never reached Xero). */
  const xeroAt = (t: number, act: () => Promise<void>) =>
    at(t, async () => {
      try {
        await act();
      } catch (err) {
        if (!(err instanceof NotInXero)) throw err;
      }
    });
  const xeroIdOf = async (type: B24Type, id: number): Promise<string> => {
    const link = await w.services.store.links.find(w.memberId, type, String(id));
    if (!link) throw new NotInXero();
    return link.xeroId;
  };

  // The month's documents: one to three invoices a working day in office hours, now and then one at a weekend, an
  // estimate every third working day. What becomes of each follows from its place in the month, so that every
  // month has each outcome: drafts still open, approved and awaiting payment, part paid, paid, voided.
  let n = 0;
  let workdays = 0;
  let estimates = 0;
  const topics = ['web', 'data', 'network', 'support', 'training'];
  for (let d = 0; d < 30; d++) {
    const dayStart = Math.floor(from / DAY) * DAY + d * DAY;
    const weekend = isWeekend(dayStart);
    if (!weekend) workdays += 1;
    const count = weekend ? (d % 3 === 0 ? 1 : 0) : 1 + (random() < 0.6 ? 1 : 0) + (random() < 0.15 ? 1 : 0);
    const times = Array.from({ length: count }, () => dayStart + (weekend ? 10 : 8.5) * HOUR + Math.floor(random() * (weekend ? 4 : 9) * 60) * MINUTE).sort((x, y) => x - y);
    for (const t of times) {
      if (t < from + HOUR) continue;
      n += 1;
      const plan: InvoicePlan = {};
      if (n % 4 === 2) plan.editAfter = (1 + (n % 3)) * HOUR + 20 * MINUTE;
      if (n % 6 !== 5) {
        plan.approveAfterDays = 1 + (n % 2);
        if (n % 9 === 4) Object.assign(plan, { payAfterDays: 3 + (n % 5), payShare: 0.5 });
        else if (n % 11 === 7) plan.voidAfterDays = 1;
        else if (n % 5 !== 3) plan.payAfterDays = 2 + (n % 8);
      }
      smartInvoice(t, regular(random), `Consulting, ${topics[n % topics.length]} ${n}`, plan);
    }
    // Some estimates are accepted by the customer a few days later (the salesperson moves the stage in Bitrix24).
    if (!weekend && workdays % 3 === 1) {
      estimates += 1;
      const t = dayStart + 11 * HOUR + Math.floor(random() * 240) * MINUTE;
      const accept = estimates % 2 === 0;
      const customer = regular(random);
      const title = `Estimate: ${['training programme', 'network upgrade', 'support plan', 'data migration'][estimates % 4]}`;
      const days = 1 + Math.floor(random() * 3);
      at(t, () => {
        const quote = sales.createQuote({ title, companyId: customers[customer]!.companyId, currencyId: 'NZD', ...dates(t, 30) });
        const id = Number(quote.id);
        sales.setProductRows(QUOTE, id, [{ ...catalog.training, quantity: days }, { ...catalog.hour, quantity: 4 }]);
        documents.push({ type: 'quote', id: String(id), title });
        if (accept) at(workday(t, 3, 10), () => void sales.moveStage(QUOTE, id, 'APPROVED'));
      });
    }
  }

  // The monthly support invoice, still written as a classic invoice by the admin, on the month's first working day.
  const classicAt = workday(from, 0, 10) + 30 * MINUTE;
  at(classicAt, () => {
    const customer = customers.find((c) => c.name === 'Ridgeway University')!;
    const rows = [{ PRODUCT_ID: catalog.support.productId, PRODUCT_NAME: catalog.support.productName, PRICE: 99, QUANTITY: 3, VAT_RATE: 0.15, VAT_INCLUDED: 'N' }];
    const created = admin.createClassicInvoice({ ORDER_TOPIC: 'Support subscription, three seats', UF_COMPANY_ID: String(customer.companyId), CURRENCY: 'NZD', DATE_BILL: `${day(classicAt)}T00:00:00+00:00`, DATE_PAY_BEFORE: `${day(classicAt + 20 * DAY)}T00:00:00+00:00`, PRODUCT_ROWS: rows });
    const id = Number(created.ID);
    documents.push({ type: 'invoice', id: String(id), title: 'Support subscription, three seats' });
    planInvoice(classicAt, 'invoice', id, [], { approveAfterDays: 1, payAfterDays: 6 });
  });

  // An invoice saved without its customer: it waits for one, and goes out once its author adds the company.
  const forgotten = workday(from, 9, 11) + 20 * MINUTE;
  at(forgotten, () => {
    const title = 'Workshop facilitation';
    const created = sales.createSmartInvoice({ title, currencyId: 'NZD', ...dates(forgotten, 20) });
    const id = Number(created.id);
    sales.setProductRows(SMART_INVOICE, id, [{ ...catalog.hour, quantity: 6 }]);
    documents.push({ type: 'smart_invoice', id: String(id), title });
    at(forgotten + 4 * HOUR + 10 * MINUTE, () => void sales.updateItem(SMART_INVOICE, id, { companyId: customers.find((c) => c.name === 'Kowhai Dental Clinic')!.companyId }));
    planInvoice(forgotten + 4 * HOUR, 'smart_invoice', id, [], { approveAfterDays: 1, payAfterDays: 5 });
  });

  // An invoice in pounds for a UK customer, a currency the organisation does not have: it waits in "Needs attention".
  const pounds = lastWorkday(end - 26 * HOUR, 13);
  at(pounds, () => {
    const northwind = w.b24.items(COMPANY).find((c) => c.title === 'Northwind Traders Ltd')!;
    const title = 'Remote workshop (UK)';
    const created = sales.createSmartInvoice({ title, companyId: Number(northwind.id), currencyId: 'GBP', ...dates(pounds, 30) });
    const id = Number(created.id);
    sales.setProductRows(SMART_INVOICE, id, [{ productName: 'Remote workshop', price: 1200, quantity: 1, taxRate: null, taxIncluded: 'N' }]);
    documents.push({ type: 'smart_invoice', id: String(id), title });
  });

  // Work the moments in order; a moment may plan later ones. The outbox is worked by `settle` meanwhile, each moment's
  // work at that moment (its own loop would first wait, on the system clock, for a burst that never comes). Then the
  // month has caught up with today: the clock is the system clock again, the connector does its regular checks once
  // more, and the outbox works on its own.
  await w.services.outbox.stop();
  let today = -1;
  while (steps.length) {
    steps.sort((a, b) => a.at - b.at);
    const step = steps.shift()!;
    w.clock.set(step.at);
    const firstOfDay = Math.floor(step.at / DAY) !== today;
    today = Math.floor(step.at / DAY);
    // Hours pass between two moments. b24jssdk keeps its own courtesy rate limit on the system clock, on which the
    // month takes seconds: a new client for each moment starts with the full bucket it would have refilled by then.
    w.services.portals.forget(w.memberId);
    await step.act();
    actions += 1;
    await settle(w, { sweep: firstOfDay });
  }
  w.clock.offsetMs = 0;
  w.services.portals.forget(w.memberId);
  await settle(w, { sweep: true });
  w.services.outbox.start();
  return { from, to: end, documents, actions };
}

class NotInXero extends Error {}

/** Which of the five regular customers (in the order they are entered) a new document is for: some more often. */
function regular(random: () => number): number {
  const weights = [5, 2, 3, 2, 3];
  let r = random() * weights.reduce((a, b) => a + b, 0);
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i]!;
    if (r <= 0) return i;
  }
  return 0;
}

/**
 * Lets the connector finish what the moment caused, as it would meanwhile: Bitrix24's events are delivered, the
 * outbox works them, Xero's webhooks for its changes are delivered and worked, and the status poll looks at Xero
 * (quotes come back only by the poll) — until nothing more is due. Work that waits (a retry later) waits for a later
 * moment, as it would. With `sweep`, the safety nets of the intake schedule run too (the offline queue is read, the
 * sweep looks for missed documents): they run every minute and every ten in production, here once a day and at the end.
 */
export async function settle(w: Business, opts: { sweep?: boolean } = {}): Promise<void> {
  const { store, outbox, statusPoll, intakeSchedule } = w.services;
  if (opts.sweep) {
    await intakeSchedule.queue('drain-offline');
    await intakeSchedule.queue('reconcile');
  }
  for (let round = 0; round < 20; round++) {
    const before = w.b24.deliveryLog.length + w.xero.webhookDeliveries.length;
    await w.b24.flushEvents();
    await w.xero.flushWebhooks();
    await outbox.drain();
    await statusPoll.tick();
    await w.b24.flushEvents();
    const due = (await store.jobs.nextRunAt() ?? Number.POSITIVE_INFINITY) <= w.clock.now();
    if (!due && w.xero.pendingWebhookEvents().length === 0 && w.b24.deliveryLog.length + w.xero.webhookDeliveries.length === before) return;
  }
}

/** `hour` o'clock UTC on the last working day on which that hour is not after `t`. */
function lastWorkday(t: number, hour: number): number {
  let d = Math.floor(t / DAY) * DAY;
  if (d + hour * HOUR > t) d -= DAY;
  while (isWeekend(d)) d -= DAY;
  return d + hour * HOUR;
}

function isWeekend(t: number): boolean {
  const d = new Date(t).getUTCDay();
  return d === 0 || d === 6;
}
