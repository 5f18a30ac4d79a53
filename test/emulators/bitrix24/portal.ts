/**
 * The emulated portal's state and the domain operations that both REST methods and test controls use, so that
 * every write raises the same events whoever makes it (a user in the UI or the app through REST).
 * Sources are named per behaviour below; docs/reference/bitrix24.md is the shared reference.
 */
import { RestError, isoDate, randomToken, round2, toInt, isYes } from './core.js';
import { documentAmount, storeRow } from './row-math.js';
import { EventDelivery, type Binding, type OfflineRecord } from './events.js';
import {
  SYSTEM_FIELDS, SMART_INVOICE, QUOTE, COMPANY, CONTACT, CLASSIC_INVOICE, UF_ENTITY, OWNER_TYPE, ufCamelName, semanticId,
  type FieldDef,
} from './model.js';

export interface User { id: number; name: string; lastName: string; email: string; admin: boolean }

export interface AppRegistration {
  clientId: string;
  clientSecret: string;
  handlerUrl: string;
  installUrl: string;
  scopes: string[];
  apiOnly: boolean;
  version: number;
  /** `INSTALLED` in app.info: true after installFinish (UI app) or right after ONAPPINSTALL (API-only app). */
  installed: boolean;
  /** The app exists on the portal (installer ran); false after uninstall. */
  present: boolean;
  applicationToken: string | null;
  appSid: string;
}

/** Tokens are issued to one app for one user (docs/reference/bitrix24.md#oauth-tokens): `clientId` names the app. */
/** `revoked`: the app was uninstalled after the token was issued (a reinstall does not bring it back). */
export interface AccessToken { token: string; userId: number; clientId: string; expiresAt: number; revoked?: boolean }
export interface RefreshToken { token: string; userId: number; clientId: string; used: boolean; expiresAt: number; revoked?: boolean }

/** A user's CRM read permission withheld for one entity type: every item (`ids` null) or the listed ones. */
/** A read permission withheld: every item of a type (`ids` null), the listed items, or every item of one pipeline (`categoryId`). */
export interface ReadDenial { userId: number; entityTypeId: number; ids: number[] | null; categoryId?: number }

export interface CrmItem { entityTypeId: number; data: Record<string, unknown>; uf: Record<string, unknown> }

export interface UserField {
  id: string; entityId: string; fieldName: string; userTypeId: string; xmlId: string | null; sort: string;
  multiple: 'Y' | 'N'; mandatory: 'Y' | 'N'; showFilter: string; showInList: string; editInList: string; isSearchable: string;
  settings: Record<string, unknown>; editFormLabel: Record<string, string> | null; listColumnLabel: Record<string, string> | null;
  listFilterLabel: Record<string, string> | null; errorMessage: Record<string, string> | null; helpMessage: Record<string, string> | null;
  /** The options of a list (`enumeration`) field; an item's value is the chosen option's id. */
  enum?: { id: string; userFieldId: string; value: string; def: 'Y' | 'N'; sort: string; xmlId: string }[];
}

export interface Category { id: number; entityTypeId: number; name: string; sort: number; isDefault: 'Y' | 'N' }

export interface Status {
  ID: string; ENTITY_ID: string; STATUS_ID: string; NAME: string; NAME_INIT: string; SORT: string; SYSTEM: 'Y' | 'N';
  CATEGORY_ID?: string; COLOR: string; SEMANTICS: 'S' | 'F' | null; EXTRA?: { SEMANTICS: string; COLOR: string };
}

export interface ProductRow {
  id: number; ownerId: number; ownerType: string; productId: number; productName: string; price: number; priceAccount: number;
  priceExclusive: number; priceNetto: number; priceBrutto: number; quantity: number; discountTypeId: number; discountRate: number;
  discountSum: number; taxRate: number | null; taxIncluded: 'Y' | 'N'; customized: 'Y' | 'N'; measureCode: number; measureName: string;
  sort: number; xmlId: string | null; type: number; storeId: number | null;
}

export interface ClassicInvoice { fields: Record<string, unknown>; rows: Array<Record<string, unknown>> }

export interface Product { fields: Record<string, unknown>; props: Map<number, Array<{ valueId: string; value: string }>> }
export interface ProductProperty { id: number; iblockId: number; name: string; code: string | null; propertyType: string; multiple: 'Y' | 'N'; sort: number; active: 'Y' | 'N'; xmlId: string | null; isRequired: 'Y' | 'N' }

export interface Placement { id: number; placement: string; handler: string; title: string; description: string; groupName: string; options: Record<string, unknown>; langAll: Record<string, unknown>; userId: number }
export interface Trigger { CODE: string; NAME: string }
export interface TriggerExecution { CODE: string; OWNER_TYPE_ID: number; OWNER_ID: number; at: string; userId: number }
export interface TimelineComment { ID: number; ENTITY_ID: number; ENTITY_TYPE: string; COMMENT: string; AUTHOR_ID: number; CREATED: string }
export interface Requisite { [k: string]: unknown }

/** Who made a write: a user (id) or an automation/agent (null); `authConnector` from the REST call. */
export interface WriteCtx { userId: number | null; authConnector?: string }

export const CATALOG_IBLOCK_ID = 23; // fixture rest.catalog.product.get.response.json uses iblockId 23

