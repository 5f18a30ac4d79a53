/**
 * Bitrix24 companies and contacts as the import and the contact sync need them: a compact directory of what the
 * portal holds (for matching), the batch commands that write companies, contacts, requisites and addresses, and the
 * read and the update of one record's contact details (the contact sync). Legacy `crm.company.*` / `crm.contact.*` methods are used because their
 * PHONE/EMAIL/WEB multifields and ORIGINATOR_ID/ORIGIN_ID keys are documented for add, update and list.
 * https://apidocs.bitrix24.com/api-reference/crm/companies/index.html
 * https://apidocs.bitrix24.com/api-reference/crm/contacts/index.html
 */
import { z } from 'zod';
import { AppError } from '../errors.js';
import { addressFromText, type ContactDetails, type DetailField } from '../domain/contact-details.js';
import { limitOf, type BatchCalls, type PortalClient } from './portal-client.js';
import { ENTITY_TYPE } from './entity-types.js';

/** ORIGINATOR_ID of records the connector imported from Xero; ORIGIN_ID then holds the Xero key. */
export const XERO_ORIGINATOR = 'xero';

/** Bitrix24 address types (crm.enum.addresstype): 1 actual, 6 legal. Xero STREET → actual, POBOX → legal (postal). */
export const ADDRESS_TYPE = { STREET: 1, POBOX: 6 } as const;

/** The requisite preset "Organization" every portal has (crm.requisite.preset.list, id 1). */
export const ORGANIZATION_PRESET_ID = 1;

const multi = z.array(z.object({ ID: z.coerce.string().optional(), VALUE: z.coerce.string().optional(), VALUE_TYPE: z.string().optional() })).optional();

const companyRow = z.object({
  ID: z.coerce.string(), TITLE: z.string().nullish(), EMAIL: multi, PHONE: multi, WEB: multi,
  ORIGINATOR_ID: z.string().nullish(), ORIGIN_ID: z.string().nullish(),
});
const contactRow = z.object({
  ID: z.coerce.string(), NAME: z.string().nullish(), LAST_NAME: z.string().nullish(), EMAIL: multi, PHONE: multi, WEB: multi,
  COMPANY_ID: z.coerce.string().nullish(), ORIGINATOR_ID: z.string().nullish(), ORIGIN_ID: z.string().nullish(),
});

export interface B24Customer {
  kind: 'company' | 'contact';
  id: string;
  name: string;
  emails: string[];
  phones: string[];
  webs: string[];
  companyId: string | null;
  /** The Xero key this record was imported from (ORIGIN_ID with ORIGINATOR_ID "xero"). */
  xeroKey: string | null;
}

export type Multi = { ID?: string; VALUE?: string; VALUE_TYPE?: string }[] | undefined;
const values = (m: Multi) => (m ?? []).map((x) => (x.VALUE ?? '').trim()).filter(Boolean);

export function customerOf(kind: 'company' | 'contact', raw: unknown): B24Customer {
  if (kind === 'company') {
    const c = companyRow.parse(raw);
    return { kind, id: c.ID, name: (c.TITLE ?? '').trim(), emails: values(c.EMAIL), phones: values(c.PHONE), webs: values(c.WEB), companyId: null, xeroKey: c.ORIGINATOR_ID === XERO_ORIGINATOR ? c.ORIGIN_ID ?? null : null };
  }
  const c = contactRow.parse(raw);
  const name = [c.NAME, c.LAST_NAME].map((x) => (x ?? '').trim()).filter(Boolean).join(' ');
  const companyId = c.COMPANY_ID && c.COMPANY_ID !== '0' ? c.COMPANY_ID : null;
  return { kind, id: c.ID, name, emails: values(c.EMAIL), phones: values(c.PHONE), webs: values(c.WEB), companyId, xeroKey: c.ORIGINATOR_ID === XERO_ORIGINATOR ? c.ORIGIN_ID ?? null : null };
}

const SELECT = {
  company: ['ID', 'TITLE', 'EMAIL', 'PHONE', 'WEB', 'ORIGINATOR_ID', 'ORIGIN_ID'],
  contact: ['ID', 'NAME', 'LAST_NAME', 'EMAIL', 'PHONE', 'WEB', 'COMPANY_ID', 'ORIGINATOR_ID', 'ORIGIN_ID'],
};

