/**
 * What the connector sets up in a portal, and how it does so idempotently: read what exists in one batch,
 * then add only what is missing. "Already exists" answers count as success (a concurrent install, or a
 * binding the portal kept). Bindings are dropped by Bitrix24 on every app update, so this runs again then.
 */
import type { Manifest } from '../manifest.js';
import type { BatchCalls, PortalClient } from './portal-client.js';
import { FIELD_PREFIX, SYNC_FIELDS } from './sync-fields.js';

/** Document events, bound online (fast path) and offline (nothing lost). Source: docs/reference/bitrix24.md#events. */
export const DOCUMENT_EVENTS = [
  'ONCRMINVOICEADD', 'ONCRMINVOICEUPDATE', 'ONCRMINVOICESETSTATUS', 'ONCRMINVOICEDELETE',
  'ONCRMDYNAMICITEMADD', 'ONCRMDYNAMICITEMUPDATE', 'ONCRMDYNAMICITEMDELETE',
  'ONCRMQUOTEADD', 'ONCRMQUOTEUPDATE', 'ONCRMQUOTEDELETE',
  // Linked companies and contacts are kept in step with their Xero contacts.
  'ONCRMCOMPANYUPDATE', 'ONCRMCONTACTUPDATE',
] as const;

/** App lifecycle events, online only. ONOFFLINEEVENT pings when the offline queue has new records. */
export const LIFECYCLE_EVENTS = ['ONAPPUPDATE', 'ONAPPUNINSTALL', 'ONOFFLINEEVENT'] as const;

/** Placements the connector shows, in the order tried; each is bound only if the portal offers it. */
export const CARD_PLACEMENTS = ['CRM_SMART_INVOICE_DETAIL_TAB', 'CRM_QUOTE_DETAIL_TAB', 'CRM_INVOICE_DETAIL_TAB'] as const;

/**
 * "Import from Xero" above the company and contact lists (a dropdown item of the list toolbar; the handler gets no
 * PLACEMENT_OPTIONS). Source: https://apidocs.bitrix24.com/api-reference/widgets/crm/list-toolbar.html
 */
export const IMPORT_PLACEMENTS = ['CRM_COMPANY_LIST_TOOLBAR', 'CRM_CONTACT_LIST_TOOLBAR'] as const;

/** Title and description of each placement bound (Bitrix24 shows the title as the tab or menu item). */
const PLACEMENT_LABELS: Record<string, { title: string; description: string }> = {
  ...Object.fromEntries(CARD_PLACEMENTS.map((c) => [c, { title: 'Xero', description: 'Xero status and actions' }])),
  ...Object.fromEntries(IMPORT_PLACEMENTS.map((c) => [c, { title: 'Import from Xero', description: 'Import companies, contacts and products from Xero' }])),
};

/** Smart invoice and quote field owners for `userfieldconfig.add`. */
export const FIELD_OWNERS = [
  { entityId: 'CRM_SMART_INVOICE', prefix: FIELD_PREFIX.smart_invoice },
  { entityId: 'CRM_QUOTE', prefix: FIELD_PREFIX.quote },
] as const;

/**
 * The connector's `auth_connector` key: its own REST writes carry it, so they stay out of its offline queue
 * (docs/reference/bitrix24.md#events). Offline bindings and `event.offline.get` use the same key.
 */
export const AUTH_CONNECTOR = 'xero_connector';

/** Catalog product property holding the Xero sales account (GL code) of a product. */
export const ACCOUNT_CODE_PROPERTY = { code: 'XERO_ACCOUNT_CODE', name: 'Xero sales account' } as const;

/** Automation trigger fired when Xero says an invoice is paid. */
export const PAID_TRIGGER = { code: 'xero_paid', name: 'Paid in Xero' } as const;

export interface SetupReport {
  added: string[];
  alreadyThere: string[];
  /** Placement codes of the manifest that the portal does not offer. */
  unavailablePlacements: string[];
  productPropertyId: number | null;
  /** Failures that did not stop the set-up, in words. */
  problems: string[];
}

const EXISTS = /EXIST|already|duplicate/i;

interface EventBinding {
  event: string;
  handler?: string;
  event_type?: string;
  offline?: number | string;
}