export class Portal {
  memberId: string;
  domain: string;
  baseUrl: string;
  /** Base URL of the OAuth server this portal's tokens are refreshed at (oauth.bitrix.info's part); '' = this server. */
  oauthBaseUrl = '';
  accessTokenTtlSeconds: number;
  /**
   * How far the portal's clock runs ahead of this machine's, ms (negative: behind): a self-hosted portal keeps its own
   * time. Its CRM times (`createdTime`, `updatedTime`, `DATE_INSERT`, `DATE_UPDATE`) and `server.time` follow it.
   */
  clockOffsetMs = 0;
  /** The portal's clock, ms: the clock it was given (default: the system clock), shifted by `clockOffsetMs`. */
  now(): number { return this.baseNow() + this.clockOffsetMs; }
  users = new Map<number, User>();
  app: AppRegistration | null = null;
  /** Other applications installed on the same portal (their own client id, tokens and app.info). */
  otherApps: AppRegistration[] = [];
  /** CRM read permissions withheld from users (admins read everything). Entity type 5 = classic invoices. */
  readDenials: ReadDenial[] = [];
  /** Users without the permission to view the product catalog (catalog.product.* answer 200040300010). */
  catalogDenials = new Set<number>();
  /** CRM create permissions withheld from users, per entity type (admins create everything). */
  createDenials: { userId: number; entityTypeId: number }[] = [];
  accessTokens = new Map<string, AccessToken>();
  refreshTokens = new Map<string, RefreshToken>();
  items = new Map<number, Map<number, CrmItem>>();
  userFields: UserField[] = [];
  categories: Category[] = [];
  statuses: Status[] = [];
  productRows = new Map<string, ProductRow[]>();
  classicInvoices = new Map<number, ClassicInvoice>();
  products = new Map<number, Product>();
  productProperties: ProductProperty[] = [];
  bindings: Binding[] = [];
  offlineQueue: OfflineRecord[] = [];
  placements: Placement[] = [];
  triggers: Trigger[] = [];
  triggerExecutions: TriggerExecution[] = [];
  timelineComments: TimelineComment[] = [];
  requisites: Requisite[] = [];
  prices: Array<{ id: number; productId: number; catalogGroupId: number; price: number; currency: string }> = [];
  delivery = new EventDelivery();
  private seq = new Map<string, number>();
  private lastOfflinePing = 0;

  /**
   * The portal's clock, epoch ms: created/updated/moved times, default document dates, event `ts`, offline-queue and
   * comment times. Tokens expire on the system clock, as b24jssdk checks them. (Default: the system clock)
   */
  private readonly baseNow: () => number;

  constructor(opts: { memberId: string; domain: string; baseUrl: string; accessTokenTtlSeconds: number; clock?: { now(): number } }) {
    const clock = opts.clock;
    this.baseNow = clock ? () => clock.now() : () => Date.now();
    this.memberId = opts.memberId;
    this.domain = opts.domain;
    this.baseUrl = opts.baseUrl;
    this.accessTokenTtlSeconds = opts.accessTokenTtlSeconds;
    this.reset();
  }

  get clientEndpoint(): string { return `${this.baseUrl}/rest/`; }
  /** The emulator also plays oauth.bitrix.info, so the SDK refreshes against it. Source: docs/reference/bitrix24.md#oauth-tokens,
   * docs/reference/bitrix24.md#b24jssdk. */
  get serverEndpoint(): string { return `${this.oauthBaseUrl || this.baseUrl}/rest/`; }

  nextId(kind: string, start = 1): number {
    const n = (this.seq.get(kind) ?? start - 1) + 1;
    this.seq.set(kind, n);
    return n;
  }

  /** Empties everything except the users and the base directories (stages, categories). */
  reset(): void {
    this.clockOffsetMs = 0;
    this.users = new Map([
      [1, { id: 1, name: 'John', lastName: 'Admin', email: 'admin@example.com', admin: true }],
      [2, { id: 2, name: 'Mary', lastName: 'User', email: 'mary@example.com', admin: false }],
    ]);
    this.app = null;
    this.otherApps = [];
    this.readDenials = [];
    this.catalogDenials = new Set();
    this.createDenials = [];
    this.accessTokens.clear();
    this.refreshTokens.clear();
    this.items = new Map([[SMART_INVOICE, new Map()], [QUOTE, new Map()], [COMPANY, new Map()], [CONTACT, new Map()]]);
    this.userFields = [];
    this.productRows.clear();
    this.classicInvoices.clear();
    this.products.clear();
    this.productProperties = [];
    this.bindings = [];
    this.offlineQueue = [];
    this.placements = [];
    this.triggers = [];
    this.triggerExecutions = [];
    this.timelineComments = [];
    this.requisites = [];
    this.prices = [];
    this.delivery = new EventDelivery();
    this.seq.clear();
    this.seedDirectories();
  }

  // region Directories (stages, categories) ////

