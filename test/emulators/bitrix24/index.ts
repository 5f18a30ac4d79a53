/**
 * Bitrix24 portal emulator: a self-hosted portal with one local application, for tests, benchmarks and the demo.
 * See README.md beside this file for every behaviour and its source.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeForm } from './form.js';
import { isoDate, randomToken } from './core.js';
import { Portal, type AppRegistration, type CrmItem, type WriteCtx, CATALOG_IBLOCK_ID } from './portal.js';
import { RestService, buildRestApp, STANDARD_BUCKET, type BucketStats, type CallLogEntry, type Faults, type LeakyBucket, type OperatingLimit } from './server.js';
import { mountShell, type FrameMessage } from './shell.js';
import { seedDemo } from './seed.js';
import { SMART_INVOICE, QUOTE, COMPANY, CONTACT } from './model.js';
import type { Binding, Delivery, OfflineRecord } from './events.js';

export { SMART_INVOICE, QUOTE, COMPANY, CONTACT };
export type { Binding, Delivery, OfflineRecord, CallLogEntry, Faults, FrameMessage, OperatingLimit, LeakyBucket, BucketStats };
export { STANDARD_BUCKET };

export interface StartOptions {
  /** TCP port on 127.0.0.1. (Default: 0 = any free port) */
  port?: number;
  /** The portal's member_id. (Default: random 32 hex chars) */
  memberId?: string;
  /** The portal's domain as the app sees it. (Default: `127.0.0.1:${port}`) */
  domain?: string;
  /** Lifetime of access tokens in seconds. (Default: 3600, docs/reference/bitrix24.md#oauth-tokens) */
  accessTokenTtlSeconds?: number;
  /** Cloud-style leaky bucket (LeakyBucket, e.g. STANDARD_BUCKET); self-hosted portals have none by default (docs/reference/bitrix24.md#limits). (Default: false) */
  leakyBucket?: LeakyBucket | false;
  /** Seed companies, contacts, products, invoices, quotes and classic invoices. (Default: false) */
  seedDemo?: boolean;
  /**
   * Another emulator whose OAuth server renews this portal's tokens, as oauth.bitrix.info does for every portal:
   * a second portal on the same OAuth server. (Default: none; this emulator is its own OAuth server)
   */
  oauthServer?: Bitrix24Emulator;
  /**
   * The portal's clock: when documents are created, changed and moved, their default dates, and each event's `ts` — e.g.
   * a clock running a month behind for the demo's month of business. Tokens and the REST limits run on the system
   * clock. (Default: the system clock)
   */
  clock?: { now(): number };
}

export interface HeldBatchAnswer {
  held: Promise<unknown>;
  lost: Promise<void>;
  release(): void;
}

export interface HttpAnswer { status: number; body: string; headers: Record<string, string> }

/** What a user does in the portal UI; every write raises the event the portal would. `userId: null` = automation. */
export interface UserActions {
  createSmartInvoice(fields?: Record<string, unknown>): Record<string, unknown>;
  createQuote(fields?: Record<string, unknown>): Record<string, unknown>;
  createCompany(fields: Record<string, unknown>): Record<string, unknown>;
  createContact(fields: Record<string, unknown>): Record<string, unknown>;
  createItem(entityTypeId: number, fields: Record<string, unknown>): Record<string, unknown>;
  updateItem(entityTypeId: number, id: number, fields: Record<string, unknown>): Record<string, unknown>;
  moveStage(entityTypeId: number, id: number, stageId: string): Record<string, unknown>;
  setProductRows(entityTypeId: number, id: number, rows: Array<Record<string, unknown>>): void;
  deleteItem(entityTypeId: number, id: number): void;
  createClassicInvoice(fields: Record<string, unknown>): Record<string, unknown>;
  updateClassicInvoice(id: number, fields: Record<string, unknown>): Record<string, unknown>;
  setClassicInvoiceStatus(id: number, statusId: string): Record<string, unknown>;
  deleteClassicInvoice(id: number): void;
  createProduct(fields: Record<string, unknown>): Record<string, unknown>;
  updateProduct(id: number, fields: Record<string, unknown>): Record<string, unknown>;
}

export interface Bitrix24Emulator {
  readonly baseUrl: string;
  readonly clientEndpoint: string;
  readonly memberId: string;
  readonly domain: string;
  /** The state behind the emulator, for assertions the helpers below do not cover. */
  readonly portal: Portal;
  close(): Promise<void>;
  /** Empties the portal (app, tokens, data, bindings, logs); seeds the demo data again when started with seedDemo. */
  reset(): void;
  seedDemo(): void;