/** Every company or contact of the portal in the directory's compact form, one page of 50 at a time (50 pages per call). */
export async function* customerPages(client: PortalClient, kind: 'company' | 'contact'): AsyncGenerator<B24Customer[]> {
  // https://apidocs.bitrix24.com/api-reference/crm/companies/crm-company-list.html (keyset paging, docs/reference/bitrix24.md#lists-and-paging)
  for await (const rows of client.pages(`crm.${kind}.list`, { select: SELECT[kind] }, { idKey: 'ID' })) yield rows.map((r) => customerOf(kind, r));
}

/** Records imported from Xero with these keys (ORIGIN_ID), e.g. to heal a write whose answer was lost. */
export async function findByXeroKeys(client: PortalClient, kind: 'company' | 'contact', keys: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (let i = 0; i < keys.length; i += 50) {
    // https://apidocs.bitrix24.com/api-reference/crm/companies/crm-company-list.html (filter "@ORIGIN_ID": in list)
    const rows = await client.list(`crm.${kind}.list`, { filter: { ORIGINATOR_ID: XERO_ORIGINATOR, '@ORIGIN_ID': keys.slice(i, i + 50) }, select: ['ID', 'ORIGIN_ID'] }, { idKey: 'ID' });
    for (const r of rows as { ID: string | number; ORIGIN_ID?: string }[]) if (r.ORIGIN_ID) out.set(r.ORIGIN_ID, String(r.ID));
  }
  return out;
}

/** Fields of one company or contact to write (legacy UPPER_CASE names). */
export type CustomerFields = Record<string, unknown>;

export interface RequisiteInput {
  name: string;
  taxNumber: string;
  addresses: { typeId: number; line1: string; line2: string; city: string; region: string; postalCode: string; country: string }[];
}

/**
 * The batch commands that create what of one company or contact Bitrix24 does not hold yet: the record (key `k`),
 * its requisite (`${k}_rq`) and an address per type (`${k}_a${type}`). A part already `written` is not sent again and
 * its id stands where `$result[…]` would name it (docs/reference/bitrix24.md#batch: `$result[key]` names an earlier command's result).
 */
export function createCommands(k: string, kind: 'company' | 'contact', fields: CustomerFields, requisite: RequisiteInput | null, written: Record<string, string> = {}): BatchCalls {
  const out: BatchCalls = {};
  // https://apidocs.bitrix24.com/api-reference/crm/companies/crm-company-add.html, .../contacts/crm-contact-add.html
  if (!written.main) out[k] = [`crm.${kind}.add`, { fields, params: { REGISTER_SONET_EVENT: 'N' } }];
  if (!requisite) return out;
  const owner = written.main ?? `$result[${k}]`;
  if (!written.rq) {
    // https://apidocs.bitrix24.com/api-reference/crm/requisites/universal/crm-requisite-add.html
    out[`${k}_rq`] = ['crm.requisite.add', { fields: {
      ENTITY_TYPE_ID: ENTITY_TYPE[kind], ENTITY_ID: owner, PRESET_ID: ORGANIZATION_PRESET_ID, NAME: requisite.name,
      ...(kind === 'company' ? { RQ_COMPANY_NAME: requisite.name } : {}), ...(requisite.taxNumber ? { RQ_VAT_ID: requisite.taxNumber } : {}),
    } }];
  }
  const rq = written.rq ?? `$result[${k}_rq]`;
  for (const a of requisite.addresses) {
    if (written[`a${a.typeId}`]) continue;
    // https://apidocs.bitrix24.com/api-reference/crm/requisites/addresses/crm-address-add.html
    out[`${k}_a${a.typeId}`] = ['crm.address.add', { fields: {
      TYPE_ID: a.typeId, ENTITY_TYPE_ID: ENTITY_TYPE.requisite, ENTITY_ID: rq, ADDRESS_1: a.line1, ADDRESS_2: a.line2, CITY: a.city,
      REGION: a.region, PROVINCE: a.region, POSTAL_CODE: a.postalCode, COUNTRY: a.country,
    } }];
  }
  return out;
}


/** The requisite each of these companies or contacts holds (its first, by ID): owner id → requisite id. */
export async function findRequisites(client: PortalClient, kind: 'company' | 'contact', ownerIds: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (let i = 0; i < ownerIds.length; i += 50) {
    // https://apidocs.bitrix24.com/api-reference/crm/requisites/universal/crm-requisite-list.html ("@" = IN)
    const rows = await client.list<{ ID: string | number; ENTITY_ID: string | number }>(
      'crm.requisite.list', { filter: { ENTITY_TYPE_ID: ENTITY_TYPE[kind], '@ENTITY_ID': ownerIds.slice(i, i + 50) }, select: ['ID', 'ENTITY_ID'] }, { idKey: 'ID' },
    );
    for (const r of rows) if (!out.has(String(r.ENTITY_ID))) out.set(String(r.ENTITY_ID), String(r.ID));
  }
  return out;
}