  /**
   * Smart-invoice pipelines with stages `DT31_{categoryId}:{CODE}` and `SEMANTICS` null/S/F; quote statuses
   * (`QUOTE_STATUS` with EXTRA.SEMANTICS); classic invoice statuses (`INVOICE_STATUS`).
   * Source: docs/reference/bitrix24.md#stages; fixtures rest.crm.status.list*.json.
   * Category ids are deliberately not 0/1 and one pipeline has custom codes, so clients must read them.
   */
  private seedDirectories(): void {
    this.categories = [
      { id: 2, entityTypeId: SMART_INVOICE, name: 'General', sort: 100, isDefault: 'Y' },
      { id: 5, entityTypeId: SMART_INVOICE, name: 'Export', sort: 200, isDefault: 'N' },
      { id: 0, entityTypeId: COMPANY, name: 'General', sort: 100, isDefault: 'Y' },
      { id: 0, entityTypeId: CONTACT, name: 'General', sort: 100, isDefault: 'Y' },
    ];
    let sid = 100;
    const st = (entityId: string, statusId: string, name: string, sort: number, semantics: 'S' | 'F' | null, category?: number, extra?: string): Status => {
      const color = semantics === 'S' ? '#00ff00' : semantics === 'F' ? '#ff0000' : '#22B9FF';
      const s: Status = { ID: String(++sid), ENTITY_ID: entityId, STATUS_ID: statusId, NAME: name, NAME_INIT: name, SORT: String(sort), SYSTEM: 'Y', COLOR: color, SEMANTICS: semantics };
      if (category !== undefined) s.CATEGORY_ID = String(category);
      if (extra) s.EXTRA = { SEMANTICS: extra, COLOR: color };
      return s;
    };
    this.statuses = [
      st('SMART_INVOICE_STAGE_2', 'DT31_2:N', 'New', 10, null, 2),
      st('SMART_INVOICE_STAGE_2', 'DT31_2:S', 'Sent', 20, null, 2),
      st('SMART_INVOICE_STAGE_2', 'DT31_2:P', 'Paid', 30, 'S', 2),
      st('SMART_INVOICE_STAGE_2', 'DT31_2:D', 'Declined', 40, 'F', 2),
      st('SMART_INVOICE_STAGE_5', 'DT31_5:N', 'Draft', 10, null, 5),
      st('SMART_INVOICE_STAGE_5', 'DT31_5:UC_7QK2JD', 'Awaiting approval', 20, null, 5),
      st('SMART_INVOICE_STAGE_5', 'DT31_5:UC_PAID01', 'Settled', 30, 'S', 5),
      st('SMART_INVOICE_STAGE_5', 'DT31_5:UC_VOID01', 'Voided', 40, 'F', 5),
      st('SMART_INVOICE_STAGE_5', 'DT31_5:D', 'Lost', 50, 'F', 5),
      st('QUOTE_STATUS', 'DRAFT', 'New', 10, null, undefined, 'process'),
      st('QUOTE_STATUS', 'SENT', 'Sent to client', 20, null, undefined, 'process'),
      st('QUOTE_STATUS', 'APPROVED', 'Approved', 30, 'S', undefined, 'success'),
      st('QUOTE_STATUS', 'DECLAINED', 'Declined', 40, 'F', undefined, 'failure'),
      st('INVOICE_STATUS', 'N', 'New', 10, null),
      st('INVOICE_STATUS', 'S', 'Sent to client', 20, null),
      st('INVOICE_STATUS', 'P', 'Paid', 30, 'S'),
      st('INVOICE_STATUS', 'D', 'Declined', 40, 'F'),
    ];
  }

  stageEntityId(entityTypeId: number, categoryId: number): string {
    if (entityTypeId === SMART_INVOICE) return `SMART_INVOICE_STAGE_${categoryId}`;
    if (entityTypeId === QUOTE) return 'QUOTE_STATUS';
    throw new RestError('NOT_FOUND', 'Stages are not supported', 400);
  }

  stagesOf(entityTypeId: number, categoryId: number): Status[] {
    const id = this.stageEntityId(entityTypeId, categoryId);
    return this.statuses.filter((s) => s.ENTITY_ID === id).sort((a, b) => Number(a.SORT) - Number(b.SORT));
  }

  defaultCategory(entityTypeId: number): number {
    return this.categories.find((c) => c.entityTypeId === entityTypeId && c.isDefault === 'Y')?.id ?? 0;
  }

  // endregion ////
  // region Users and tokens ////

  user(id: number): User {
    const u = this.users.get(id);
    if (!u) throw new Error(`No such user ${id}`);
    return u;
  }

  /**
   * A fresh access/refresh pair for a user of one app (the main app unless `clientId` names another).
   * Source: docs/reference/bitrix24.md#oauth-tokens (1 h access, 180 d refresh).
   */
  issueTokens(userId: number, clientId = this.app?.clientId ?? ''): { access: AccessToken; refresh: RefreshToken } {
    const access: AccessToken = { token: randomToken(), userId, clientId, expiresAt: Date.now() + this.accessTokenTtlSeconds * 1000 };
    const refresh: RefreshToken = { token: randomToken(), userId, clientId, used: false, expiresAt: Date.now() + 180 * 86400_000 };
    this.accessTokens.set(access.token, access);
    this.refreshTokens.set(refresh.token, refresh);
    return { access, refresh };
  }

  /**
   * Revokes the tokens of one app (default: the main app); other apps' tokens stay valid. They stay known, as they do
   * to Bitrix24's OAuth server, so a call with one is answered as the token of an app that is not installed
   * (server.ts `authenticate`).
   */
  revokeAllTokens(clientId = this.app?.clientId): void {
    for (const t of this.accessTokens.values()) if (t.clientId === clientId) t.revoked = true;
    for (const t of this.refreshTokens.values()) if (t.clientId === clientId) t.revoked = true;
  }

  /** The installed app a client id names (the main app or another one), or undefined. */
  appByClientId(clientId: string): AppRegistration | undefined {
    return [this.app, ...this.otherApps].find((a): a is AppRegistration => !!a && a.clientId === clientId);
  }

  /**
   * Whether a user may read a CRM item: admins always; others unless a denial covers it. Source: docs/reference/bitrix24.md#crm-items
   * ("any user with read access permission"; 400 ACCESS_DENIED otherwise).
   */
  canRead(userId: number, entityTypeId: number, id: number): boolean {
    if (this.users.get(userId)?.admin) return true;
    const category = this.items.get(entityTypeId)?.get(id)?.data.categoryId;
    return !this.readDenials.some((d) => d.userId === userId && d.entityTypeId === entityTypeId && (
      d.categoryId !== undefined ? d.categoryId === Number(category) : d.ids === null || d.ids.includes(id)));
  }

  /**
   * Whether a user may read a pipeline (funnel): admins always; others unless the type or that pipeline is withheld.
   * Source: docs/reference/bitrix24.md#stages ("The list of returned funnels is filtered by access permissions").
   */
  canReadCategory(userId: number, entityTypeId: number, categoryId: number): boolean {
    if (this.users.get(userId)?.admin) return true;
    return !this.readDenials.some((d) => d.userId === userId && d.entityTypeId === entityTypeId && (d.categoryId !== undefined ? d.categoryId === categoryId : d.ids === null));
  }

  /** Whether a user may view the product catalog: admins always (docs/reference/bitrix24.md#catalog, error 200040300010). */
  canReadCatalog(userId: number): boolean {
    return Boolean(this.users.get(userId)?.admin) || !this.catalogDenials.has(userId);
  }