/** Binds events, placements, user fields, the GL property and the trigger; adds only what is missing. */
export async function setUpPortal(client: PortalClient, manifest: Manifest, publicUrl: string): Promise<SetupReport> {
  const report: SetupReport = { added: [], alreadyThere: [], unavailablePlacements: [], productPropertyId: null, problems: [] };
  const eventHandler = `${publicUrl}${manifest.events.ONCRMDYNAMICITEMADD ?? '/events'}`;

  // 1. What is there already, in one round trip.
  // https://apidocs.bitrix24.com/api-reference/events/event-get.html, .../widgets/placement-get.html,
  // .../crm/universal/userfieldconfig/userfieldconfig-list.html, .../catalog/catalog/catalog-catalog-list.html
  const read = await client.batch({
    events: ['event.get', {}],
    placements: ['placement.get', {}],
    offered: ['placement.list', {}],
    invoiceFields: ['userfieldconfig.list', { moduleId: 'crm', filter: { entityId: 'CRM_SMART_INVOICE' } }],
    quoteFields: ['userfieldconfig.list', { moduleId: 'crm', filter: { entityId: 'CRM_QUOTE' } }],
    classicFields: ['crm.invoice.userfield.list', {}],
    catalogs: ['catalog.catalog.list', {}],
    triggers: ['crm.automation.trigger.list', {}],
  });
  const have = read.results;
  const bound = asArray<EventBinding>(have.events);
  const isBound = (event: string, offline: boolean) =>
    bound.some(
      (b) =>
        b.event.toUpperCase() === event &&
        (offline ? b.event_type === 'offline' || Number(b.offline) === 1 : b.event_type !== 'offline' && Number(b.offline ?? 0) !== 1 && b.handler === eventHandler),
    );

  const writes: BatchCalls = {};
  const want = (key: string, call: [string, Record<string, unknown>], present: boolean) => {
    if (present) report.alreadyThere.push(key);
    else writes[key] = call;
  };

  // 2. Events, online and offline.
  // https://apidocs.bitrix24.com/api-reference/events/event-bind.html
  for (const event of DOCUMENT_EVENTS) {
    want(`event:${event}:online`, ['event.bind', { event, handler: eventHandler }], isBound(event, false));
    want(`event:${event}:offline`, ['event.bind', { event, event_type: 'offline', auth_connector: AUTH_CONNECTOR }], isBound(event, true));
  }
  for (const event of LIFECYCLE_EVENTS) {
    const options = event === 'ONOFFLINEEVENT' ? { minTimeout: 5 } : undefined;
    want(`event:${event}:online`, ['event.bind', { event, handler: eventHandler, ...(options ? { options } : {}) }], isBound(event, false));
  }

  // 3. Placements the portal offers.
  // https://apidocs.bitrix24.com/api-reference/widgets/placement-bind.html
  const offered = new Set(asArray<string | { code?: string }>(have.offered).map((p) => (typeof p === 'string' ? p : String(p.code))));
  const placed = asArray<{ placement?: string; handler?: string }>(have.placements);
  for (const code of [...CARD_PLACEMENTS, ...IMPORT_PLACEMENTS]) {
    const path = manifest.placements[code];
    if (!path) continue;
    if (offered.size > 0 && !offered.has(code)) {
      report.unavailablePlacements.push(code);
      continue;
    }
    const handler = `${publicUrl}${path}`;
    want(
      `placement:${code}`,
      ['placement.bind', { PLACEMENT: code, HANDLER: handler, TITLE: PLACEMENT_LABELS[code]!.title, DESCRIPTION: PLACEMENT_LABELS[code]!.description }],
      placed.some((p) => p.placement === code && p.handler === handler),
    );
  }

  // 4. The sync fields (sync-fields.ts) on smart invoices and quotes, and on classic invoices.
  // https://apidocs.bitrix24.com/api-reference/crm/universal/userfieldconfig/userfieldconfig-add.html
  for (const owner of FIELD_OWNERS) {
    const existing = fieldNames(owner.entityId === 'CRM_QUOTE' ? have.quoteFields : have.invoiceFields);
    for (const f of Object.values(SYNC_FIELDS)) {
      const fieldName = `${owner.prefix}${f.postfix}`;
      want(
        `field:${fieldName}`,
        [
          'userfieldconfig.add',
          {
            moduleId: 'crm',
            field: { entityId: owner.entityId, fieldName, userTypeId: f.type, editFormLabel: { en: f.label }, listColumnLabel: { en: f.label } },
          },
        ],
        existing.has(fieldName),
      );
    }
  }
  // https://apidocs.bitrix24.com/api-reference/crm/outdated/invoice/crm-invoice-user-field-add.html
  const classicExisting = fieldNames(have.classicFields);
  if (read.errors.classicFields) {
    report.problems.push(`Classic invoices are not available on this portal (${read.errors.classicFields}).`);
  } else {
    // Classic invoices take the same postfixes after UF_CRM_ (≤ 20 characters with the prefix).
    for (const f of Object.values(SYNC_FIELDS)) {
      want(
        `field:${FIELD_PREFIX.invoice}${f.postfix}`,
        ['crm.invoice.userfield.add', { fields: { FIELD_NAME: f.postfix, USER_TYPE_ID: f.type, EDIT_FORM_LABEL: f.label, LIST_COLUMN_LABEL: f.label } }],
        classicExisting.has(`${FIELD_PREFIX.invoice}${f.postfix}`),
      );
    }
  }

  // 5. The "Paid in Xero" automation trigger.
  // https://apidocs.bitrix24.com/api-reference/crm/automation/triggers/crm-automation-trigger-add.html
  const triggers = asArray<{ CODE?: string; code?: string }>(have.triggers);
  want(
    `trigger:${PAID_TRIGGER.code}`,
    ['crm.automation.trigger.add', { CODE: PAID_TRIGGER.code, NAME: PAID_TRIGGER.name }],
    triggers.some((t) => (t.CODE ?? t.code) === PAID_TRIGGER.code),
  );

  await runWrites(client, writes, report);

  // 6. The GL-code product property, in the product catalog.
  report.productPropertyId = await ensureAccountCodeProperty(client, have.catalogs, report);
  return report;
}

