/**
 * System, user, event, placement and user-field methods.
 * Sources: docs/reference/bitrix24.md#installation, docs/reference/bitrix24.md#events, docs/reference/bitrix24.md#offline-events,
 * docs/reference/bitrix24.md#placements, docs/reference/bitrix24.md#user-fields, docs/reference/bitrix24.md#users-and-admin-rights,
 * docs/reference/bitrix24.md#self-hosted-portals (fixtures rest.*.json).
 */
import { RestError, page, matches, sortRows, toInt, isYes, isoDate, type Answer } from './core.js';
import type { Registry, CallCtx } from './registry.js';
import { UF_ENTITY } from './model.js';
import type { UserField } from './portal.js';

/** Events the portal offers (subset of fixture rest.events.response.json plus crm/catalog events of docs/reference/bitrix24.md#events). */
export const EVENTS: Record<string, string> = {
  ONAPPINSTALL: 'basic', ONAPPUPDATE: 'basic', ONAPPUNINSTALL: 'basic', ONAPPTEST: 'basic', ONOFFLINEEVENT: 'basic',
  ONCRMDYNAMICITEMADD: 'crm', ONCRMDYNAMICITEMUPDATE: 'crm', ONCRMDYNAMICITEMDELETE: 'crm',
  ONCRMQUOTEADD: 'crm', ONCRMQUOTEUPDATE: 'crm', ONCRMQUOTEDELETE: 'crm',
  ONCRMCONTACTADD: 'crm', ONCRMCONTACTUPDATE: 'crm', ONCRMCONTACTDELETE: 'crm',
  ONCRMCOMPANYADD: 'crm', ONCRMCOMPANYUPDATE: 'crm', ONCRMCOMPANYDELETE: 'crm',
  ONCRMREQUISITEADD: 'crm', ONCRMREQUISITEUPDATE: 'crm', ONCRMREQUISITEDELETE: 'crm',
  ONCRMINVOICEADD: 'crm', ONCRMINVOICEUPDATE: 'crm', ONCRMINVOICEDELETE: 'crm', ONCRMINVOICESETSTATUS: 'crm',
  ONCRMDEALADD: 'crm', ONCRMDEALUPDATE: 'crm', ONCRMDEALDELETE: 'crm',
  'CATALOG.PRODUCT.ON.ADD': 'catalog', 'CATALOG.PRODUCT.ON.UPDATE': 'catalog', 'CATALOG.PRODUCT.ON.DELETE': 'catalog',
};

/**
 * Placement codes the portal offers; `placement.bind` refuses any other code. Sources: docs/reference/bitrix24.md#placements; fixture
 * rest.placement.list.response.json; docs/reference/bitrix24.md#placements (the list toolbars:
 * CRM_LEAD/CONTACT/COMPANY/DEAL/INVOICE/SMART_INVOICE/QUOTE_LIST_TOOLBAR).
 */
export const PLACEMENTS = [
  'CRM_SMART_INVOICE_DETAIL_TAB', 'CRM_SMART_INVOICE_DETAIL_TOOLBAR', 'CRM_SMART_INVOICE_DETAIL_ACTIVITY',
  'CRM_SMART_INVOICE_LIST_MENU', 'CRM_SMART_INVOICE_LIST_TOOLBAR',
  'CRM_QUOTE_DETAIL_TAB', 'CRM_QUOTE_DETAIL_TOOLBAR', 'CRM_QUOTE_LIST_MENU', 'CRM_QUOTE_LIST_TOOLBAR',
  'CRM_COMPANY_DETAIL_TAB', 'CRM_CONTACT_DETAIL_TAB', 'CRM_DEAL_DETAIL_TAB', 'CRM_INVOICE_LIST_TOOLBAR', 'LEFT_MENU',
  'CRM_LEAD_LIST_TOOLBAR', 'CRM_CONTACT_LIST_TOOLBAR', 'CRM_COMPANY_LIST_TOOLBAR', 'CRM_DEAL_LIST_TOOLBAR',
];