  /** `clientId`/`clientSecret`: the same app on a second portal (one client for every portal, as a Marketplace app). */
  registerApp(opts: { handlerUrl: string; installUrl?: string; scopes?: string[]; apiOnly?: boolean; clientId?: string; clientSecret?: string }): { clientId: string; clientSecret: string };
  /** `lang`: the admin's interface language, sent as LANG (default 'en'). */
  install(opts?: { userId?: number; lang?: string }): Promise<HttpAnswer>;
  installApiOnly(opts?: { userId?: number }): Promise<HttpAnswer>;
  /** Marks the app installed without any HTTP call and returns install tokens (standalone/demo use). */
  installSilently(opts?: { userId?: number }): { accessToken: string; refreshToken: string; applicationToken: string };
  finishInstall(): void;
  app(): (AppRegistration & { installed: boolean; applicationToken: string | null }) | null;
  update(): Promise<void>;
  uninstall(opts?: { clean?: boolean }): Promise<void>;
  frameAuth(userId: number): Record<string, string>;
  /** Fresh install-style tokens for a user (as an admin would get them), e.g. to build a B24OAuth client. */
  issueTokens(userId: number, opts?: { clientId?: string }): { accessToken: string; refreshToken: string; expires: number; expiresIn: number };
  /**
   * Another local application installed on the same portal: its own client id, secret, application token and
   * tokens (which `app.info` answers for that app, not for the main one).
   */
  installOtherApp(opts?: { scopes?: string[] }): { clientId: string; clientSecret: string; applicationToken: string };
  /** A portal user (non-admin unless `admin`), who gets tokens of their own like any other user. */
  addUser(user: { name: string; lastName?: string; admin?: boolean }): number;
  /** Withholds a user's CRM read permission for an entity type (every item, or the listed ids); 5 = classic invoices. */
  denyRead(userId: number, entityTypeId: number, ids?: number[]): void;
  /** Withholds a user's CRM create permission for an entity type (legacy `crm.company/contact.add` answer "Access denied."). */
  denyCreate(userId: number, entityTypeId: number): void;
  /** Withholds that user's read permission for one pipeline (funnel) of a type: its items, and the pipeline in crm.category.list. */
  denyCategory(userId: number, entityTypeId: number, categoryId: number): void;
  /** Withholds that user's permission to view the product catalog. */
  denyCatalog(userId: number): void;
  expireAccessTokens(): void;
  /** Test control: refresh requests at /oauth/token/ wait for `gate` before they are looked at; null lets them through. */
  holdRefreshes(gate: (() => Promise<void>) | null): void;
  setAccessTokenTtl(seconds: number): void;
  /**
   * Test control, a lost answer on the wire: the next `batch` call whose command lines (`method?query`) satisfy
   * `match` is applied in full, then its answer is held until `release()` or until the caller's connection closes
   * (the caller died: what the batch wrote stays, its answer reaches nobody). `held` resolves with the withheld
   * answer once the batch has been applied; `lost` once the caller went away without it. With `beforeApplying` the
   * request is held before any command runs (it never got to the portal's code): a caller that dies leaves nothing.
   */
  holdBatchAnswer(match?: (commands: string[]) => boolean, opts?: { beforeApplying?: boolean }): HeldBatchAnswer;

  actAs(userId: number | null): UserActions;

  bindings(): Binding[];
  placements(): Portal['placements'];
  userFields(): Portal['userFields'];
  productProperties(): Portal['productProperties'];
  triggers(): Portal['triggers'];
  triggerExecutions(): Portal['triggerExecutions'];
  items(entityTypeId: number): Array<Record<string, unknown>>;
  productRows(entityTypeId: number, id: number): Portal['productRows'] extends Map<string, infer R> ? R : never;
  classicInvoices(): Array<Record<string, unknown>>;
  products(): Array<Record<string, unknown>>;
  timelineComments(): Portal['timelineComments'];
  offlineQueue(): OfflineRecord[];
  readonly frameMessages: FrameMessage[];

  readonly deliveryLog: Delivery[];
  flushEvents(): Promise<void>;
  setEventDelivery(enabled: boolean): void;

