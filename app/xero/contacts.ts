/**
 * Bitrix24 customers (companies and contacts) → Xero ContactIDs, with as few Xero calls as possible and never a
 * duplicate contact:
 * 1. a stored link wins (no call);
 * 2. else a Xero contact whose ContactNumber is `b24:<kind>:<id>` (one `GET /Contacts?where=…` per 25 customers);
 * 3. else the active Xero contact with the same name (names are unique among active contacts, docs/reference/xero.md#contacts), when
 *    the e-mail addresses do not contradict each other (one `GET` per 25 names);
 * 4. else created, all in one `PUT /Contacts` per 50 with `summarizeErrors=false` and an Idempotency-Key; an element
 *    refused because the name "is already assigned to another contact" (someone created it meanwhile, or it is
 *    archived-then-restored) is looked up by name and linked instead.
 * A customer whose name belongs to a Xero contact with another e-mail address is a different party: it is created
 * under its name with the Bitrix24 reference appended, e.g. "Acme Ltd (company 12)".
 */
import { createHash } from 'node:crypto';
import type { Contact, Contacts } from 'xero-node';
import type { DocumentCustomer } from '../domain/document.js';
import { validationMessages } from './errors.js';
import type { XeroGateway } from './gateway.js';

/** Customers per `where` look-up (URL length, docs/reference/xero.md#reads). */
export const CONTACTS_PER_LOOKUP = 25;
/** Contacts per create request. */
export const CONTACTS_PER_CREATE = 50;

const ZERO_GUID = '00000000-0000-0000-0000-000000000000';

/** The key of a customer, also its Xero ContactNumber: `b24:company:12`. */
/** Longest contact name Xero takes; 20 characters are left for the " (company 123)" a taken name gets. */
const XERO_NAME_MAX = 255;

export function customerKey(c: Pick<DocumentCustomer, 'kind' | 'id'>): string {
  return `b24:${c.kind}:${c.id}`;
}

export interface ContactLink {
  customerKey: string;
  b24Type: 'company' | 'contact';
  b24Id: string;
  contactId: string;
  /** How it was found: 'number', 'name' or 'created'. */
  via: 'number' | 'name' | 'created';
}

export interface ResolvedContacts {
  /** customerKey → Xero ContactID, for every customer that could be resolved. */
  contactIds: Map<string, string>;
  /** New links to save (customers resolved by look-up or creation). */
  links: ContactLink[];
  /** customerKey → why it could not be resolved (Xero refused the contact). */
  failures: Map<string, { code: string; message: string }>;
}

/** What became of one customer in a shared resolution. */
interface Outcome {
  contactId?: string;
  link?: ContactLink;
  failure?: { code: string; message: string };
}

/** Customers collected from the groups working at the same time, resolved together once the window closes. */
interface Pending {
  customers: Map<string, DocumentCustomer>;
  settle: Map<string, { resolve: (o: Outcome) => void; reject: (e: unknown) => void }>;
}

/** How long resolutions from parallel groups are collected into one (ms). */
const COLLECT_MS = 25;
/** How long a resolved customer is answered from memory, covering groups that read their links before it was saved. */
const REMEMBER_MS = 60_000;
const resolving = new WeakMap<XeroGateway, Map<string, Promise<Outcome>>>();
const collecting = new WeakMap<XeroGateway, Pending>();
/** Customers that groups at work will resolve soon (customerKey → the customer and how many groups want it). */
const wanted = new WeakMap<XeroGateway, Map<string, { customer: DocumentCustomer; groups: number }>>();

/**
 * Announces the not yet linked customers of a group's documents, as soon as they are read: a resolution that starts
 * meanwhile in another group (of the same organisation) takes them along, so a burst's new customers are looked up
 * and created together, and each only once. Returns the withdrawal (call it when the group ends).
 */
export function announceCustomers(gateway: XeroGateway, customers: DocumentCustomer[]): () => void {
  const map = wanted.get(gateway) ?? new Map<string, { customer: DocumentCustomer; groups: number }>();
  wanted.set(gateway, map);
  const byKey = new Map(customers.map((c) => [customerKey(c), c]));
  const keys = [...byKey.keys()];
  for (const [k, customer] of byKey) {
    const w = map.get(k);
    if (w) w.groups += 1;
    else map.set(k, { customer, groups: 1 });
  }
  let withdrawn = false;
  return () => {
    if (withdrawn) return;
    withdrawn = true;
    for (const k of keys) {
      const w = map.get(k);
      if (w && --w.groups <= 0) map.delete(k);
    }
  };
}