async function runWrites(client: PortalClient, writes: BatchCalls, report: SetupReport): Promise<void> {
  const keys = Object.keys(writes);
  for (let i = 0; i < keys.length; i += 50) {
    const chunk = Object.fromEntries(keys.slice(i, i + 50).map((k) => [k, writes[k]]));
    const { results, errors } = await client.batch(chunk);
    for (const key of Object.keys(chunk)) {
      if (errors[key] === undefined && key in results) report.added.push(key);
      else if (errors[key] && EXISTS.test(errors[key])) report.alreadyThere.push(key);
      else report.problems.push(`${key}: ${errors[key] ?? 'no answer'}`);
    }
  }
}

async function ensureAccountCodeProperty(client: PortalClient, catalogsResult: unknown, report: SetupReport): Promise<number | null> {
  const catalogs = asArray<{ iblockId?: number | string; productIblockId?: number | string | null }>(
    (catalogsResult as { catalogs?: unknown })?.catalogs ?? catalogsResult,
  );
  // The product catalog is the one that is not an offers (SKU) catalog.
  const catalog = catalogs.find((c) => !c.productIblockId) ?? catalogs[0];
  if (!catalog?.iblockId) {
    report.problems.push('The portal has no product catalog, so products cannot carry a Xero sales account.');
    return null;
  }
  const iblockId = Number(catalog.iblockId);
  // https://apidocs.bitrix24.com/api-reference/catalog/product-property/catalog-product-property-list.html
  const listed = await client.call<{ productProperties?: { id: number | string; code?: string }[] }>(
    'catalog.productProperty.list',
    { filter: { iblockId, code: ACCOUNT_CODE_PROPERTY.code } },
    { idempotent: true },
  );
  const found = (listed.productProperties ?? []).find((p) => p.code === ACCOUNT_CODE_PROPERTY.code);
  if (found) {
    report.alreadyThere.push(`property:${ACCOUNT_CODE_PROPERTY.code}`);
    return Number(found.id);
  }
  // https://apidocs.bitrix24.com/api-reference/catalog/product-property/catalog-product-property-add.html
  const added = await client.call<{ productProperty: { id: number | string } }>('catalog.productProperty.add', {
    fields: { iblockId, name: ACCOUNT_CODE_PROPERTY.name, code: ACCOUNT_CODE_PROPERTY.code, propertyType: 'S', active: 'Y' },
  });
  report.added.push(`property:${ACCOUNT_CODE_PROPERTY.code}`);
  return Number(added.productProperty.id);
}

function asArray<T>(value: unknown): T[] {
  if (Array.isArray(value)) return value as T[];
  if (value && typeof value === 'object') {
    const inner = Object.values(value).find(Array.isArray);
    if (inner) return inner as T[];
  }
  return [];
}

function fieldNames(result: unknown): Set<string> {
  return new Set(
    asArray<{ fieldName?: string; FIELD_NAME?: string }>(result)
      .map((f) => f.fieldName ?? f.FIELD_NAME ?? '')
      .filter(Boolean),
  );
}