  setFaults(faults: Faults): void;
  /** The portal's clock runs `offsetMs` ahead of this machine's (negative: behind): CRM times and `server.time` follow it. */
  setClock(offsetMs: number): void;
  /** Turns on the per-method operating-time limit (429 OPERATION_TIME_LIMIT once spent), or off with `false`. */
  setOperatingLimit(limit: OperatingLimit | false): void;
  /** Turns the portal's leaky bucket on (empty) or off. */
  setLeakyBucket(bucket: LeakyBucket | false): void;
  /** Requests the bucket took and refused since the last reset (the connector's and the other apps'). */
  bucketStats(): BucketStats;
  readonly callLog: CallLogEntry[];
  readonly counters: Record<string, number>;
  /** Per REST method (`app.info`, `oauth/token`, …): the most requests in flight at once since the last reset. */
  peakConcurrency(): Record<string, number>;
  resetCounters(): void;
}

function headersOf(h: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  h.forEach((v, k) => { out[k] = v; });
  return out;
}

/** The REST/OAuth service behind each emulator, so a second portal can be served by the first one's OAuth server. */
const services = new WeakMap<Bitrix24Emulator, RestService>();

const hex = (n: number) => Array.from({ length: n }, () => '0123456789abcdef'[Math.floor(Math.random() * 16)]).join('');