/** Keeps `outcome` as the answer for `key` while it is being resolved, and a minute after (a failure not at all). */
function track(inFlight: Map<string, Promise<Outcome>>, key: string, outcome: Promise<Outcome>): Promise<Outcome> {
  inFlight.set(key, outcome);
  const forget = () => inFlight.get(key) === outcome && inFlight.delete(key);
  outcome.then((o) => (o.failure ? forget() : setTimeout(forget, REMEMBER_MS).unref()), forget);
  return outcome;
}

/**
 * Resolves every customer to a Xero ContactID. `known` holds the already linked ones (customerKey → ContactID),
 * e.g. from `knownContactIds`. `tenantId` names the organisation (the gateway's session carries the header value).
 * Groups that ask at the same time (a burst worked in parallel) share one resolution: their customers are looked up
 * and created together (one look-up and one create per 50), and a customer being resolved, or resolved a moment ago,
 * is never looked up again. Throws the gateway's error when Xero cannot be reached at all.
 */
export async function resolveContacts(
  gateway: XeroGateway,
  tenantId: string,
  customers: DocumentCustomer[],
  known: Map<string, string>,
): Promise<ResolvedContacts> {
  const contactIds = new Map<string, string>();
  const links: ContactLink[] = [];
  const failures = new Map<string, { code: string; message: string }>();
  const inFlight = resolving.get(gateway) ?? new Map<string, Promise<Outcome>>();
  resolving.set(gateway, inFlight);
  const waits: Array<Promise<[string, Outcome]>> = [];
  for (const c of customers) {
    const key = customerKey(c);
    const linked = known.get(key);
    if (linked) {
      contactIds.set(key, linked);
      continue;
    }
    const outcome = inFlight.get(key) ?? track(inFlight, key, enqueue(gateway, tenantId, key, c));
    waits.push(outcome.then((o) => [key, o]));
  }
  for (const [key, o] of await Promise.all(waits)) {
    if (o.contactId) contactIds.set(key, o.contactId);
    if (o.link) links.push(o.link);
    if (o.failure) failures.set(key, o.failure);
  }
  return { contactIds, links, failures };
}

function enqueue(gateway: XeroGateway, tenantId: string, key: string, c: DocumentCustomer): Promise<Outcome> {
  let pending = collecting.get(gateway);
  if (!pending) {
    const batch: Pending = { customers: new Map(), settle: new Map() };
    pending = batch;
    collecting.set(gateway, batch);
    setTimeout(() => {
      collecting.delete(gateway);
      // The customers other groups announced and nobody resolves yet come along (see `announceCustomers`).
      const inFlight = resolving.get(gateway) ?? new Map<string, Promise<Outcome>>();
      for (const [k, w] of wanted.get(gateway) ?? []) {
        if (batch.customers.has(k) || inFlight.has(k)) continue;
        batch.customers.set(k, w.customer);
        // Kept in inFlight for the groups that wait on this customer; settled by the batch below.
        void track(inFlight, k, new Promise<Outcome>((resolve, reject) => batch.settle.set(k, { resolve, reject })));
      }
      resolveNow(gateway, tenantId, [...batch.customers.values()], new Map()).then(
        (r) => {
          for (const [k, s] of batch.settle) {
            const contactId = r.contactIds.get(k);
            s.resolve({ contactId, link: r.links.find((l) => l.customerKey === k), failure: contactId ? undefined : (r.failures.get(k) ?? undefined) });
          }
        },
        (err) => batch.settle.forEach((s) => s.reject(err)),
      );
    }, COLLECT_MS);
  }
  const batch = pending;
  batch.customers.set(key, c);
  return new Promise<Outcome>((resolve, reject) => batch.settle.set(key, { resolve, reject }));
}

