/**
 * The import's plan: what happens to each Xero contact and item — created in Bitrix24, linked to a matching record,
 * updated, skipped or failing with a reason — decided before anything is written (the preview), from the Bitrix24
 * directory and the links. Matching order: the link, then the Xero ContactNumber (`b24:company:12`) or item code, then
 * a record imported from Xero before (ORIGIN_ID), then the exact name or e-mail.
 */
import type { B24Customer, CustomerFields, RequisiteInput } from '../../bitrix/customers.js';
import { ADDRESS_TYPE, XERO_ORIGINATOR } from '../../bitrix/customers.js';
import type { B24Product } from '../../bitrix/catalog.js';
import type { Link } from '../../store/links.js';
import type { ImportDirectoryRepository } from '../../store/import-directory.js';
import type { ImportWhat, NewImportRecord } from '../../store/imports.js';
import type { XeroItem, XeroParty, XeroPerson } from '../../xero/contact-reader.js';
import { detailsOfParty, isPerson } from '../contacts/contact-details.js';
import { norm, sameDetails, type ContactDetails } from '../../domain/contact-details.js';

/** What a customer record carries to the writer. */
export interface CustomerPayload {
  fields: CustomerFields;
  requisite: RequisiteInput | null;
  /** The details both sides agree on once written (null for a company's people). */
  details: ContactDetails | null;
  contactNumber: string | null;
}

export interface ProductPayload {
  fields: Record<string, unknown>;
  price: { amount: number; currency: string } | null;
  code: string;
  /** `itemHash` of the item, kept on the link. */
  hash: string;
}

/**
 * The portal's companies, contacts and products, indexed for matching: kept in the store for one run (one page at a
 * time goes in while Bitrix24 is read), so memory stays flat whatever the portal holds.
 */
export class Directory {
  constructor(
    private readonly repo: ImportDirectoryRepository,
    private readonly runId: number,
  ) {}

  async addCustomers(list: B24Customer[]): Promise<void> {
    await this.repo.add(this.runId, list.map((c) => ({
      kind: c.kind, b24Id: c.id, data: c,
      keys: [['xero', c.xeroKey ?? ''], ['name', norm(c.name)], ...c.emails.map((e): [string, string] => ['email', norm(e)])],
    })));
  }

  async addProducts(list: B24Product[]): Promise<void> {
    await this.repo.add(this.runId, list.map((p) => ({ kind: 'product', b24Id: p.id, data: p, keys: [['code', p.xmlId], ['name', norm(p.name)]] })));
  }

  async customer(kind: 'company' | 'contact', id: string): Promise<B24Customer | undefined> { return await this.repo.get<B24Customer>(this.runId, kind, id); }
  async byXeroKey(kind: 'company' | 'contact', key: string): Promise<string | undefined> { return (await this.repo.find(this.runId, kind, 'xero', key, 1))[0]; }
  async byName(kind: 'company' | 'contact', name: string): Promise<string[]> { return await this.repo.find(this.runId, kind, 'name', norm(name)); }
  async byEmail(kind: 'company' | 'contact', email: string): Promise<string[]> { return await this.repo.find(this.runId, kind, 'email', norm(email)); }
  async product(id: string): Promise<B24Product | undefined> { return await this.repo.get<B24Product>(this.runId, 'product', id); }
  async productByCode(code: string): Promise<string | undefined> { return (await this.repo.find(this.runId, 'product', 'code', code, 1))[0]; }
  async productsByName(name: string): Promise<string[]> { return await this.repo.find(this.runId, 'product', 'name', norm(name)); }
  /**
   * True the first time this run plans a record of this kind with this name (duplicate names are told apart). The
   * claim is one statement (atomic in the store), so it spans no await.
   */
  async firstNamed(kind: 'company' | 'contact', name: string): Promise<boolean> { return await this.repo.claim(this.runId, `planned:${kind}`, 'name', norm(name)); }
  async clear(): Promise<void> { await this.repo.clear(this.runId); }
}