export async function startBitrix24Emulator(opts: StartOptions = {}): Promise<Bitrix24Emulator> {
  const portal = new Portal({ memberId: opts.memberId ?? hex(32), domain: '', baseUrl: '', accessTokenTtlSeconds: opts.accessTokenTtlSeconds ?? 3600, clock: opts.clock });
  const svc = new RestService(portal, opts.leakyBucket ?? false);
  const app = buildRestApp(svc);
  const frameMessages: FrameMessage[] = [];

  const frameAuth = (userId: number): Record<string, string> => {
    const a = portal.app;
    if (!a || !a.present) throw new Error('The app is not installed');
    portal.user(userId);
    const { access, refresh } = portal.issueTokens(userId);
    // Source: fixtures app-page.post.json / placement.CRM_DEAL_DETAIL_TAB.post.json (all values strings).
    return {
      DOMAIN: portal.domain, PROTOCOL: '0', LANG: 'en', APP_SID: a.appSid,
      AUTH_ID: access.token, AUTH_EXPIRES: String(portal.accessTokenTtlSeconds), REFRESH_ID: refresh.token,
      SERVER_ENDPOINT: portal.serverEndpoint, APPLICATION_TOKEN: a.applicationToken ?? '', APPLICATION_SCOPE: a.scopes.join(','),
      member_id: portal.memberId, status: 'L',
    };
  };

  const finishInstall = () => {
    const a = requireApp();
    if (a.installed) throw new Error('Application was previously installed. You cannot call installFinish');
    a.installed = true;
    // Assumption: handlers bound to ONAPPINSTALL in the installer hear of the finished installation.
    for (const b of portal.bindings.filter((x) => x.event === 'ONAPPINSTALL' && !x.offline)) {
      portal.delivery.send(b.handler, portal.eventBody('ONAPPINSTALL', { VERSION: String(a.version), ACTIVE: 'Y', INSTALLED: 'Y', LANGUAGE_ID: 'en' }, b, 1), { event: 'ONAPPINSTALL', bindingId: b.id });
    }
  };
  mountShell(app, portal, { frameAuth, finishInstall, frameMessages });

  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `http://127.0.0.1:${port}`;
  portal.baseUrl = baseUrl;
  portal.domain = opts.domain ?? `127.0.0.1:${port}`;
  if (opts.oauthServer) {
    portal.oauthBaseUrl = opts.oauthServer.baseUrl;
    services.get(opts.oauthServer)!.peers.push(portal);
  }
  if (opts.seedDemo) seedDemo(portal);

  function requireApp(): AppRegistration {
    if (!portal.app) throw new Error('No app registered: call registerApp() first');
    return portal.app;
  }

  const post = async (url: string, body: Record<string, unknown>): Promise<HttpAnswer> => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: encodeForm(body), redirect: 'manual' });
    return { status: res.status, body: await res.text(), headers: headersOf(res.headers) };
  };

  const render = (it: CrmItem) => portal.renderItem(it);

  const actAs = (userId: number | null): UserActions => {
    if (userId !== null) portal.user(userId);
    const ctx: WriteCtx = { userId };
    return {
      createSmartInvoice: (fields = {}) => render(portal.createItem(SMART_INVOICE, fields, ctx)),
      createQuote: (fields = {}) => render(portal.createItem(QUOTE, fields, ctx)),
      createCompany: (fields) => render(portal.createItem(COMPANY, fields, ctx)),
      createContact: (fields) => render(portal.createItem(CONTACT, fields, ctx)),
      createItem: (et, fields) => render(portal.createItem(et, fields, ctx)),
      updateItem: (et, id, fields) => render(portal.updateItem(et, id, fields, ctx)),
      moveStage: (et, id, stageId) => render(portal.updateItem(et, id, { stageId }, ctx)),
      setProductRows: (et, id, rows) => void portal.setRows(et, id, rows, ctx),
      deleteItem: (et, id) => portal.deleteItem(et, id, ctx),
      createClassicInvoice: (fields) => portal.renderClassicInvoice(portal.saveClassicInvoice(null, fields, ctx)),
      updateClassicInvoice: (id, fields) => portal.renderClassicInvoice(portal.saveClassicInvoice(id, fields, ctx)),
      setClassicInvoiceStatus: (id, statusId) => portal.renderClassicInvoice(portal.saveClassicInvoice(id, { STATUS_ID: statusId }, ctx)),
      deleteClassicInvoice: (id) => portal.deleteClassicInvoice(id, ctx),
      createProduct: (fields) => portal.renderProduct(portal.saveProduct(null, { iblockId: CATALOG_IBLOCK_ID, ...fields }, ctx)),
      updateProduct: (id, fields) => portal.renderProduct(portal.saveProduct(id, fields, ctx)),
    };
  };

  const newApp = (handlerUrl: string, scopes: string[] | undefined, apiOnly: boolean): AppRegistration => ({
    clientId: `local.${hex(14)}.${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`,
    clientSecret: randomToken(50),
    handlerUrl,
    installUrl: handlerUrl,
    scopes: scopes ?? ['crm', 'placement', 'catalog', 'userfieldconfig'],
    apiOnly,
    version: 1,
    installed: false,
    present: false,
    applicationToken: null,
    appSid: hex(32),
  });

  const emu: Bitrix24Emulator = {
    baseUrl,
    clientEndpoint: `${baseUrl}/rest/`,
    memberId: portal.memberId,
    get domain() { return portal.domain; },
    portal,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
    reset() {
      portal.reset();
      svc.resetCounters();
      svc.faults = { burst503: 0, burst429: 0, latencyMs: 0, dropRate: 0, dropNext: 0, failMethods: {}, omitAnswers: {}, batchCommandMs: 0 };
      frameMessages.length = 0;
      if (opts.seedDemo) seedDemo(portal);
    },
    seedDemo: () => seedDemo(portal),

    /** Source: docs/reference/bitrix24.md#installation (local application form: client_id `local.…`, client_secret, scopes, API-only). */
    registerApp({ handlerUrl, installUrl, scopes, apiOnly, clientId, clientSecret }) {
      const reg: AppRegistration = {
        ...newApp(handlerUrl, scopes, !!apiOnly),
        installUrl: installUrl ?? handlerUrl,
        ...(clientId ? { clientId } : {}),
        ...(clientSecret ? { clientSecret } : {}),
      };
      portal.app = reg;
      return { clientId: reg.clientId, clientSecret: reg.clientSecret };
    },

    /**
     * The installer POST of an app with UI: query DOMAIN, PROTOCOL, LANG, APP_SID; form AUTH_ID, AUTH_EXPIRES,
     * REFRESH_ID, SERVER_ENDPOINT, APPLICATION_TOKEN, APPLICATION_SCOPE, member_id, status, PLACEMENT=DEFAULT,
     * PLACEMENT_OPTIONS. INSTALLED stays false until installFinish. Source: docs/reference/bitrix24.md#installation; app-page.post.json.
     */
    async install({ userId = 1, lang = 'en' } = {}) {
      const a = requireApp();
      if (!portal.user(userId).admin) throw new Error('Only administrators install applications');
      a.present = true;
      a.applicationToken ??= hex(32);
      const auth: Record<string, string> = { ...frameAuth(userId), LANG: lang };
      const url = new URL(a.installUrl);
      for (const k of ['DOMAIN', 'PROTOCOL', 'LANG', 'APP_SID'] as const) url.searchParams.set(k, auth[k]!);
      const { DOMAIN: _d, PROTOCOL: _p, LANG: _l, APP_SID: _s, ...form } = auth;
      return post(url.toString(), { ...form, PLACEMENT: 'DEFAULT', PLACEMENT_OPTIONS: '{}' });
    },

    /**
     * API-only app: right after it is added the portal POSTs the ONAPPINSTALL payload (with auth tokens) to the
     * installation path; no installFinish. Source: docs/reference/bitrix24.md#installation; fixture event.ONAPPINSTALL.json.
     */
    async installApiOnly({ userId = 1 } = {}) {
      const a = requireApp();
      if (!portal.user(userId).admin) throw new Error('Only administrators install applications');
      a.present = true;
      a.installed = true;
      a.applicationToken ??= hex(32);
      const body = portal.eventBody('ONAPPINSTALL', { VERSION: String(a.version), ACTIVE: 'Y', INSTALLED: 'Y', LANGUAGE_ID: 'en' }, null, userId);
      const answer = await post(a.installUrl, body);
      portal.delivery.log.push({ at: isoDate(), event: 'ONAPPINSTALL', handler: a.installUrl, body, raw: encodeForm(body), status: answer.status, ok: answer.status < 400 });
      return answer;
    },

    installSilently({ userId = 1 } = {}) {
      const a = requireApp();
      a.present = true;
      a.installed = true;
      a.applicationToken ??= hex(32);
      const { access, refresh } = portal.issueTokens(userId);
      return { accessToken: access.token, refreshToken: refresh.token, applicationToken: a.applicationToken };
    },

    finishInstall,
    app: () => (portal.app ? { ...portal.app } : null),

    /**
     * Version update: ONAPPUPDATE (with the new application token) to handlers bound to it, then every event
     * binding is dropped ("they must be set from scratch in the installer of each version", docs/reference/bitrix24.md#events).
     * Source: docs/reference/bitrix24.md#events, docs/reference/bitrix24.md#installation.
     */
    async update() {
      const a = requireApp();
      const previous = a.version;
      a.version += 1;
      a.applicationToken = hex(32);
      for (const b of portal.bindings.filter((x) => x.event === 'ONAPPUPDATE' && !x.offline)) {
        portal.delivery.send(b.handler, portal.eventBody('ONAPPUPDATE', { VERSION: String(a.version), PREVIOUS_VERSION: String(previous), LANGUAGE_ID: 'en' }, b, 1), { event: 'ONAPPUPDATE', bindingId: b.id }, true);
      }
      await portal.delivery.flush();
      portal.bindings = [];
    },

    /**
     * Removal: the app's REST access is removed first ("all of the app's rights to the REST API are removed, so
     * although the handler receives auth data it can no longer use the API"), then ONAPPUNINSTALL (no tokens in
     * auth, data.CLEAN) goes to bound handlers; bindings, placements and the offline queue are gone.
     * Source: docs/reference/bitrix24.md#events and https://dev.1c-bitrix.ru/rest_help/general/events/onappuninstall.php;
     * fixture event.ONAPPUNINSTALL.json; docs/reference/bitrix24.md#installation, docs/reference/bitrix24.md#placements.
     */
    async uninstall({ clean = false } = {}) {
      const a = requireApp();
      const bodies = portal.bindings.filter((x) => x.event === 'ONAPPUNINSTALL' && !x.offline)
        .map((b) => ({ b, body: portal.eventBody('ONAPPUNINSTALL', { LANGUAGE_ID: 'en', CLEAN: clean ? '1' : '0' }, b, null, false) }));
      portal.revokeAllTokens();
      a.present = false;
      a.installed = false;
      a.applicationToken = null;
      portal.bindings = [];
      portal.placements = [];
      portal.offlineQueue = [];
      for (const { b, body } of bodies) portal.delivery.send(b.handler, body, { event: 'ONAPPUNINSTALL', bindingId: b.id }, true);
      await portal.delivery.flush();
    },

    frameAuth,
    issueTokens(userId, { clientId } = {}) {
      const { access, refresh } = portal.issueTokens(userId, clientId);
      return { accessToken: access.token, refreshToken: refresh.token, expires: Math.floor(access.expiresAt / 1000), expiresIn: portal.accessTokenTtlSeconds };
    },
    installOtherApp({ scopes } = {}) {
      const other = { ...newApp(`https://other-app.example.com/app`, scopes ?? ['crm', 'user_brief'], false), present: true, installed: true, applicationToken: hex(32) };
      portal.otherApps.push(other);
      return { clientId: other.clientId, clientSecret: other.clientSecret, applicationToken: other.applicationToken };
    },
    addUser({ name, lastName = '', admin = false }) {
      const id = Math.max(...portal.users.keys()) + 1;
      portal.users.set(id, { id, name, lastName, email: `user${id}@example.com`, admin });
      return id;
    },
    denyRead(userId, entityTypeId, ids) {
      portal.user(userId);
      portal.readDenials.push({ userId, entityTypeId, ids: ids ?? null });
    },
    denyCategory(userId, entityTypeId, categoryId) {
      portal.user(userId);
      portal.readDenials.push({ userId, entityTypeId, ids: null, categoryId });
    },
    denyCatalog(userId) {
      portal.user(userId);
      portal.catalogDenials.add(userId);
    },
    denyCreate(userId, entityTypeId) {
      portal.user(userId);
      portal.createDenials.push({ userId, entityTypeId });
    },
    expireAccessTokens() {
      for (const t of portal.accessTokens.values()) t.expiresAt = Date.now() - 1;
    },
    setAccessTokenTtl(seconds) { portal.accessTokenTtlSeconds = seconds; },
    holdRefreshes(gate) { svc.refreshGate = gate; },
    holdBatchAnswer(match = () => true, { beforeApplying = false } = {}) {
      let release!: () => void;
      let held!: (answer: unknown) => void;
      let lost!: () => void;
      const released = new Promise<void>((r) => (release = r));
      const hold = { match, beforeApplying, released, held: (a: unknown) => held(a), lost: () => lost() };
      const out: HeldBatchAnswer = {
        held: new Promise((r) => (held = r)), lost: new Promise((r) => (lost = r)),
        release: () => { if (svc.batchHold === hold) svc.batchHold = null; release(); },
      };
      svc.batchHold = hold;
      return out;
    },

    actAs,

    bindings: () => portal.bindings.map((b) => ({ ...b })),
    placements: () => portal.placements.map((p) => ({ ...p })),
    userFields: () => portal.userFields.map((u) => ({ ...u })),
    productProperties: () => portal.productProperties.map((p) => ({ ...p })),
    triggers: () => portal.triggers.map((t) => ({ ...t })),
    triggerExecutions: () => portal.triggerExecutions.map((t) => ({ ...t })),
    items: (et) => [...(portal.items.get(et)?.values() ?? [])].map(render),
    productRows: (et, id) => portal.rowsOf({ 31: 'SI', 7: 'Q', 3: 'C', 4: 'CO' }[et] ?? '', id).map((r) => ({ ...r })),
    classicInvoices: () => [...portal.classicInvoices.keys()].map((id) => portal.renderClassicInvoice(id)),
    products: () => [...portal.products.values()].map((p) => portal.renderProduct(p)),
    timelineComments: () => portal.timelineComments.map((c) => ({ ...c })),
    offlineQueue: () => portal.offlineQueue.map((r) => ({ ...r })),
    frameMessages,

    get deliveryLog() { return portal.delivery.log; },
    flushEvents: () => portal.delivery.flush(),
    setEventDelivery(enabled) { portal.delivery.enabled = enabled; },

    setFaults(f) {
      svc.faults = { burst503: f.burst503 ?? 0, burst429: f.burst429 ?? 0, latencyMs: f.latencyMs ?? 0, dropRate: f.dropRate ?? 0, dropNext: f.dropNext ?? 0, failMethods: { ...f.failMethods }, omitAnswers: { ...f.omitAnswers }, batchCommandMs: f.batchCommandMs ?? 0 };
    },
    setClock(offsetMs) { portal.clockOffsetMs = offsetMs; },
    setOperatingLimit(limit) { svc.operatingLimit = limit ? { ...limit, costSeconds: { ...limit.costSeconds } } : false; },
    setLeakyBucket: (bucket) => svc.setLeakyBucket(bucket),
    bucketStats: () => ({ ...svc.bucketStats }),
    get callLog() { return svc.callLog; },
    get counters() { return svc.counters; },
    peakConcurrency: () => ({ ...svc.peak }),
    resetCounters: () => svc.resetCounters(),
  };
  services.set(emu, svc);
  return emu;
}