/** One resolution of `customers` (see the header for the order of look-ups). */
async function resolveNow(
  gateway: XeroGateway,
  tenantId: string,
  customers: DocumentCustomer[],
  known: Map<string, string>,
): Promise<ResolvedContacts> {
  const contactIds = new Map<string, string>();
  const links: ContactLink[] = [];
  const failures = new Map<string, { code: string; message: string }>();
  const pending = new Map<string, DocumentCustomer>();
  for (const raw of customers) {
    // Xero's contact names hold at most 255 characters (xero_accounting.yaml Contact.Name maxLength); a longer
    // Bitrix24 name is cut there, the same way every time, so lookups by name find what was created.
    const c = raw.name.trim().length > XERO_NAME_MAX ? { ...raw, name: raw.name.trim().slice(0, XERO_NAME_MAX - 20).trimEnd() } : raw;
    const key = customerKey(c);
    const linked = known.get(key);
    if (linked) contactIds.set(key, linked);
    else pending.set(key, c);
  }
  const link = (c: DocumentCustomer, contactId: string, via: ContactLink['via']) => {
    const key = customerKey(c);
    contactIds.set(key, contactId);
    links.push({ customerKey: key, b24Type: c.kind, b24Id: c.id, contactId, via });
    pending.delete(key);
  };

  const renamed = new Map<string, string>(); // customerKey → name to create under
  const byName = (found: Contact[]) => {
    for (const [key, c] of [...pending]) {
      const hit = found.find((x) => sameName(x.name, c.name));
      if (!hit?.contactID) continue;
      if (emailsAgree(hit.emailAddress, c.email)) link(c, hit.contactID, 'name');
      else renamed.set(key, `${c.name.trim()} (${c.kind} ${c.id})`);
    }
  };
  if (pending.size && (pending.size >= SCAN_AT || (await freshDirectory(gateway)))) {
    // Many new customers (a first sync, a backlog): one paged read of the organisation's contacts answers for
    // all of them at once, instead of two look-ups per 25 customers.
    const directory = await contactDirectory(gateway);
    for (const [key, c] of [...pending]) {
      const hit = directory.byNumber.get(key);
      if (hit?.contactID) link(c, hit.contactID, 'number');
    }
    if (pending.size) byName([...pending.values()].flatMap((c) => directory.byName.get(normalName(c.name)) ?? []));
  } else {
    // 2. by ContactNumber
    if (pending.size) {
      const byNumber = await lookUp(gateway, 'ContactNumber', [...pending.keys()]);
      for (const [key, c] of [...pending]) {
        const hit = byNumber.find((x) => x.contactNumber === key);
        if (hit?.contactID) link(c, hit.contactID, 'number');
      }
    }
    // 3. by name (+ e-mail when both sides have one)
    if (pending.size) byName(await lookUp(gateway, 'Name', [...new Set([...pending.values()].map((c) => c.name.trim()))]));
  }

  // 4. create the rest in batches; "name already assigned" → find by name and link
  const toCreate = [...pending.values()];
  const nameTaken: DocumentCustomer[] = [];
  for (let i = 0; i < toCreate.length; i += CONTACTS_PER_CREATE) {
    const batch = toCreate.slice(i, i + CONTACTS_PER_CREATE);
    const body: Contacts = { contacts: batch.map((c) => contactOf(c, renamed.get(customerKey(c)))) };
    const idempotencyKey = `contacts:${createHash('sha256').update(batch.map((c) => `${customerKey(c)}\t${c.name}\t${c.email ?? ''}`).join('\n')).digest('hex')}`;
    const answer = await gateway.call(`creating ${batch.length} contact(s)`, (s) =>
      // https://developer.xero.com/documentation/api/accounting/contacts#put-contacts
      s.xero.accountingApi.createContacts(s.tenantId, body, false, idempotencyKey),
    );
    batch.forEach((c, n) => {
      const el = answer.contacts?.[n];
      const messages = el ? validationMessages([el]) : [];
      if (el?.contactID && el.contactID !== ZERO_GUID && messages.length === 0) {
        remember(gateway, el);
        return link(c, el.contactID, 'created');
      }
      if (messages.some((m) => /already assigned to another contact/i.test(m))) return void nameTaken.push(c);
      failures.set(customerKey(c), {
        code: 'XERO.VALIDATION',
        message: `Xero did not accept the customer "${c.name}": ${messages.join(' ') || 'no reason given'}`,
      });
    });
  }
  if (nameTaken.length) {
    const byName = await lookUp(gateway, 'Name', nameTaken.map((c) => renamed.get(customerKey(c)) ?? c.name.trim()));
    for (const c of nameTaken) {
      const name = renamed.get(customerKey(c)) ?? c.name;
      const hit = byName.find((x) => sameName(x.name, name));
      if (hit?.contactID) link(c, hit.contactID, 'name');
      else {
        failures.set(customerKey(c), {
          code: 'XERO.CONTACT_NAME_TAKEN',
          message: `Xero has an archived contact named "${c.name}". Restore it in Xero, or rename the customer in Bitrix24.`,
        });
      }
    }
  }
  return { contactIds, links, failures };
}

function contactOf(c: DocumentCustomer, nameOverride?: string): Contact {
  const contact: Contact = { name: (nameOverride ?? c.name).trim(), contactNumber: customerKey(c) };
  if (c.email) contact.emailAddress = c.email;
  if (c.kind === 'contact') {
    if (c.firstName) contact.firstName = c.firstName;
    if (c.lastName) contact.lastName = c.lastName;
  }
  return contact;
}

/** Pending customers from which a full read of the contacts is cheaper than look-ups. */
const SCAN_AT = 25;
/** Contacts per page of the full read (Xero's maximum page size, docs/reference/xero.md#reads). */
const SCAN_PAGE = 1000;
/** Longest full read, in pages; bigger organisations fall back to what was read plus the create-and-heal path. */
const SCAN_MAX_PAGES = 20;
/** How long a full read is trusted; contacts created meanwhile in Xero are healed by "name already assigned". */
const SCAN_TTL_MS = 10 * 60_000;