export interface PlanContext {
  what: ImportWhat[];
  includeArchived: boolean;
  directory: Directory;
  /** The link of a Xero object, if any (xero type, id). */
  linkOf(xeroType: 'contact' | 'contact_person' | 'item', xeroId: string): Promise<Link | undefined>;
  contactFieldsOf(link: Link): Promise<ContactDetails | null>;
  nextSeq(): number;
  catalog: { iblockId: number; vatByRate: Map<number, number>; accountPropertyId: number | null; taxRates: Map<string, number>; currency: string } | null;
}

/** The person key of a company's person: its e-mail, else its name (lower case). */
export function personKey(contactId: string, p: XeroPerson): string {
  return `${contactId}/${norm(p.email) || norm(`${p.firstName} ${p.lastName}`)}`;
}

const multi = (values: string[], type = 'WORK') => values.filter(Boolean).map((VALUE) => ({ VALUE, VALUE_TYPE: type }));
const phoneType = (t: string) => (t === 'MOBILE' ? 'MOBILE' : t === 'FAX' ? 'FAX' : 'WORK');

/** Only the multifield values the record does not have yet (an update must not duplicate them). */
function missingMulti(fields: CustomerFields, have: B24Customer | undefined): CustomerFields {
  if (!have) return fields;
  const out: CustomerFields = { ...fields };
  for (const [key, existing] of [['EMAIL', have.emails], ['PHONE', have.phones], ['WEB', have.webs]] as const) {
    const list = (out[key] as { VALUE: string }[] | undefined)?.filter((v) => !existing.some((e) => norm(e) === norm(v.VALUE)));
    if (list?.length) out[key] = list;
    else delete out[key];
  }
  return out;
}

/** Plans one Xero contact: a company (with its people) or a person. Returns the records in plan order. */
export async function planParty(p: XeroParty, ctx: PlanContext): Promise<NewImportRecord[]> {
  const wantsCompanies = ctx.what.includes('companies');
  const wantsContacts = ctx.what.includes('contacts');
  const person = isPerson(p) || (!p.name && Boolean(p.firstName || p.lastName));
  const kind: 'company' | 'contact' = person ? 'contact' : 'company';
  if (kind === 'company' ? !wantsCompanies : !wantsContacts) return [];
  const name = p.name || `${p.firstName} ${p.lastName}`.trim();
  const base = { b24Type: kind, xeroType: 'contact' as const, xeroId: p.contactId, name: name || '(no name)', parentSeq: null };
  const seq = ctx.nextSeq();
  if (!/[\p{L}\p{N}]/u.test(name)) return [{ ...base, seq, action: 'fail', b24Id: null, payload: null, reason: `The Xero contact has no usable name ("${name}"), so it cannot become a Bitrix24 record; give it a name in Xero.` }];
  if (p.status === 'ARCHIVED' && !ctx.includeArchived) return [{ ...base, seq, action: 'skip', b24Id: null, payload: null, reason: 'Archived in Xero (include archived contacts to import it).' }];
  if (p.status === 'GDPRREQUEST') return [{ ...base, seq, action: 'skip', b24Id: null, payload: null, reason: 'Xero holds a GDPR erasure request for this contact.' }];

  const details = detailsOfParty(p);
  const fields: CustomerFields = {
    ...(kind === 'company' ? { TITLE: name } : { NAME: p.firstName || name, LAST_NAME: p.firstName ? p.lastName : '' }),
    EMAIL: multi([p.email]),
    PHONE: p.phones.map((x) => ({ VALUE: x.number, VALUE_TYPE: phoneType(x.type) })),
    WEB: multi([p.website]),
    ORIGINATOR_ID: XERO_ORIGINATOR,
    ORIGIN_ID: p.contactId,
  };
  const requisite: RequisiteInput | null = p.taxNumber || p.addresses.length
    ? { name, taxNumber: p.taxNumber, addresses: uniqueTypes(p.addresses.map((a) => ({ typeId: ADDRESS_TYPE[a.type], line1: a.line1, line2: a.line2, city: a.city, region: a.region, postalCode: a.postalCode, country: a.country }))) }
    : null;
  const payload = (f: CustomerFields, rq: RequisiteInput | null): CustomerPayload => ({ fields: f, requisite: rq, details, contactNumber: p.contactNumber || null });

  const head = await (async (): Promise<NewImportRecord> => {
    // 1. the link
    const link = await ctx.linkOf('contact', p.contactId);
    if (link && link.b24Type === kind) {
      const have = await ctx.directory.customer(kind, link.b24Id);
      if (have) {
        if (sameDetails(await ctx.contactFieldsOf(link), details)) return { ...base, seq, action: 'skip', b24Id: link.b24Id, payload: null, reason: 'Already imported and unchanged.' };
        const { ORIGINATOR_ID: _o, ORIGIN_ID: _i, ...rest } = fields;
        return { ...base, seq, action: 'update', b24Id: link.b24Id, payload: payload(missingMulti(rest, have), null), reason: null };
      }
    }
    // duplicate names among the contacts of this import
    if (!(await ctx.directory.firstNamed(kind, name))) {
      return { ...base, seq, action: 'fail', b24Id: null, payload: null, reason: `Another Xero contact in this import is also named "${name}"; rename one of them in Xero so each Bitrix24 ${kind} can be told apart.` };
    }
    // 2. ContactNumber naming a Bitrix24 record (contacts the invoice push created), 3. ORIGIN_ID
    const numbered = /^b24:(company|contact):(\d+)$/.exec(p.contactNumber);
    const byNumber = numbered && numbered[1] === kind && (await ctx.directory.customer(kind, numbered[2]!)) ? numbered[2]! : undefined;
    const matched = byNumber ?? (await ctx.directory.byXeroKey(kind, p.contactId));
    if (matched) return { ...base, seq, action: 'link', b24Id: matched, payload: payload(missingMulti(fields, await ctx.directory.customer(kind, matched)), null), reason: null };
    // 4. exact name, then e-mail
    for (const [how, ids] of [['named', await ctx.directory.byName(kind, name)], ['with the e-mail address', await ctx.directory.byEmail(kind, p.email)]] as const) {
      if (ids.length === 1) return { ...base, seq, action: 'link', b24Id: ids[0]!, payload: payload(missingMulti(fields, await ctx.directory.customer(kind, ids[0]!)), null), reason: null };
      if (ids.length > 1) {
        return { ...base, seq, action: 'fail', b24Id: null, payload: null, reason: `${ids.length} Bitrix24 ${kind === 'company' ? 'companies' : 'contacts'} are ${how} "${how === 'named' ? name : p.email}" (ids ${ids.slice(0, 5).join(', ')}); merge them in Bitrix24, then import again.` };
      }
    }
    return { ...base, seq, action: 'create', b24Id: null, payload: payload(fields, requisite), reason: null };
  })();

  const out = [head];
  if (kind === 'company' && wantsContacts) out.push(...(await planPeople(p, head, ctx)));
  return out;
}