/** The address types each of these requisites holds: requisite id → TYPE_IDs. */
export async function findAddresses(client: PortalClient, requisiteIds: string[]): Promise<Map<string, Set<number>>> {
  const out = new Map<string, Set<number>>();
  for (let i = 0; i < requisiteIds.length; i += 50) {
    // https://apidocs.bitrix24.com/api-reference/crm/requisites/addresses/crm-address-list.html: addresses have no ID
    // (their key is type, owner type, owner), so the list is paged by `start` (50 a page, `next`).
    for (let start: number | undefined = 0; start !== undefined;) {
      const page: { result: unknown; next?: number } = await client.callRaw('crm.address.list', {
        filter: { ENTITY_TYPE_ID: ENTITY_TYPE.requisite, '@ENTITY_ID': requisiteIds.slice(i, i + 50) }, select: ['TYPE_ID', 'ENTITY_ID'], start,
      }, { idempotent: true });
      for (const a of (page.result ?? []) as { TYPE_ID: string | number; ENTITY_ID: string | number }[]) {
        const types = out.get(String(a.ENTITY_ID)) ?? new Set<number>();
        out.set(String(a.ENTITY_ID), types.add(Number(a.TYPE_ID)));
      }
      start = page.next;
    }
  }
  return out;
}

/** The batch command that updates one company or contact. */
export function updateCommand(kind: 'company' | 'contact', id: string, fields: CustomerFields): [string, Record<string, unknown>] {
  // https://apidocs.bitrix24.com/api-reference/crm/companies/crm-company-update.html
  return [`crm.${kind}.update`, { id, fields, params: { REGISTER_SONET_EVENT: 'N' } }];
}

/** One record's details as the contact sync compares them, with its requisite's tax number and address. */
export interface B24Details {
  customer: B24Customer;
  /** Raw multifields, to change a value in place by its ID. */
  multi: { EMAIL: Multi; PHONE: Multi; WEB: Multi };
  requisiteId: string | null;
  taxNumber: string;
  address: { typeId: number; line1: string; line2: string; city: string; region: string; postalCode: string; country: string } | null;
}

/** Reads companies/contacts with their first requisite and its address: one batch per 16 records. */
export async function readDetails(client: PortalClient, refs: { kind: 'company' | 'contact'; id: string }[]): Promise<Map<string, B24Details>> {
  const out = new Map<string, B24Details>();
  for (let i = 0; i < refs.length; i += 16) {
    const chunk = refs.slice(i, i + 16);
    const calls: Record<string, [string, Record<string, unknown>]> = {};
    chunk.forEach((r, n) => {
      // https://apidocs.bitrix24.com/api-reference/crm/companies/crm-company-get.html
      calls[`g${n}`] = [`crm.${r.kind}.get`, { id: r.id }];
      // https://apidocs.bitrix24.com/api-reference/crm/requisites/universal/crm-requisite-list.html
      calls[`r${n}`] = ['crm.requisite.list', { filter: { ENTITY_TYPE_ID: ENTITY_TYPE[r.kind], ENTITY_ID: r.id }, select: ['ID', 'RQ_VAT_ID'], order: { ID: 'ASC' } }];
      // https://apidocs.bitrix24.com/api-reference/crm/requisites/addresses/crm-address-list.html
      calls[`a${n}`] = ['crm.address.list', { filter: { ENTITY_TYPE_ID: ENTITY_TYPE.requisite, ENTITY_ID: `$result[r${n}][0][ID]` } }];
    });
    const answer = await client.batch(calls);
    // A record not read for the operating time limit waits with its job (not a record deleted).
    limitOf(answer);
    const { results, errors } = answer;
    chunk.forEach((r, n) => {
      // No answer at all is a read that did not happen (docs/reference/bitrix24.md#batch), never a record deleted: the caller's job retries.
      if (!(`g${n}` in results) && errors[`g${n}`] === undefined) {
        throw new AppError('B24.NO_ANSWER', `Bitrix24 gave no answer for the ${r.kind} ${r.id}; it will be read again.`, 502);
      }
      const raw = results[`g${n}`] as Record<string, unknown> | undefined;
      if (!raw) return;
      const rq = ((results[`r${n}`] as { ID: string | number; RQ_VAT_ID?: string }[] | undefined) ?? [])[0];
      const addresses = rq ? ((results[`a${n}`] as Record<string, unknown>[] | undefined) ?? []) : [];
      const a = addresses.find((x) => Number(x.TYPE_ID) === ADDRESS_TYPE.STREET) ?? addresses[0];
      const s = (v: unknown) => (v === null || v === undefined ? '' : String(v).trim());
      out.set(`${r.kind}:${r.id}`, {
        customer: customerOf(r.kind, raw),
        multi: { EMAIL: raw.EMAIL as Multi, PHONE: raw.PHONE as Multi, WEB: raw.WEB as Multi },
        requisiteId: rq ? String(rq.ID) : null,
        taxNumber: s(rq?.RQ_VAT_ID),
        address: a ? { typeId: Number(a.TYPE_ID), line1: s(a.ADDRESS_1), line2: s(a.ADDRESS_2), city: s(a.CITY), region: s(a.REGION ?? a.PROVINCE), postalCode: s(a.POSTAL_CODE), country: s(a.COUNTRY) } : null,
      });
    });
  }
  return out;
}