interface Directory {
  byNumber: Map<string, Contact>;
  byName: Map<string, Contact[]>;
  at: number;
}

const directories = new WeakMap<XeroGateway, Promise<Directory>>();

function normalName(name: string | undefined): string {
  return (name ?? '').trim().toLowerCase();
}

/** The directory when a read of it is still fresh (no call). */
async function freshDirectory(gateway: XeroGateway): Promise<Directory | undefined> {
  const cached = directories.get(gateway);
  const dir = cached ? await cached.catch(() => undefined) : undefined;
  return dir && Date.now() - dir.at < SCAN_TTL_MS ? dir : undefined;
}

/**
 * The organisation's active contacts by number and by name, read page by page; cached per connection, and one read
 * is shared by the groups that ask at the same time.
 */
async function contactDirectory(gateway: XeroGateway): Promise<Directory> {
  const cached = directories.get(gateway);
  if (cached) {
    const dir = await cached.catch(() => undefined);
    if (dir && Date.now() - dir.at < SCAN_TTL_MS) return dir;
  }
  const reading = readDirectory(gateway);
  directories.set(gateway, reading);
  reading.catch(() => directories.delete(gateway));
  return reading;
}

/** Adds a contact the connector created to a cached directory, so the next look-up in it finds it. */
function remember(gateway: XeroGateway, contact: Contact): void {
  void directories.get(gateway)?.then((dir) => {
    if (contact.contactNumber) dir.byNumber.set(contact.contactNumber, contact);
    const key = normalName(contact.name);
    dir.byName.set(key, [...(dir.byName.get(key) ?? []), contact]);
  }, () => undefined);
}

async function readDirectory(gateway: XeroGateway): Promise<Directory> {
  const dir: Directory = { byNumber: new Map(), byName: new Map(), at: Date.now() };
  for (let page = 1; page <= SCAN_MAX_PAGES; page++) {
    const answer = await gateway.call('reading the contacts', (s) =>
      // https://developer.xero.com/documentation/api/accounting/contacts#get-contacts
      s.xero.accountingApi.getContacts(s.tenantId, undefined, undefined, undefined, undefined, page, false, false, undefined, SCAN_PAGE),
    );
    const contacts = answer.contacts ?? [];
    for (const c of contacts) {
      if (c.contactNumber) dir.byNumber.set(c.contactNumber, c);
      const key = normalName(c.name);
      dir.byName.set(key, [...(dir.byName.get(key) ?? []), c]);
    }
    if (contacts.length < SCAN_PAGE) break;
  }
  return dir;
}

/** Active contacts whose `field` equals one of `values`, OR-ed in `where` clauses of ≤ 25. */
async function lookUp(gateway: XeroGateway, field: 'ContactNumber' | 'Name', values: string[]): Promise<Contact[]> {
  const out: Contact[] = [];
  const usable = values.filter((v) => v && !/"|\bOR\b|\bAND\b/i.test(v));
  for (let i = 0; i < usable.length; i += CONTACTS_PER_LOOKUP) {
    const where = usable.slice(i, i + CONTACTS_PER_LOOKUP).map((v) => `${field}=="${v.replace(/\\/g, '\\\\')}"`).join(' OR ');
    const answer = await gateway.call(`looking up contacts by ${field === 'Name' ? 'name' : 'number'}`, (s) =>
      // https://developer.xero.com/documentation/api/accounting/contacts#get-contacts
      // summaryOnly drops EmailAddress, which the name match compares: only number look-ups use it.
      s.xero.accountingApi.getContacts(s.tenantId, undefined, where, undefined, undefined, undefined, false, field === 'ContactNumber'),
    );
    out.push(...(answer.contacts ?? []));
  }
  // Values Xero's where syntax cannot carry (quotes, AND/OR words) are searched one by one.
  for (const v of values.filter((x) => x && !usable.includes(x))) {
    const answer = await gateway.call('searching a contact', (s) =>
      // https://developer.xero.com/documentation/api/accounting/contacts#get-contacts
      s.xero.accountingApi.getContacts(s.tenantId, undefined, undefined, undefined, undefined, undefined, false, false, v),
    );
    out.push(...(answer.contacts ?? []).filter((x) => (field === 'Name' ? sameName(x.name, v) : x.contactNumber === v)));
  }
  return out;
}

function sameName(a: string | undefined, b: string): boolean {
  return (a ?? '').trim().toLowerCase() === b.trim().toLowerCase();
}

function emailsAgree(xero: string | undefined, b24: string | null): boolean {
  if (!xero || !b24) return true;
  return xero.trim().toLowerCase() === b24.trim().toLowerCase();
}