/** A company's people (its primary person and contact persons) as Bitrix24 contacts tied to it. */
async function planPeople(p: XeroParty, company: NewImportRecord, ctx: PlanContext): Promise<NewImportRecord[]> {
  const out: NewImportRecord[] = [];
  for (const x of peopleOf(p)) out.push(await planPerson(p, x, company, ctx));
  return out;
}

/** One of a company's people as a Bitrix24 contact tied to it. */
async function planPerson(p: XeroParty, x: XeroPerson, company: NewImportRecord, ctx: PlanContext): Promise<NewImportRecord> {
  const key = personKey(p.contactId, x);
  const name = `${x.firstName} ${x.lastName}`.trim() || x.email;
  const base = { b24Type: 'contact' as const, xeroType: 'contact_person' as const, xeroId: key, name, parentSeq: company.seq };
  const seq = ctx.nextSeq();
  if (company.action === 'fail' || company.action === 'skip' && !company.b24Id) {
    return { ...base, seq, action: 'fail' as const, b24Id: null, payload: null, reason: `Its company "${company.name}" is not imported: ${company.reason}` };
  }
  const fields: CustomerFields = { NAME: x.firstName || name, LAST_NAME: x.firstName ? x.lastName : '', EMAIL: multi([x.email]), ORIGINATOR_ID: XERO_ORIGINATOR, ORIGIN_ID: key };
  const personPayload = (f: CustomerFields): CustomerPayload => ({ fields: f, requisite: null, details: null, contactNumber: null });
  const link = await ctx.linkOf('contact_person', key);
  if (link && (await ctx.directory.customer('contact', link.b24Id))) return { ...base, seq, action: 'skip' as const, b24Id: link.b24Id, payload: null, reason: 'Already imported.' };
  const byKey = await ctx.directory.byXeroKey('contact', key);
  const byEmail = await ctx.directory.byEmail('contact', x.email);
  const matched = byKey ?? (byEmail.length === 1 ? byEmail[0] : undefined);
  if (matched) {
    const { ORIGINATOR_ID: _o, ORIGIN_ID: _i, NAME: _n, LAST_NAME: _l, ...rest } = fields;
    return { ...base, seq, action: 'link' as const, b24Id: matched, payload: personPayload(missingMulti(rest, await ctx.directory.customer('contact', matched))), reason: null };
  }
  return { ...base, seq, action: 'create' as const, b24Id: null, payload: personPayload(fields), reason: null };
}