  /** Whether a user may create CRM items of a type: admins always; others unless a denial covers it. */
  canCreate(userId: number, entityTypeId: number): boolean {
    if (this.users.get(userId)?.admin) return true;
    return !this.createDenials.some((d) => d.userId === userId && d.entityTypeId === entityTypeId);
  }

  // endregion ////
  // region Events ////

  /**
   * Raises an event as the portal does: online bindings get a form POST through the (async) queue, offline
   * bindings collect one record per object in their connector's queue.
   * Sources: docs/reference/bitrix24.md#events, docs/reference/bitrix24.md#offline-events, docs/reference/bitrix24.md#installation ("Events will not be sent to the application until the installation is complete").
   */
  raise(event: string, fields: Record<string, unknown>, ctx: WriteCtx): void {
    const app = this.app;
    if (!app || !app.present) return;
    for (const b of this.bindings.filter((x) => x.event === event)) {
      if (b.offline) {
        if (!app.installed) continue;
        // auth_connector: writes made with the same key stay out of this binding's queue (docs/reference/bitrix24.md#offline-events).
        if (b.authConnector && ctx.authConnector && b.authConnector === ctx.authConnector) continue;
        this.recordOffline(event, fields, b.authConnector);
        continue;
      }
      const body = this.eventBody(event, { FIELDS: fields }, b, ctx.userId);
      if (!app.installed) {
        this.delivery.log.push({ at: isoDate(), event, handler: b.handler, bindingId: b.id, body, raw: '', status: 0, ok: false, dropped: 'app-not-installed' });
        continue;
      }
      this.delivery.send(b.handler, body, { event, bindingId: b.id });
    }
  }

  /**
   * The POST body of an online event. `auth` carries tokens only when the event can be linked to a user
   * (docs/reference/bitrix24.md#events, "auth"); `auth_type` 0 means the user who caused the event (docs/reference/bitrix24.md#events).
   * Values are strings on the wire (fixtures README). Shape checked against fixtures event.ONCRM*.json.
   */
  eventBody(event: string, data: unknown, b: Binding | null, causedBy: number | null, withTokens = true): Record<string, unknown> {
    const app = this.app!;
    const userId = b && b.authType > 0 ? b.authType : causedBy;
    const auth: Record<string, unknown> = {};
    if (withTokens && userId !== null && this.users.has(userId)) {
      const { access, refresh } = this.issueTokens(userId);
      Object.assign(auth, {
        access_token: access.token,
        expires_in: String(this.accessTokenTtlSeconds),
        scope: app.scopes.join(','),
      });
      auth.domain = this.domain;
      auth.server_endpoint = this.serverEndpoint;
      auth.status = 'L';
      auth.client_endpoint = this.clientEndpoint;
      auth.member_id = this.memberId;
      auth.refresh_token = refresh.token;
      auth.application_token = app.applicationToken ?? '';
    } else {
      Object.assign(auth, {
        domain: this.domain,
        server_endpoint: this.serverEndpoint,
        client_endpoint: this.clientEndpoint,
        member_id: this.memberId,
        application_token: app.applicationToken ?? '',
      });
    }
    const body: Record<string, unknown> = { event };
    if (b) body.event_handler_id = String(b.id);
    body.data = data;
    body.ts = String(Math.floor(this.now() / 1000));
    body.auth = auth;
    return body;
  }