/**
 * The batch commands that bring one record's changed fields to the given details (the contact sync's pull): the
 * record (key `k`; multifields changed in place by their ID), its requisite's tax number (`${k}_rq`, the requisite
 * added when it has none) and its address (`${k}_addr`).
 */
export function detailsUpdateCommands(k: string, kind: 'company' | 'contact', d: B24Details, x: ContactDetails, changed: DetailField[]): BatchCalls {
  const fields: Record<string, unknown> = {};
  const replace = (type: 'EMAIL' | 'PHONE' | 'WEB', value: string) => {
    const first = (d.multi[type] as NonNullable<Multi> | undefined)?.[0];
    fields[type] = first?.ID ? [{ ID: first.ID, VALUE: value }] : value ? [{ VALUE: value, VALUE_TYPE: 'WORK' }] : [];
  };
  if (changed.includes('name')) {
    if (kind === 'company') fields.TITLE = x.name;
    else {
      const [first, ...rest] = x.name.split(' ');
      Object.assign(fields, { NAME: first, LAST_NAME: rest.join(' ') });
    }
  }
  if (changed.includes('email')) replace('EMAIL', x.email);
  if (changed.includes('phone')) replace('PHONE', x.phone);
  if (changed.includes('website')) replace('WEB', x.website);
  const out: BatchCalls = {};
  if (Object.keys(fields).length) out[k] = updateCommand(kind, d.customer.id, fields);
  const wantsRq = changed.includes('taxNumber') || changed.includes('address');
  if (wantsRq) {
    const rqRef = d.requisiteId ?? `$result[${k}_rq]`;
    if (d.requisiteId) {
      // https://apidocs.bitrix24.com/api-reference/crm/requisites/universal/crm-requisite-update.html
      if (changed.includes('taxNumber')) out[`${k}_rq`] = ['crm.requisite.update', { id: d.requisiteId, fields: { RQ_VAT_ID: x.taxNumber } }];
    } else {
      // https://apidocs.bitrix24.com/api-reference/crm/requisites/universal/crm-requisite-add.html
      out[`${k}_rq`] = ['crm.requisite.add', { fields: { ENTITY_TYPE_ID: ENTITY_TYPE[kind], ENTITY_ID: d.customer.id, PRESET_ID: ORGANIZATION_PRESET_ID, NAME: x.name || d.customer.name, RQ_VAT_ID: x.taxNumber } }];
    }
    const a = addressFromText(x.address);
    if (changed.includes('address') && a) {
      const typeId = d.address?.typeId ?? ADDRESS_TYPE.STREET;
      // https://apidocs.bitrix24.com/api-reference/crm/requisites/addresses/crm-address-update.html (…-add.html)
      out[`${k}_addr`] = [d.address ? 'crm.address.update' : 'crm.address.add', { fields: {
        TYPE_ID: typeId, ENTITY_TYPE_ID: ENTITY_TYPE.requisite, ENTITY_ID: rqRef, ADDRESS_1: a.line1, ADDRESS_2: a.line2, CITY: a.city, REGION: a.region, PROVINCE: a.region, POSTAL_CODE: a.postalCode, COUNTRY: a.country,
      } }];
    }
  }
  return out;
}