/** A company's primary person and its contact persons, each once. */
function peopleOf(p: XeroParty): XeroPerson[] {
  const people: XeroPerson[] = [];
  if (p.firstName || p.lastName) people.push({ firstName: p.firstName, lastName: p.lastName, email: p.email });
  for (const x of p.persons) if (!people.some((y) => personKey('', y) === personKey('', x))) people.push(x);
  return people;
}

function uniqueTypes<T extends { typeId: number }>(list: T[]): T[] {
  return list.filter((a, i) => list.findIndex((b) => b.typeId === a.typeId) === i);
}

/** Plans one Xero item as a catalog product. */
export async function planItem(item: XeroItem, ctx: PlanContext): Promise<NewImportRecord> {
  const base = { b24Type: 'product' as const, xeroType: 'item' as const, xeroId: item.itemId, name: item.name || item.code || '(no name)', parentSeq: null };
  const seq = ctx.nextSeq();
  if (!item.code) return { ...base, seq, action: 'fail', b24Id: null, payload: null, reason: 'The Xero item has no code, so invoice lines could not name it.' };
  if (!ctx.catalog) return { ...base, seq, action: 'fail', b24Id: null, payload: null, reason: 'The portal has no product catalog.' };
  const c = ctx.catalog;
  const rate = item.taxType ? c.taxRates.get(item.taxType) : undefined;
  const vatId = rate === undefined ? undefined : c.vatByRate.get(rate);
  const fields: Record<string, unknown> = {
    iblockId: c.iblockId, name: item.name || item.code, xmlId: item.code, previewText: item.description || null,
    ...(vatId !== undefined ? { vatId, vatIncluded: 'N' } : {}),
    ...(c.accountPropertyId && item.salesAccount ? { [`property${c.accountPropertyId}`]: { value: item.salesAccount } } : {}),
  };
  const payload: ProductPayload = { fields, price: item.salePrice === null ? null : { amount: item.salePrice, currency: c.currency }, code: item.code, hash: itemHash(item) };
  const link = await ctx.linkOf('item', item.itemId);
  if (link && (await ctx.directory.product(link.b24Id))) {
    if (link.contentHash === itemHash(item)) return { ...base, seq, action: 'skip', b24Id: link.b24Id, payload: null, reason: 'Already imported and unchanged.' };
    const { iblockId: _i, ...rest } = fields;
    return { ...base, seq, action: 'update', b24Id: link.b24Id, payload: { ...payload, fields: rest, price: null }, reason: null };
  }
  const byCode = await ctx.directory.productByCode(item.code);
  const byName = await ctx.directory.productsByName(item.name);
  const matched = byCode ?? (byName.length === 1 ? byName[0] : undefined);
  if (!byCode && byName.length > 1) {
    return { ...base, seq, action: 'fail', b24Id: null, payload: null, reason: `${byName.length} Bitrix24 products are named "${item.name}"; give the right one the external code ${item.code}, then import again.` };
  }
  if (matched) {
    const { iblockId: _i, ...rest } = fields;
    return { ...base, seq, action: 'link', b24Id: matched, payload: { ...payload, fields: rest, price: null }, reason: null };
  }
  return { ...base, seq, action: 'create', b24Id: null, payload, reason: null };
}

/** What of an item the product mirrors: a change makes the next import update the product. */
export function itemHash(i: XeroItem): string {
  return JSON.stringify([i.code, i.name, i.description, i.salePrice, i.salesAccount, i.taxType]);
}