  private recordOffline(event: string, fields: Record<string, unknown>, connector: string): void {
    const objectKey = `${event}|${JSON.stringify(fields)}`;
    // "If the same deal is updated 1000 times, there will be only one entry" (docs/reference/bitrix24.md#offline-events). A record already
    // handed out under a process_id is not touched: the change after it gets a record of its own.
    const existing = this.offlineQueue.find((r) => r.connector === connector && r.objectKey === objectKey && !r.PROCESS_ID);
    const messageId = randomToken(32);
    if (existing) {
      existing.TIMESTAMP_X = isoDate(this.now());
      existing.MESSAGE_ID = messageId;
      return;
    }
    const stringFields = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, String(v)]));
    this.offlineQueue.push({
      ID: this.nextId('offline'),
      TIMESTAMP_X: isoDate(this.now()),
      EVENT_NAME: event,
      // The docs' samples print EVENT_DATA as false; real portals send the event's data (third-party code reads
      // EVENT_DATA.FIELDS.ID, docs/reference/bitrix24.md#offline-events, unverified). Emulated with the data, like online events.
      EVENT_DATA: { FIELDS: stringFields },
      EVENT_ADDITIONAL: false,
      MESSAGE_ID: messageId,
      PROCESS_ID: '',
      ERROR: 0,
      connector,
      objectKey,
    });
    this.pingOffline();
  }

  /** ONOFFLINEEVENT: online "new records" ping, at most once per `minTimeout` seconds. Source: docs/reference/bitrix24.md#offline-events. */
  private pingOffline(): void {
    for (const b of this.bindings.filter((x) => x.event === 'ONOFFLINEEVENT' && !x.offline)) {
      const minTimeout = toInt((b.options as Record<string, unknown>).minTimeout, 0);
      if (minTimeout > 0 && Date.now() - this.lastOfflinePing < minTimeout * 1000) continue;
      this.lastOfflinePing = Date.now();
      this.delivery.send(b.handler, this.eventBody('ONOFFLINEEVENT', [], b, null, false), { event: 'ONOFFLINEEVENT', bindingId: b.id });
    }
  }

  // endregion ////
  // region CRM items (crm.item.*) ////

  itemStore(entityTypeId: number): Map<number, CrmItem> {
    if (entityTypeId === CLASSIC_INVOICE) {
      // Source: docs/reference/bitrix24.md#crm-object-types "crm.item.* returns ENTITY_TYPE_NOT_SUPPORTED for old invoices (type 5)".
      throw new RestError('ENTITY_TYPE_NOT_SUPPORTED', 'Entity type 5 is not supported', 400);
    }
    const s = this.items.get(entityTypeId);
    if (!s) throw new RestError('NOT_FOUND', 'Smart process not found', 400);
    return s;
  }

  ufsFor(entityTypeId: number): UserField[] {
    return this.userFields.filter((u) => UF_ENTITY[u.entityId] === entityTypeId);
  }

  getItem(entityTypeId: number, id: number): CrmItem {
    const item = this.itemStore(entityTypeId).get(id);
    // Source: docs/reference/bitrix24.md#errors, fixture rest.crm.item.get.error.NOT_FOUND.response.json (HTTP 400).
    if (!item) throw new RestError('NOT_FOUND', 'Element not found', 400);
    return item;
  }

  /** The item as `crm.item.get` prints it. `useOriginalUfNames` (CRM ≥ 25) keeps UF_CRM_… names (docs/reference/bitrix24.md#crm-items). */
  renderItem(item: CrmItem, originalUf = false): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const def of SYSTEM_FIELDS[item.entityTypeId]!) out[def.key] = item.data[def.key] ?? (def.multiple ? [] : null);
    if (item.entityTypeId === CONTACT || item.entityTypeId === COMPANY) Object.assign(out, flatMultifields(out.fm as Fm));
    for (const uf of this.ufsFor(item.entityTypeId)) {
      const v = item.uf[uf.fieldName];
      out[originalUf ? uf.fieldName : ufCamelName(uf.fieldName)] = v === undefined ? (uf.multiple === 'Y' ? [] : null) : v;
    }
    out.entityTypeId = item.entityTypeId;
    return out;
  }

  /** Applies camelCase or UPPER input to an item; unknown keys are ignored like the real portal does. */
  private applyFields(item: CrmItem, fields: Record<string, unknown>): void {
    const defs = SYSTEM_FIELDS[item.entityTypeId]!;
    for (const [k, v] of Object.entries(fields)) {
      const def = defs.find((d) => d.key === k || d.upper === k);
      if (def) {
        if (def.readOnly) continue;
        item.data[def.key] = normalise(def, v);
        continue;
      }
      const uf = this.ufsFor(item.entityTypeId).find((u) => u.fieldName === k || ufCamelName(u.fieldName) === k);
      if (uf) item.uf[uf.fieldName] = uf.multiple === 'Y' ? (Array.isArray(v) ? v : v === null || v === '' ? [] : [v]) : v;
    }
  }

  private checkStage(item: CrmItem): void {
    if (item.entityTypeId !== SMART_INVOICE && item.entityTypeId !== QUOTE) return;
    const categoryId = toInt(item.data.categoryId, 0);
    const stages = this.stagesOf(item.entityTypeId, categoryId);
    if (item.data.stageId === null || item.data.stageId === undefined || item.data.stageId === '') item.data.stageId = stages[0]!.STATUS_ID;
    const stage = stages.find((s) => s.STATUS_ID === item.data.stageId);
    // The portal refuses a stage of another pipeline (error code unverified; docs/reference/bitrix24.md#stages describes stageId).
    if (!stage) throw new RestError('INVALID_ARG_VALUE', `Stage ${String(item.data.stageId)} not found in pipeline ${categoryId}`, 400);
    item.data.stageSemanticId = semanticId(stage.SEMANTICS);
    if (item.entityTypeId === QUOTE) item.data.closed = stage.SEMANTICS ? 'Y' : 'N';
  }

  createItem(entityTypeId: number, fields: Record<string, unknown>, ctx: WriteCtx): CrmItem {
    const store = this.itemStore(entityTypeId);
    const now = isoDate(this.now());
    const by = ctx.userId ?? 1;
    const item: CrmItem = { entityTypeId, data: {}, uf: {} };
    if (entityTypeId === SMART_INVOICE) {
      const cat = fields.categoryId ?? fields.CATEGORY_ID;
      if (cat !== undefined && !this.categories.some((c) => c.entityTypeId === SMART_INVOICE && c.id === toInt(cat, -1))) {
        throw new RestError('INVALID_ARG_VALUE', `Category ${String(cat)} not found`, 400);
      }
      item.data.categoryId = cat === undefined ? this.defaultCategory(SMART_INVOICE) : toInt(cat);
    }
    item.data.opened = 'Y';
    item.data.assignedById = by;
    item.data.currencyId = 'USD';
    item.data.opportunity = 0;
    item.data.taxValue = 0;
    item.data.isManualOpportunity = 'N';
    item.data.companyId = 0;
    item.data.contactId = 0;
    item.data.contactIds = [];
    item.data.mycompanyId = 0;
    this.applyFields(item, fields);
    if (entityTypeId === SMART_INVOICE && 'categoryId' in item.data) item.data.categoryId = toInt(item.data.categoryId);
    if (entityTypeId === COMPANY && !item.data.title) throw new RestError('CRM_FIELD_ERROR_REQUIRED', 'Field "Company name" is required', 400);
    this.checkStage(item);
    const id = this.nextId(`item${entityTypeId}`);
    Object.assign(item.data, { id, createdTime: now, updatedTime: now, createdBy: by, updatedBy: by, movedBy: by, movedTime: now });
    if (entityTypeId === SMART_INVOICE) {
      item.data.title ??= `Invoice #${id}`;
      item.data.accountNumber ??= `INV-${String(id).padStart(5, '0')}`;
      item.data.begindate ??= now.slice(0, 10) + 'T00:00:00+00:00';
    }
    if (entityTypeId === QUOTE) {
      item.data.title ??= `Estimate #${id}`;
      item.data.quoteNumber ??= String(id);
    }
    store.set(id, item);
    this.raise(itemEvent(entityTypeId, 'ADD'), itemEventFields(entityTypeId, id), ctx);
    return item;
  }

  updateItem(entityTypeId: number, id: number, fields: Record<string, unknown>, ctx: WriteCtx): CrmItem {
    const item = this.getItem(entityTypeId, id);
    const before = { ...item.data };
    const draft: CrmItem = { entityTypeId, data: { ...item.data }, uf: { ...item.uf } };
    if (entityTypeId === SMART_INVOICE && (fields.categoryId !== undefined || fields.CATEGORY_ID !== undefined)) {
      const cat = toInt(fields.categoryId ?? fields.CATEGORY_ID, -1);
      if (!this.categories.some((c) => c.entityTypeId === SMART_INVOICE && c.id === cat)) throw new RestError('INVALID_ARG_VALUE', `Category ${cat} not found`, 400);
      if (cat !== before.categoryId && fields.stageId === undefined && fields.STAGE_ID === undefined) draft.data.stageId = null;
    }
    this.applyFields(draft, fields);
    if (entityTypeId === SMART_INVOICE) draft.data.categoryId = toInt(draft.data.categoryId);
    this.checkStage(draft);
    const now = isoDate(this.now());
    draft.data.updatedTime = now;
    draft.data.updatedBy = ctx.userId ?? 1;
    if (draft.data.stageId !== before.stageId) {
      draft.data.previousStageId = before.stageId;
      draft.data.movedBy = ctx.userId ?? 1;
      draft.data.movedTime = now;
    }
    item.data = draft.data;
    item.uf = draft.uf;
    this.raise(itemEvent(entityTypeId, 'UPDATE'), itemEventFields(entityTypeId, id), ctx);
    return item;
  }

  deleteItem(entityTypeId: number, id: number, ctx: WriteCtx): void {
    this.getItem(entityTypeId, id);
    this.itemStore(entityTypeId).delete(id);
    const ot = OWNER_TYPE[entityTypeId];
    if (ot) this.productRows.delete(`${ot}:${id}`);
    this.raise(itemEvent(entityTypeId, 'DELETE'), itemEventFields(entityTypeId, id), ctx);
  }

  // endregion ////
  // region Product rows ////

  rowsOf(ownerType: string, ownerId: number): ProductRow[] {
    return this.productRows.get(`${ownerType}:${ownerId}`) ?? [];
  }

  /**
   * Replaces all rows of an owner (crm.item.productrow.set) and recomputes the owner's amount unless it is in
   * manual mode. Prices are per unit; `price` is after discount with tax (docs/reference/bitrix24.md#product-rows; fixture
   * rest.crm.item.productrow.list.response.json: 90000 @ 10% tax → priceExclusive 81818.18); the arithmetic and its
   * sources are in row-math.ts.
   * The owner's amount changes, so the owner's UPDATE event is raised (assumption: the item is saved).
   */
  setRows(entityTypeId: number, ownerId: number, rows: Array<Record<string, unknown>>, ctx: WriteCtx): ProductRow[] {
    const ownerType = OWNER_TYPE[entityTypeId];
    const store = this.items.get(entityTypeId);
    const owner = store?.get(ownerId);
    // Source: docs/reference/bitrix24.md#product-rows, fixture rest.crm.item.productrow.add.error.OWNER_NOT_FOUND.response.json.
    if (!ownerType || !owner) throw new RestError('OWNER_NOT_FOUND', 'Owner was not found', 400);
    const built = rows.map((r, i) => this.buildRow(ownerType, ownerId, r, i));
    this.productRows.set(`${ownerType}:${ownerId}`, built);
    if (owner.data.isManualOpportunity !== 'Y') {
      const { opportunity, taxValue } = documentAmount(built);
      owner.data.opportunity = opportunity;
      owner.data.taxValue = taxValue;
    }
    owner.data.updatedTime = isoDate(this.now());
    owner.data.updatedBy = ctx.userId ?? 1;
    this.raise(itemEvent(entityTypeId, 'UPDATE'), itemEventFields(entityTypeId, ownerId), ctx);
    return built;
  }

  private buildRow(ownerType: string, ownerId: number, r: Record<string, unknown>, i: number): ProductRow {
    const g = (camel: string, upper: string) => (r[camel] !== undefined ? r[camel] : r[upper]);
    const productId = toInt(g('productId', 'PRODUCT_ID'), 0);
    const product = productId ? this.products.get(productId) : undefined;
    const taxRateRaw = g('taxRate', 'TAX_RATE');
    const num = (v: unknown) => (v === undefined || v === null || v === '' ? undefined : Number(v));
    const stored = storeRow({
      price: num(g('price', 'PRICE')),
      priceExclusive: num(g('priceExclusive', 'PRICE_EXCLUSIVE')),
      quantity: num(g('quantity', 'QUANTITY')) ?? 1,
      taxRate: taxRateRaw === undefined || taxRateRaw === null || taxRateRaw === '' ? null : Number(taxRateRaw),
      taxIncluded: isYes(g('taxIncluded', 'TAX_INCLUDED')),
      discountTypeId: toInt(g('discountTypeId', 'DISCOUNT_TYPE_ID'), 2),
      discountRate: num(g('discountRate', 'DISCOUNT_RATE')),
      discountSum: num(g('discountSum', 'DISCOUNT_SUM')),
    });
    return {
      id: this.nextId('row', 1000),
      ownerId,
      ownerType,
      productId,
      productName: String(g('productName', 'PRODUCT_NAME') ?? product?.fields.name ?? ''),
      ...stored,
      priceAccount: stored.price,
      customized: 'Y',
      measureCode: toInt(g('measureCode', 'MEASURE_CODE'), 796),
      measureName: String(g('measureName', 'MEASURE_NAME') ?? 'pcs'),
      sort: toInt(g('sort', 'SORT'), (i + 1) * 10),
      xmlId: (g('xmlId', 'XML_ID') as string | undefined) ?? null,
      type: toInt(g('type', 'TYPE'), productId ? 1 : 4),
      storeId: null,
    };
  }

  // endregion ////
  // region Classic invoices (crm.invoice.*) ////

  /**
   * Old invoices: UPPER_CASE fields, `STATUS_ID` from INVOICE_STATUS, `PRODUCT_ROWS` with `VAT_RATE` as a
   * coefficient; events ONCRMINVOICEADD/UPDATE/DELETE and ONCRMINVOICESETSTATUS on a status change.
   * Source: docs/reference/bitrix24.md#classic-invoices. No response example exists in
   * the docs (fixtures README), so the shape follows the field table.
   */
  saveClassicInvoice(id: number | null, fields: Record<string, unknown>, ctx: WriteCtx): number {
    const now = isoDate(this.now());
    const existing = id === null ? null : this.classicInvoices.get(id);
    if (id !== null && !existing) throw new RestError('', 'Invoice is not found', 400);
    const inv: ClassicInvoice = existing ? { fields: { ...existing.fields }, rows: existing.rows } : { fields: {}, rows: [] };
    const prevStatus = existing?.fields.STATUS_ID;
    for (const [k, v] of Object.entries(fields)) {
      if (k === 'PRODUCT_ROWS' || k === 'ID') continue;
      if (k.startsWith('UF_') && !this.userFields.some((u) => u.entityId === 'CRM_INVOICE' && u.fieldName === k) && !['UF_COMPANY_ID', 'UF_CONTACT_ID', 'UF_DEAL_ID', 'UF_QUOTE_ID', 'UF_MYCOMPANY_ID'].includes(k)) continue;
      inv.fields[k] = v;
    }
    if (!existing) {
      if (!inv.fields.ORDER_TOPIC) throw new RestError('', 'The field "Topic" is required.', 400);
      inv.fields.STATUS_ID ??= 'N';
      inv.fields.CURRENCY ??= 'USD';
      inv.fields.PERSON_TYPE_ID ??= '1';
      inv.fields.PAY_SYSTEM_ID ??= '1';
      inv.fields.RESPONSIBLE_ID ??= String(ctx.userId ?? 1);
      inv.fields.DATE_BILL ??= now.slice(0, 10) + 'T00:00:00+00:00';
      inv.fields.DATE_INSERT = now;
    }
    const status = this.statuses.find((s) => s.ENTITY_ID === 'INVOICE_STATUS' && s.STATUS_ID === inv.fields.STATUS_ID);
    if (!status) throw new RestError('', `Status ${String(inv.fields.STATUS_ID)} is not found`, 400);
    if (Array.isArray(fields.PRODUCT_ROWS)) {
      inv.rows = (fields.PRODUCT_ROWS as Array<Record<string, unknown>>).map((r) => ({
        ID: String(this.nextId('invrow', 500)),
        PRODUCT_ID: String(r.PRODUCT_ID ?? '0'),
        PRODUCT_NAME: String(r.PRODUCT_NAME ?? ''),
        PRICE: Number(r.PRICE ?? 0),
        QUANTITY: Number(r.QUANTITY ?? 1),
        VAT_RATE: Number(r.VAT_RATE ?? 0),
        VAT_INCLUDED: isYes(r.VAT_INCLUDED ?? 'Y') ? 'Y' : 'N',
        DISCOUNT_PRICE: Number(r.DISCOUNT_PRICE ?? 0),
        MEASURE_CODE: String(r.MEASURE_CODE ?? '796'),
        MEASURE_NAME: String(r.MEASURE_NAME ?? 'pcs'),
        CUSTOMIZED: 'Y',
        SORT: String(r.SORT ?? '100'),
      }));
    } else if (!existing && fields.PRODUCT_ROWS === undefined) {
      inv.rows = [];
    }
    let total = 0;
    let tax = 0;
    for (const r of inv.rows) {
      const line = Number(r.PRICE) * Number(r.QUANTITY);
      const rate = Number(r.VAT_RATE);
      if (r.VAT_INCLUDED === 'Y') { total += line; tax += line - line / (1 + rate); }
      else { total += line * (1 + rate); tax += line * rate; }
    }
    inv.fields.PRICE = round2(total).toFixed(2);
    inv.fields.TAX_VALUE = round2(tax).toFixed(2);
    inv.fields.PAYED = status.SEMANTICS === 'S' ? 'Y' : 'N';
    inv.fields.DATE_UPDATE = now;
    if (prevStatus !== inv.fields.STATUS_ID) inv.fields.DATE_STATUS = now;
    const newId = existing ? id! : this.nextId('classicInvoice');
    inv.fields.ID = String(newId);
    inv.fields.ACCOUNT_NUMBER ??= `CI-${String(newId).padStart(5, '0')}`;
    this.classicInvoices.set(newId, inv);
    this.raise(existing ? 'ONCRMINVOICEUPDATE' : 'ONCRMINVOICEADD', { ID: newId }, ctx);
    if (existing && prevStatus !== inv.fields.STATUS_ID) this.raise('ONCRMINVOICESETSTATUS', { ID: newId }, ctx);
    return newId;
  }

  deleteClassicInvoice(id: number, ctx: WriteCtx): void {
    if (!this.classicInvoices.has(id)) throw new RestError('', 'Invoice is not found', 400);
    this.classicInvoices.delete(id);
    this.raise('ONCRMINVOICEDELETE', { ID: id }, ctx);
  }

  renderClassicInvoice(id: number): Record<string, unknown> {
    const inv = this.classicInvoices.get(id);
    if (!inv) throw new RestError('', 'Invoice is not found', 400);
    const out: Record<string, unknown> = { ...inv.fields };
    for (const uf of this.userFields.filter((u) => u.entityId === 'CRM_INVOICE')) out[uf.fieldName] ??= null;
    out.PRODUCT_ROWS = inv.rows.map((r) => ({ ...r }));
    return out;
  }

  // endregion ////
  // region Catalog ////

  /** Writes a product; raises CATALOG.PRODUCT.ON.ADD/UPDATE with `{ID, TYPE}` (fixtures event.CATALOG.PRODUCT.ON.*.json). */
  saveProduct(id: number | null, fields: Record<string, unknown>, ctx: WriteCtx): Product {
    const now = isoDate(this.now());
    let p = id === null ? undefined : this.products.get(id);
    if (id !== null && !p) throw new RestError(100, `Product ${id} is not exists`, 400);
    const isNew = !p;
    if (!p) {
      const iblockId = toInt(fields.iblockId, 0);
      if (iblockId !== CATALOG_IBLOCK_ID) throw new RestError(200040300020, 'Required field "iblockId" is missing or not a catalog', 400);
      if (!fields.name) throw new RestError(200040300020, 'Required field "name" is missing', 400);
      const newId = this.nextId('product', 1243);
      p = {
        fields: {
          id: newId, iblockId, name: '', active: 'Y', available: 'Y', bundle: 'N', canBuyZero: 'Y', code: null, xmlId: String(newId),
          createdBy: ctx.userId ?? 1, modifiedBy: ctx.userId ?? 1, dateCreate: now, timestampX: now, sort: 100, type: 1,
          measure: 5, vatId: 1, vatIncluded: 'Y', purchasingPrice: null, purchasingCurrency: 'USD', quantity: 0,
          previewText: null, detailText: null, iblockSectionId: null,
        },
        props: new Map(),
      };
      this.products.set(newId, p);
    }
    for (const [k, v] of Object.entries(fields)) {
      const m = /^property(\d+)$/.exec(k);
      if (m) {
        const propId = Number(m[1]);
        const prop = this.productProperties.find((x) => x.id === propId);
        if (!prop) throw new RestError(200040300020, `Property ${propId} is not found`, 400);
        const values = (Array.isArray(v) ? v : [v]).filter((x) => x !== null && x !== undefined);
        const current = p.props.get(propId) ?? [];
        p.props.set(propId, values.map((x) => {
          const o: Record<string, unknown> = typeof x === 'object' ? (x as Record<string, unknown>) : { value: x };
          const keep = o.valueId !== undefined ? current.find((c) => c.valueId === String(o.valueId)) : undefined;
          return { valueId: keep?.valueId ?? String(this.nextId('propValue', 9743)), value: String(o.value ?? '') };
        }).filter((x) => x.value !== ''));
        continue;
      }
      if (k === 'id' || k === 'iblockId') continue; // the catalog is fixed at creation (and kept a number, as the portal stores it)
      p.fields[k] = v;
    }
    p.fields.timestampX = now;
    p.fields.modifiedBy = ctx.userId ?? 1;
    this.raise(isNew ? 'CATALOG.PRODUCT.ON.ADD' : 'CATALOG.PRODUCT.ON.UPDATE', { ID: p.fields.id, TYPE: p.fields.type }, ctx);
    return p;
  }

  /** Product as catalog.product.get prints it: `propertyN: {value, valueId}` (multiple: array). Source: fixture. */
  renderProduct(p: Product): Record<string, unknown> {
    const out: Record<string, unknown> = { ...p.fields };
    for (const prop of this.productProperties.filter((x) => x.iblockId === p.fields.iblockId)) {
      const vals = p.props.get(prop.id) ?? [];
      out[`property${prop.id}`] = prop.multiple === 'Y' ? vals.map((v) => ({ ...v })) : vals[0] ? { ...vals[0] } : null;
    }
    return out;
  }

  // endregion ////
}

