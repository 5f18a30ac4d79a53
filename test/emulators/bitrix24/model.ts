/**
 * The CRM object model of the emulated portal: entity types, system fields, stages, user-field names.
 * Sources: docs/reference/bitrix24.md#crm-object-types (object model), docs/reference/bitrix24.md#crm-items (smart-invoice fields,
 * camelCase conversion of user fields), docs/reference/bitrix24.md#stages (stages and SEMANTICS), docs/reference/bitrix24.md#user-fields;
 * docs/reference/bitrix24.md#crm-items (field metadata shape, fixture
 * rest.crm.item.fields.response.json); docs/reference/bitrix24.md#stages (QUOTE_STATUS, SMART_INVOICE_STAGE_n).
 */

export const SMART_INVOICE = 31;
export const QUOTE = 7;
export const CONTACT = 3;
export const COMPANY = 4;
export const CLASSIC_INVOICE = 5;

export interface FieldDef {
  key: string;
  upper: string;
  type: string;
  title: string;
  readOnly?: boolean;
  multiple?: boolean;
  required?: boolean;
}

const f = (key: string, upper: string, type: string, title: string, extra: Partial<FieldDef> = {}): FieldDef => ({ key, upper, type, title, ...extra });

const COMMON: FieldDef[] = [
  f('id', 'ID', 'integer', 'ID', { readOnly: true }),
  f('xmlId', 'XML_ID', 'string', 'External code'),
  f('createdTime', 'CREATED_TIME', 'datetime', 'Created at', { readOnly: true }),
  f('updatedTime', 'UPDATED_TIME', 'datetime', 'Modified on', { readOnly: true }),
  f('createdBy', 'CREATED_BY', 'user', 'Created by', { readOnly: true }),
  f('updatedBy', 'UPDATED_BY', 'user', 'Modified by', { readOnly: true }),
  f('assignedById', 'ASSIGNED_BY_ID', 'user', 'Responsible person'),
  f('opened', 'OPENED', 'boolean', 'Available to everyone'),
  f('comments', 'COMMENTS', 'text', 'Comment'),
];

/** External-source keys of companies and contacts (fixture rest.crm.company.get.response.json: ORIGINATOR_ID, ORIGIN_ID). */
const ORIGIN: FieldDef[] = [
  f('originatorId', 'ORIGINATOR_ID', 'string', 'External source'),
  f('originId', 'ORIGIN_ID', 'string', 'Item ID in data source'),
];

const MONEY: FieldDef[] = [
  f('opportunity', 'OPPORTUNITY', 'double', 'Amount'),
  f('isManualOpportunity', 'IS_MANUAL_OPPORTUNITY', 'char', 'Manual amount calculation mode'),
  f('taxValue', 'TAX_VALUE', 'double', 'Tax amount'),
  f('currencyId', 'CURRENCY_ID', 'crm_currency', 'Currency'),
];

const CLIENT: FieldDef[] = [
  f('companyId', 'COMPANY_ID', 'crm_company', 'Company'),
  f('contactId', 'CONTACT_ID', 'crm_contact', 'Contact'),
  f('contactIds', 'CONTACT_IDS', 'crm_contact', 'Contacts', { multiple: true }),
  f('mycompanyId', 'MYCOMPANY_ID', 'crm_company', 'Your company details'),
];

const STAGE: FieldDef[] = [
  f('stageId', 'STAGE_ID', 'crm_status', 'Stage'),
  f('previousStageId', 'PREVIOUS_STAGE_ID', 'crm_status', 'Previous stage', { readOnly: true }),
  f('stageSemanticId', 'STAGE_SEMANTIC_ID', 'string', 'Stage semantics', { readOnly: true }),
  f('movedBy', 'MOVED_BY', 'user', 'Moved by', { readOnly: true }),
  f('movedTime', 'MOVED_TIME', 'datetime', 'Moved on', { readOnly: true }),
];