function requireAdmin(ctx: CallCtx): void {
  // Source: fixture rest.event.offline.get.error.ACCESS_DENIED.response.json (HTTP 403).
  if (!ctx.user.admin) throw new RestError('ACCESS_DENIED', 'Access denied!', 403);
}

/** Handler URLs must live on the application's host (docs/reference/bitrix24.md#placements: "HANDLER must have a domain"; the
 * host-match rule and its error code are unverified). */
function checkHandlerHost(ctx: CallCtx, handler: string, code: string): void {
  let host: string;
  try { host = new URL(handler).host; } catch { throw new RestError(code, 'Wrong handler URL', 400); }
  const appHost = new URL(ctx.app.handlerUrl).host;
  if (host !== appHost) throw new RestError(code, `Handler URL host doesn't match the application host`, 400);
}

export function registerSystem(r: Registry): void {
  r.add('app.info', 'basic', (_p, ctx) => {
    const app = ctx.app;
    // Source: docs/reference/bitrix24.md#users-and-admin-rights; fixture rest.app.info.response.json. Answered for the app the token belongs to; CODE of a
    // local application = its client_id (unverified). LICENSE values of a self-hosted portal unverified.
    return { result: { ID: ctx.portal.otherApps.indexOf(app) + 2, CODE: app.clientId, VERSION: app.version, STATUS: 'L', INSTALLED: app.installed, PAYMENT_EXPIRED: 'N', DAYS: null, LANGUAGE_ID: 'en', LICENSE: 'en_selfhosted', LICENSE_TYPE: 'selfhosted', LICENSE_FAMILY: 'selfhosted' } };
  });
  r.add('profile', 'basic', (_p, ctx) => ({
    // Source: docs/reference/bitrix24.md#users-and-admin-rights; fixture rest.profile.response.json (ADMIN per token user).
    result: { ID: String(ctx.user.id), ADMIN: ctx.user.admin, NAME: ctx.user.name, LAST_NAME: ctx.user.lastName, PERSONAL_GENDER: '', TIME_ZONE: '' },
  }));
  // Source: docs/reference/bitrix24.md#portal-time: the portal's current time, `YYYY-MM-DDThh:mm:ss±hh:mm`, in the
  // server's time zone ("Use the method to calculate the clock offset between your server and Bitrix24").
  r.add('server.time', 'basic', (_p, ctx) => ({ result: isoDate(ctx.portal.now()) }));
  r.add('user.admin', 'basic', (_p, ctx) => ({ result: ctx.user.admin })); // docs/reference/bitrix24.md#users-and-admin-rights
  r.add('user.current', 'user', (_p, ctx) => ({ result: { ID: String(ctx.user.id), NAME: ctx.user.name, LAST_NAME: ctx.user.lastName, EMAIL: ctx.user.email, ACTIVE: true } }));
  r.add('scope', 'basic', (p, ctx) => ({ result: isYes(p.full) ? r.allScopes() : ['basic', ...ctx.app.scopes.filter((s) => s !== 'basic')] }));
  r.add('methods', 'basic', (p, ctx) => ({ result: r.names(isYes(p.full) ? null : typeof p.scope === 'string' ? [p.scope] : ctx.app.scopes) }));
  r.add('method.get', 'basic', (p, ctx) => {
    const m = r.get(String(p.name ?? ''));
    return { result: { isExisting: !!m, isAvailable: !!m && (m.scope === 'basic' || ctx.app.scopes.includes(m.scope)) } };
  });
  // feature.get {CODE: 'rest_offline_extended'} → {value: 'Y'} (docs/reference/bitrix24.md#offline-events; fixture).
  r.add('feature.get', 'basic', (p) => ({ result: { value: String(p.CODE ?? p.code) === 'rest_offline_extended' ? 'Y' : 'N' } }));
  r.add('events', 'basic', (p, ctx) => {
    const scopes = isYes(p.full) ? null : typeof p.SCOPE === 'string' ? [p.SCOPE] : ['basic', ...ctx.app.scopes];
    return { result: Object.entries(EVENTS).filter(([, s]) => !scopes || scopes.includes(s)).map(([e]) => e) };
  });

  // region event.* ////
  r.add('event.bind', 'basic', (p, ctx) => {
    const event = String(p.event ?? '').toUpperCase();
    // Source: docs/reference/bitrix24.md#events (ERROR_EVENT_NOT_FOUND, HTTP 400; fixture rest.event.bind.error.response.json).
    if (!EVENTS[event]) throw new RestError('ERROR_EVENT_NOT_FOUND', 'Event not found', 400);
    const offline = String(p.event_type ?? 'online').toLowerCase() === 'offline';
    // Non-admins: no offline events, no foreign auth_type (docs/reference/bitrix24.md#events; error code unverified).
    if (offline && !ctx.user.admin) throw new RestError('ACCESS_DENIED', 'Offline events are available to administrators only', 403);
    let authType = p.auth_type === undefined || p.auth_type === '' ? 0 : toInt(p.auth_type, -1);
    if (!ctx.user.admin) {
      if (authType !== 0 && authType !== ctx.user.id) throw new RestError('ACCESS_DENIED', 'auth_type of another user is not allowed', 403);
      authType = ctx.user.id;
    }
    if (authType > 0 && !ctx.portal.users.has(authType)) throw new RestError('ERROR_USER_NOT_FOUND', 'User not found', 400);
    const handler = offline ? '' : String(p.handler ?? '');
    if (!offline) {
      if (!handler) throw new RestError('ERROR_HANDLER_URL_MISSING', 'Handler URL is required', 400); // code unverified
      checkHandlerHost(ctx, handler, 'ERROR_WRONG_HANDLER_URL');
    }
    const authConnector = String(p.auth_connector ?? '');
    const dup = ctx.portal.bindings.find((b) => b.event === event && b.handler === handler && b.offline === offline && b.authType === authType && b.authConnector === authConnector);
    // Re-binding fails; the code and text are another module's ERROR_HANDLER_ALREADY_EXIST "Handler already exists!"
    // (docs/reference/bitrix24.md#events).
    if (dup) throw new RestError('ERROR_HANDLER_ALREADY_EXIST', 'Handler already exists!', 400);
    const options = p.options && typeof p.options === 'object' ? (p.options as Record<string, unknown>) : {};
    ctx.portal.bindings.push({ id: ctx.portal.nextId('binding'), event, handler, authType, offline, authConnector, options, createdBy: ctx.user.id });
    return { result: true };
  });
  r.add('event.unbind', 'basic', (p, ctx) => {
    const event = String(p.event ?? '').toUpperCase();
    const offline = String(p.event_type ?? 'online').toLowerCase() === 'offline';
    const handler = offline ? '' : String(p.handler ?? '');
    if (offline) requireAdmin(ctx);
    const before = ctx.portal.bindings.length;
    ctx.portal.bindings = ctx.portal.bindings.filter((b) => !(
      b.event === event && b.offline === offline && b.handler === handler &&
      (p.auth_type === undefined || b.authType === toInt(p.auth_type, -1)) &&
      (p.auth_connector === undefined || b.authConnector === String(p.auth_connector))
    ));
    return { result: { count: before - ctx.portal.bindings.length } }; // fixture rest.event.unbind.response.json
  });
  r.add('event.get', 'basic', (_p, ctx) => ({
    // Fixture rest.event.get.response.json: {event, handler, auth_type (string), offline (0|1)}.
    result: ctx.portal.bindings.map((b) => ({ event: b.event, handler: b.handler, auth_type: String(b.authType), offline: b.offline ? 1 : 0, ...(b.authConnector ? { connector_id: b.authConnector } : {}) })),
  }));
  r.add('event.test', 'basic', (_p, ctx) => {
    ctx.portal.raise('ONAPPTEST', { TEST: 'Y' }, { userId: ctx.user.id });
    return { result: true };
  });

  /**
   * event.offline.get {filter, order, limit=50, clear=1, process_id?, auth_connector, error=0}.
   * clear=0 reserves the batch under a process_id; parallel calls get different records.
   * Source: docs/reference/bitrix24.md#offline-events; fixture rest.event.offline.get.response.json (process_id null when cleared).
   */
  r.add('event.offline.get', 'basic', (p, ctx) => {
    requireAdmin(ctx);
    const limit = Math.min(Math.max(toInt(p.limit, 50), 1), 1000);
    const clear = p.clear === undefined ? true : isYes(p.clear) || p.clear === 1;
    const connector = String(p.auth_connector ?? '');
    const withErrors = isYes(p.error);
    const filter = (p.filter && typeof p.filter === 'object' ? p.filter : {}) as Record<string, unknown>;
    const pool = ctx.portal.offlineQueue.filter((rec) => rec.connector === connector && !rec.PROCESS_ID && (withErrors || rec.ERROR === 0)
      && matches(filter, (f) => (rec as unknown as Record<string, unknown>)[f.toUpperCase()]));
    const picked = sortRows(pool, p.order, (rec, f) => (rec as unknown as Record<string, unknown>)[f.toUpperCase()], 'ID').slice(0, limit);
    const render = (rec: (typeof picked)[number]) => ({ ID: String(rec.ID), TIMESTAMP_X: rec.TIMESTAMP_X, EVENT_NAME: rec.EVENT_NAME, EVENT_DATA: rec.EVENT_DATA, EVENT_ADDITIONAL: rec.EVENT_ADDITIONAL, MESSAGE_ID: rec.MESSAGE_ID });
    if (clear) {
      const ids = new Set(picked.map((x) => x.ID));
      ctx.portal.offlineQueue = ctx.portal.offlineQueue.filter((x) => !ids.has(x.ID));
      return { result: { process_id: null, events: picked.map(render) } };
    }
    const processId = picked.length ? String(p.process_id ?? '') || randomProcessId() : null;
    for (const rec of picked) rec.PROCESS_ID = processId!;
    return { result: { process_id: processId, events: picked.map(render) } };
  });
  /** event.offline.clear {process_id, id?|message_id?}: deletes the reserved records. Source: docs/reference/bitrix24.md#offline-events. */
  r.add('event.offline.clear', 'basic', (p, ctx) => {
    requireAdmin(ctx);
    const processId = String(p.process_id ?? '');
    if (!processId) throw new RestError('ERROR_ARGUMENT', 'process_id is required', 400); // code unverified
    const ids = listParam(p.id);
    const msgs = listParam(p.message_id);
    ctx.portal.offlineQueue = ctx.portal.offlineQueue.filter((x) => !(x.PROCESS_ID === processId && (!ids && !msgs || ids?.includes(String(x.ID)) || msgs?.includes(x.MESSAGE_ID))));
    return { result: true };
  });
  /** event.offline.error {process_id, message_id[]}: flags records as failed and releases them. Source: docs/reference/bitrix24.md#offline-events. */
  r.add('event.offline.error', 'basic', (p, ctx) => {
    requireAdmin(ctx);
    const processId = String(p.process_id ?? '');
    const msgs = listParam(p.message_id) ?? [];
    for (const x of ctx.portal.offlineQueue) {
      if (x.PROCESS_ID === processId && msgs.includes(x.MESSAGE_ID)) { x.ERROR = 1; x.PROCESS_ID = ''; }
    }
    return { result: true };
  });
  /** event.offline.list: read-only view with PROCESS_ID and ERROR (fixture rest.event.offline.list.response.json). */
  r.add('event.offline.list', 'basic', (p, ctx) => {
    requireAdmin(ctx);
    const filter = (p.filter && typeof p.filter === 'object' ? p.filter : {}) as Record<string, unknown>;
    const rows = ctx.portal.offlineQueue.filter((rec) => matches(filter, (f) => (rec as unknown as Record<string, unknown>)[f.toUpperCase()]));
    const sorted = sortRows(rows, p.order ?? { ID: 'DESC' }, (rec, f) => (rec as unknown as Record<string, unknown>)[f.toUpperCase()], 'ID');
    return page(sorted.map((rec) => ({ ID: String(rec.ID), TIMESTAMP_X: rec.TIMESTAMP_X, EVENT_NAME: rec.EVENT_NAME, EVENT_DATA: rec.EVENT_DATA, EVENT_ADDITIONAL: rec.EVENT_ADDITIONAL, MESSAGE_ID: rec.MESSAGE_ID, PROCESS_ID: rec.PROCESS_ID, ERROR: String(rec.ERROR), ...(rec.connector ? { CONNECTOR_ID: rec.connector } : {}) })), p.start);
  });
  // endregion ////

  // region placement.* (scope placement, admin only, app auth only) ////
  r.add('placement.list', 'placement', () => ({ result: [...PLACEMENTS] }));
  r.add('placement.bind', 'placement', (p, ctx) => {
    requireAdmin(ctx);
    const placement = String(p.PLACEMENT ?? p.placement ?? '').toUpperCase();
    const handler = String(p.HANDLER ?? p.handler ?? '');
    if (!PLACEMENTS.includes(placement)) throw new RestError('ERROR_PLACEMENT_NOT_FOUND', 'Placement not found', 400);
    if (!handler) throw new RestError('ERROR_WRONG_HANDLER_URL', 'Wrong handler URL', 400);
    checkHandlerHost(ctx, handler, 'ERROR_WRONG_HANDLER_URL');
    if (ctx.portal.placements.some((x) => x.placement === placement && x.handler === handler)) {
      throw new RestError('ERROR_PLACEMENT_HANDLER_ALREADY_BINDED', 'Handler already binded', 400); // code unverified
    }
    const langAll = (p.LANG_ALL ?? {}) as Record<string, unknown>;
    const title = String(p.TITLE ?? (langAll.en as Record<string, unknown> | undefined)?.TITLE ?? '');
    ctx.portal.placements.push({
      id: ctx.portal.nextId('placement'), placement, handler, title, description: String(p.DESCRIPTION ?? ''), groupName: String(p.GROUP_NAME ?? ''),
      options: (p.OPTIONS ?? {}) as Record<string, unknown>, langAll, userId: toInt(p.USER_ID, 0),
    });
    return { result: true };
  });
  r.add('placement.unbind', 'placement', (p, ctx) => {
    requireAdmin(ctx);
    const placement = String(p.PLACEMENT ?? '').toUpperCase();
    const handler = p.HANDLER === undefined ? null : String(p.HANDLER);
    const before = ctx.portal.placements.length;
    ctx.portal.placements = ctx.portal.placements.filter((x) => !(x.placement === placement && (handler === null || x.handler === handler)));
    return { result: { count: before - ctx.portal.placements.length } };
  });
  r.add('placement.get', 'placement', (_p, ctx) => ({
    // Fixture rest.placement.get.response.json.
    result: ctx.portal.placements.map((x) => ({ placement: x.placement, userId: x.userId, handler: x.handler, options: Object.keys(x.options).length ? x.options : [], title: x.title, description: x.description, langAll: x.langAll })),
  }));
  // endregion ////

  // region userfieldconfig.* ////
  // `enum` comes with add and get (fixtures rest.userfieldconfig.add/get.response.json), not with list
  // (fixture rest.userfieldconfig.list.response.json).
  const ufRender = (u: UserField) => ({ ...u });
  const ufListed = ({ enum: _options, ...u }: UserField) => u;
  r.add('userfieldconfig.add', 'userfieldconfig', (p, ctx) => {
    requireAdmin(ctx);
    if (p.moduleId !== 'crm') throw new RestError('ERROR_ARGUMENT', 'moduleId is required', 400); // docs/reference/bitrix24.md#user-fields: moduleId required
    if (!ctx.app.scopes.includes('crm')) throw new RestError('insufficient_scope', 'The request requires higher privileges than provided by the access token', 401);
    const field = (p.field ?? {}) as Record<string, unknown>;
    const entityId = String(field.entityId ?? '');
    const fieldName = String(field.fieldName ?? '');
    if (!(entityId in UF_ENTITY) && !/^CRM_\d+$/.test(entityId)) throw new RestError('ERROR_ARGUMENT', `entityId ${entityId} is not valid`, 400);
    // Format UF_{OBJECT}_{POSTFIX}, A-Z0-9_, ≤ 50 chars (docs/reference/bitrix24.md#user-fields). Error code unverified.
    if (!/^UF_CRM_[A-Z0-9_]+$/.test(fieldName) || fieldName.length > 50) throw new RestError('ERROR_ARGUMENT', `Invalid field name ${fieldName}`, 400);
    if (!field.userTypeId) throw new RestError('ERROR_ARGUMENT', 'userTypeId is required', 400);
    if (ctx.portal.userFields.some((u) => u.entityId === entityId && u.fieldName === fieldName)) throw new RestError('ERROR_ARGUMENT', `Field ${fieldName} already exists`, 400);
    const yn = (v: unknown, d: 'Y' | 'N') => (v === undefined ? d : isYes(v) ? 'Y' : 'N');
    const uf: UserField = {
      id: String(ctx.portal.nextId('uf', 6953)), entityId, fieldName, userTypeId: String(field.userTypeId), xmlId: (field.xmlId as string) ?? null,
      sort: String(field.sort ?? '100'), multiple: yn(field.multiple, 'N'), mandatory: yn(field.mandatory, 'N'), showFilter: String(field.showFilter ?? 'N'),
      showInList: String(field.showInList ?? 'Y'), editInList: String(field.editInList ?? 'Y'), isSearchable: String(field.isSearchable ?? 'N'),
      settings: (field.settings ?? {}) as Record<string, unknown>, editFormLabel: (field.editFormLabel as Record<string, string>) ?? null,
      listColumnLabel: (field.listColumnLabel as Record<string, string>) ?? null, listFilterLabel: (field.listFilterLabel as Record<string, string>) ?? null,
      errorMessage: null, helpMessage: null,
    };
    // docs/reference/bitrix24.md#user-fields: `enum` (uf_enum_element[]: value required, def, sort, xmlId) for enumeration fields.
    if (uf.userTypeId === 'enumeration') {
      const options = Array.isArray(field.enum) ? (field.enum as Record<string, unknown>[]) : [];
      uf.enum = options.filter((o) => String(o?.value ?? '').trim()).map((o, i) => ({
        id: String(ctx.portal.nextId('ufEnum', 3363)), userFieldId: uf.id, value: String(o.value), def: isYes(o.def) ? 'Y' : 'N',
        sort: String(o.sort ?? (i + 1) * 100), xmlId: String(o.xmlId ?? randomProcessId()),
      }));
    }
    ctx.portal.userFields.push(uf);
    return { result: { field: ufRender(uf) } }; // fixture rest.userfieldconfig.add.response.json
  });
  r.add('userfieldconfig.list', 'userfieldconfig', (p, ctx) => {
    const filter = (p.filter ?? {}) as Record<string, unknown>;
    const rows = ctx.portal.userFields.filter((u) => matches(filter, (f) => (u as unknown as Record<string, unknown>)[f]));
    return page(rows.map(ufListed), p.start, (fields) => ({ fields })); // fixture rest.userfieldconfig.list.response.json
  });
  r.add('userfieldconfig.get', 'userfieldconfig', (p, ctx) => {
    const u = ctx.portal.userFields.find((x) => x.id === String(p.id));
    if (!u) throw new RestError('NOT_FOUND', 'Field not found', 400);
    return { result: { field: ufRender(u) } };
  });
  r.add('userfieldconfig.delete', 'userfieldconfig', (p, ctx) => {
    requireAdmin(ctx);
    const before = ctx.portal.userFields.length;
    ctx.portal.userFields = ctx.portal.userFields.filter((x) => x.id !== String(p.id));
    if (before === ctx.portal.userFields.length) throw new RestError('NOT_FOUND', 'Field not found', 400);
    return { result: true };
  });
  // endregion ////
}

function listParam(v: unknown): string[] | null {
  if (v === undefined || v === null || v === '') return null;
  return (Array.isArray(v) ? v : [v]).map(String);
}

function randomProcessId(): string {
  return Math.random().toString(36).slice(2, 12) + Date.now().toString(36);
}

export type { Answer };