type Fm = Array<{ id: number; valueType: string; value: string; typeId: string }>;

/** Flat multifield keys crm.item adds (`emailWork`, `phoneWork`, `email`, `phone`, …). Source: docs/reference/bitrix24.md#crm-items fixture. */
function flatMultifields(fm: Fm | null | undefined): Record<string, unknown> {
  const list = fm ?? [];
  const first = (type: string, vt?: string) => list.find((x) => x.typeId === type && (!vt || x.valueType === vt))?.value ?? '';
  return {
    hasPhone: list.some((x) => x.typeId === 'PHONE') ? 'Y' : 'N',
    hasEmail: list.some((x) => x.typeId === 'EMAIL') ? 'Y' : 'N',
    emailWork: first('EMAIL', 'WORK'),
    phoneWork: first('PHONE', 'WORK'),
    email: first('EMAIL'),
    phone: first('PHONE'),
  };
}

let fmSeq = 100;
function normalise(def: FieldDef, v: unknown): unknown {
  if (def.key === 'fm') {
    return (Array.isArray(v) ? v : []).map((x: Record<string, unknown>) => ({
      id: toInt(x.id ?? x.ID, ++fmSeq),
      valueType: String(x.valueType ?? x.VALUE_TYPE ?? 'WORK'),
      value: String(x.value ?? x.VALUE ?? ''),
      typeId: String(x.typeId ?? x.TYPE_ID ?? 'EMAIL'),
    }));
  }
  if (def.multiple) return (Array.isArray(v) ? v : v === null || v === '' ? [] : [v]).map((x) => (def.type === 'user' || def.type.startsWith('crm_') ? toInt(x) : x));
  if (v === null) return null;
  switch (def.type) {
    case 'integer': case 'user': case 'crm_company': case 'crm_contact': case 'crm_category': case 'crm_entity': case 'crm_deal': case 'crm_lead':
      return toInt(v);
    case 'double': return Number(v);
    case 'boolean': return isYes(v) ? 'Y' : 'N';
    default: return v;
  }
}

/** Event names per entity type. Source: docs/reference/bitrix24.md#events (dynamic items, quotes, contacts, companies). */
export function itemEvent(entityTypeId: number, action: 'ADD' | 'UPDATE' | 'DELETE'): string {
  switch (entityTypeId) {
    case QUOTE: return `ONCRMQUOTE${action}`;
    case CONTACT: return `ONCRMCONTACT${action}`;
    case COMPANY: return `ONCRMCOMPANY${action}`;
    default: return `ONCRMDYNAMICITEM${action}`;
  }
}

/** `data[FIELDS]`: ID, plus ENTITY_TYPE_ID for dynamic items (fixtures event.ONCRMDYNAMICITEM*.json). */
export function itemEventFields(entityTypeId: number, id: number): Record<string, unknown> {
  return entityTypeId === QUOTE || entityTypeId === CONTACT || entityTypeId === COMPANY ? { ID: id } : { ID: id, ENTITY_TYPE_ID: entityTypeId };
}