/** System fields per entity type (camelCase key ↔ UPPER name). Source: docs/reference/bitrix24.md#crm-object-types; docs/reference/bitrix24.md#crm-items. */
export const SYSTEM_FIELDS: Record<number, FieldDef[]> = {
  [SMART_INVOICE]: [
    ...COMMON,
    f('title', 'TITLE', 'string', 'Name'),
    f('categoryId', 'CATEGORY_ID', 'crm_category', 'Pipeline'),
    ...STAGE,
    f('begindate', 'BEGINDATE', 'date', 'Invoice date'),
    f('closedate', 'CLOSEDATE', 'date', 'Due date'),
    ...CLIENT,
    ...MONEY,
    f('sourceId', 'SOURCE_ID', 'crm_status', 'Source'),
    f('sourceDescription', 'SOURCE_DESCRIPTION', 'text', 'Source information'),
    f('accountNumber', 'ACCOUNT_NUMBER', 'string', 'Invoice #'),
    f('locationId', 'LOCATION_ID', 'location', 'Location'),
    f('observers', 'OBSERVERS', 'user', 'Observers', { multiple: true }),
    f('parentId2', 'PARENT_ID_2', 'crm_entity', 'Deal'),
    f('parentId7', 'PARENT_ID_7', 'crm_entity', 'Estimate'),
  ],
  [QUOTE]: [
    ...COMMON,
    f('title', 'TITLE', 'string', 'Name'),
    ...STAGE,
    f('quoteNumber', 'QUOTE_NUMBER', 'string', 'Estimate #'),
    f('begindate', 'BEGINDATE', 'date', 'Created on'),
    f('closedate', 'CLOSEDATE', 'date', 'Expiration date'),
    f('actualDate', 'ACTUAL_DATE', 'date', 'Valid until'),
    ...CLIENT,
    ...MONEY,
    f('content', 'CONTENT', 'text', 'Content'),
    f('terms', 'TERMS', 'text', 'Terms'),
    f('dealId', 'DEAL_ID', 'crm_deal', 'Deal'),
    f('leadId', 'LEAD_ID', 'crm_lead', 'Lead'),
    f('closed', 'CLOSED', 'boolean', 'Closed'),
  ],
  [COMPANY]: [
    ...COMMON,
    f('title', 'TITLE', 'string', 'Company name', { required: true }),
    f('companyTypeId', 'COMPANY_TYPE', 'crm_status', 'Company type'),
    f('industry', 'INDUSTRY', 'crm_status', 'Industry'),
    f('revenue', 'REVENUE', 'double', 'Annual revenue'),
    f('currencyId', 'CURRENCY_ID', 'crm_currency', 'Currency'),
    f('isMyCompany', 'IS_MY_COMPANY', 'boolean', 'My company'),
    f('contactIds', 'CONTACT_IDS', 'crm_contact', 'Contacts', { multiple: true }),
    ...ORIGIN,
    f('fm', 'FM', 'crm_multifield', 'Multifields', { multiple: true }),
  ],
  [CONTACT]: [
    ...COMMON,
    f('name', 'NAME', 'string', 'First name'),
    f('lastName', 'LAST_NAME', 'string', 'Last name'),
    f('secondName', 'SECOND_NAME', 'string', 'Second name'),
    f('honorific', 'HONORIFIC', 'crm_status', 'Salutation'),
    f('post', 'POST', 'string', 'Position'),
    f('companyId', 'COMPANY_ID', 'crm_company', 'Company'),
    f('companyIds', 'COMPANY_IDS', 'crm_company', 'Companies', { multiple: true }),
    ...ORIGIN,
    f('fm', 'FM', 'crm_multifield', 'Multifields', { multiple: true }),
  ],
};

export const ENTITY_LABEL: Record<number, string> = { [SMART_INVOICE]: 'Invoice', [QUOTE]: 'Estimate', [COMPANY]: 'Company', [CONTACT]: 'Contact' };

/** Product-row owner type codes. Source: docs/reference/bitrix24.md#crm-object-types table. */
export const OWNER_TYPE: Record<number, string> = { [SMART_INVOICE]: 'SI', [QUOTE]: 'Q', [CONTACT]: 'C', [COMPANY]: 'CO', 2: 'D' };
export const OWNER_TYPE_TO_ENTITY: Record<string, number> = { SI: SMART_INVOICE, Q: QUOTE, C: CONTACT, CO: COMPANY, D: 2 };

/** User-field `entityId` per entity type. Source: docs/reference/bitrix24.md#crm-object-types table, docs/reference/bitrix24.md#user-fields. */
export const UF_ENTITY: Record<string, number> = {
  CRM_SMART_INVOICE: SMART_INVOICE,
  CRM_QUOTE: QUOTE,
  CRM_CONTACT: CONTACT,
  CRM_COMPANY: COMPANY,
  CRM_INVOICE: CLASSIC_INVOICE,
  CRM_DEAL: 2,
};

/**
 * camelCase name `crm.item.*` uses for a `UF_CRM_…` field.
 * Source: docs/reference/bitrix24.md#crm-items: regular conversion when only digits or only letters follow the prefix
 * (`UF_CRM_10_DIGIT` → `ufCrm10Digit`, `UF_CRM_3_1747309727` → `ufCrm3_1747309727`); simplified conversion for
 * mixed names (`UF_CRM_3_DIGIT10` → `ufCrm_3_DIGIT10`, `UF_CRM_1747309879` → `ufCrm_1747309879`,
 * third-party `UF_CRM_SMART_INVOICE_1735207439444` → `ufCrm_SMART_INVOICE_1735207439444`). All-letter names such
 * as `UF_CRM_SMART_INVOICE_XERO_ID` therefore convert regularly (`ufCrmSmartInvoiceXeroId`) — unverified on a
 * real portal; clients must read the key from `crm.item.fields` (`upperName`) or pass `useOriginalUfNames: 'Y'`.
 */
export function ufCamelName(upper: string): string {
  const rest = upper.replace(/^UF_CRM_/, '');
  if (rest === upper) return upper;
  const segs = rest.split('_');
  const digitsThenDigits = /^\d+_\d+$/.test(rest);
  if (digitsThenDigits) return `ufCrm${segs[0]}_${segs[1]}`;
  const isLetters = (s: string) => /^[A-Z]+$/.test(s);
  const isDigits = (s: string) => /^\d+$/.test(s);
  const regular =
    segs.length > 0 &&
    segs.every((s) => isLetters(s) || isDigits(s)) &&
    segs.some(isLetters) &&
    // digits may only lead (entity-type id), the rest are words
    segs.slice(1).every(isLetters);
  if (regular) return 'ufCrm' + segs.map((s) => (isDigits(s) ? s : s[0] + s.slice(1).toLowerCase())).join('');
  return `ufCrm_${rest}`;
}

/** Stage semantics → `stageSemanticId`. Source: docs/reference/bitrix24.md#stages; docs/reference/bitrix24.md#crm-items (stageSemanticId "P"). */
export function semanticId(semantics: string | null | undefined): 'P' | 'S' | 'F' {
  return semantics === 'S' ? 'S' : semantics === 'F' ? 'F' : 'P';
}
