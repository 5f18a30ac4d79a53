// Protocol-faithful, stateful Xero emulator for tests, benchmarks and the demo. See README.md beside this file.
import { createHash, randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Request, type Response } from 'express';
import { Books } from './books.js';
import { endpointKey, routes, type Ctx, type Reply } from './accounting.js';
import { loadSpec, validateBody, type SpecViolation } from './contract.js';
import { bearerOf, Identity } from './identity.js';
import { createTenant, type OrganisationInput, type Tenant } from './state.js';
import { WebhookSender, type WebhookDelivery, type WebhookEvent } from './webhooks.js';
import { deepClone, msDate, newId, parseClientDate, type XeroObject } from './xero-json.js';

export type { SpecViolation } from './contract.js';
export type { WebhookEvent, WebhookDelivery } from './webhooks.js';
export type { XeroObject } from './xero-json.js';

export interface XeroEmulatorOptions {
  /** (Default: 0, a free port) */
  port?: number;
  /** (Default: 'EMULATOR_CLIENT_ID' / 'EMULATOR_CLIENT_SECRET') */
  clientId?: string; clientSecret?: string;
  /** Webhook signing key. (Default: random) */
  webhookKey?: string;
  /**
   * Per-tenant limits. `dayMs` is the length of Xero's rolling day, shorter only in tests (a daily limit whose
   * Retry-After is seconds, not hours). (Default: 5 concurrent, 60 per window, 5000 per day, window 60000 ms, day
   * 86400000 ms; app 10000 per window)
   */
  limits?: { concurrent?: number; perMinute?: number; perDay?: number; windowMs?: number; dayMs?: number; appPerMinute?: number };
  /** (Default: 1800) */
  accessTokenTtlSeconds?: number;
  /** How long a used refresh token may be retried. (Default: 1800) */
  refreshGraceSeconds?: number;
  /** How long an Idempotency-Key answer is kept. (Default: 360000 ms = 6 minutes) */
  idempotencyTtlMs?: number;
  /** Validate request bodies against test/fixtures/xero-openapi/xero_accounting.yaml. (Default: true) */
  specCheck?: boolean;
  /** Seed one demo organisation with contacts and items. (Default: false) */
  seedDemo?: boolean;
  /**
   * The organisations' clock: document dates, UpdatedDateUTC (what If-Modified-Since compares), payments, history,
   * webhook event times, the rate-limit windows, and when tokens and consent codes expire — e.g. a clock running a
   * month behind for the demo's month of business. (Default: the system clock)
   */
  clock?: { now(): number };
}

export interface RequestLogEntry {
  method: string; path: string; query: Record<string, string>; tenant?: string; status: number; time: string; durationMs: number;
  idempotencyKey?: string; endpoint: string; replayed?: boolean;
}
export interface Faults {
  /** Probability 0..1 of answering with one of `statuses` instead of processing. (Default: 0) */
  errorRate?: number;
  /** Statuses drawn for `errorRate`, from 500, 503, 429. (Default: [500, 503]) */
  statuses?: number[];
  /** Added latency per admitted request, counted while the request is in flight. (Default: 0) */
  latencyMs?: number;
  /** Probability 0..1 of dropping the connection before processing. (Default: 0) */
  dropRate?: number;
  /** Probability 0..1 of processing the request and then dropping the connection (a lost answer). (Default: 0) */
  dropResponseRate?: number;
  /**
   * Deterministic alternative to `errorRate`: every n-th API request (counted from `setFaults`) fails with the next
   * of `statuses` in turn, so a test's fault share is exact whatever the number of calls. (Default: off)
   */
  everyNth?: number;
  /**
   * Retry-After of an injected 429 (from `statuses`), seconds: 0, so a test of retries spends no time waiting,
   * unless it asks for a pause. The limits' own 429s always say when the window frees. (Default: 0)
   */
  retryAfterSeconds?: number;
}

interface IdemEntry { fingerprint: string; reply: Reply; at: number }
interface TenantUsage { inFlight: number; minute: number[]; day: number[] }

const API = '/api.xro/2.0';

export class XeroEmulator {
  baseUrl = '';
  readonly clientId: string;
  readonly clientSecret: string;
  readonly identity: Identity;
  requestLog: RequestLogEntry[] = [];
  counters = { calls: {} as Record<string, number>, served429: 0, maxInFlight: 0, total: 0, faultsInjected: 0, dropped: 0, replays: 0 };

  private server?: Server;
  private readonly tenantMap = new Map<string, Tenant>();
  private readonly books: Books;
  private readonly webhook: WebhookSender;
  private readonly idem = new Map<string, IdemEntry>();
  private tenantUsage = new Map<string, TenantUsage>();
  private appMinute: number[] = [];
  private faults: Faults = {};
  private faultSeq = 0;
  private afterAnswers: { matches: (request: RequestLogEntry) => boolean; action: (answer: unknown) => void }[] = [];
  private violations: SpecViolation[] = [];
  private inFlightTotal = 0;
  private readonly limits: Required<NonNullable<XeroEmulatorOptions['limits']>>;
  private readonly routeTable: ReturnType<typeof routes>;

  readonly clock: { now(): number };

  constructor(private readonly opts: XeroEmulatorOptions = {}) {
    this.clock = opts.clock ?? { now: () => Date.now() };
    this.clientId = opts.clientId ?? 'EMULATOR_CLIENT_ID';
    this.clientSecret = opts.clientSecret ?? 'EMULATOR_CLIENT_SECRET';
    // Source: docs/reference/xero.md#rate-limits (5 concurrent, 60/minute, 5,000/day per tenant; 10,000/minute per app).
    this.limits = { concurrent: 5, perMinute: 60, perDay: 5000, windowMs: 60_000, dayMs: 86_400_000, appPerMinute: 10_000, ...opts.limits };
    this.identity = new Identity({
      clientId: this.clientId, clientSecret: this.clientSecret,
      accessTokenTtlSeconds: opts.accessTokenTtlSeconds ?? 1800, refreshGraceSeconds: opts.refreshGraceSeconds ?? 1800,
      allTenantIds: () => [...this.tenantMap.keys()],
      tenantInfo: (id) => { const t = this.tenantMap.get(id); return t && { name: t.organisation.Name, createdMs: t.connectionCreatedMs }; },
      now: () => this.clock.now(),
    });
    this.books = new Books((tenantId, category, type, resourceId) => this.queueEvent(tenantId, category, type, resourceId), () => this.clock.now());
    this.webhook = new WebhookSender(opts.webhookKey ?? randomBytes(32).toString('base64'));
    this.routeTable = routes(this.books);
  }

  get webhookKey(): string { return this.webhook.key; }

  async listen(port = 0): Promise<void> {
    const app = express();
    app.disable('x-powered-by');
    app.set('query parser', 'simple');
    this.identity.mount(app, () => this.baseUrl);
    app.use(API, express.raw({ type: () => true, limit: '3500kb' }), (req, res) => { void this.handleApi(req, res); });
    app.get('/online/invoice/:id', (req, res) => { res.type('html').send(`<!doctype html><title>Online invoice</title><p>Invoice ${String(req.params.id)}</p>`); });
    if (this.opts.specCheck !== false) await loadSpec();
    await new Promise<void>((resolve) => { this.server = app.listen(port, '127.0.0.1', () => resolve()); });
    const addr = this.server!.address() as AddressInfo;
    this.baseUrl = `http://127.0.0.1:${addr.port}`;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await new Promise<void>((resolve) => { s.close(() => resolve()); s.closeAllConnections(); });
  }

  /** Clears all organisations, tokens, logs, counters, faults, webhooks and violations (the credentials stay). */
  reset(): void {
    this.tenantMap.clear(); this.identity.reset(); this.idem.clear(); this.tenantUsage.clear(); this.appMinute = [];
    this.faults = {}; this.afterAnswers = []; this.violations = []; this.webhook.pending = []; this.webhook.deliveries = []; this.webhook.url = undefined;
    this.resetCounters();
    if (this.opts.seedDemo) this.seedDemoOrganisation();
  }

  // ---- organisations and seed data --------------------------------------------------------------------------

  addOrganisation(input: OrganisationInput): string {
    const t = createTenant(input, () => this.clock.now());
    this.tenantMap.set(t.tenantId, t);
    return t.tenantId;
  }

  tenants(): Array<{ tenantId: string; tenantName: string; tenantType: 'ORGANISATION' }> {
    return [...this.tenantMap.values()].map((t) => ({ tenantId: t.tenantId, tenantName: t.organisation.Name, tenantType: 'ORGANISATION' }));
  }

  seedDemoOrganisation(): string {
    const id = this.addOrganisation({ name: 'Demo Company (NZ)' });
    this.seedContact(id, { Name: 'Ridgeway University', EmailAddress: 'accounts@ridgeway.example', ContactNumber: 'B24-C-1' });
    this.seedContact(id, { Name: 'City Limousines', EmailAddress: 'billing@citylimo.example' });
    this.seedItem(id, { Code: 'DEV-HOUR', Name: 'Development hour', Description: 'Software development, per hour', SalesDetails: { UnitPrice: 150, AccountCode: '200', TaxType: 'OUTPUT2' } });
    this.seedItem(id, { Code: 'SUPPORT', Name: 'Support plan', Description: 'Monthly support plan', SalesDetails: { UnitPrice: 99.5, AccountCode: '200', TaxType: 'OUTPUT2' } });
    return id;
  }

  private tenant(tenantId: string): Tenant {
    const t = this.tenantMap.get(tenantId);
    if (!t) throw new Error(`Unknown tenant ${tenantId}`);
    return t;
  }

  private must(r: { ok: boolean; record: XeroObject; errors: string[] }): XeroObject {
    if (!r.ok) throw new Error(`Xero rejected the seed: ${r.errors.join('; ')}`);
    return deepClone(r.record);
  }

  seedContact(tenantId: string, c: XeroObject): XeroObject { return this.must(this.books.saveContact(this.tenant(tenantId), c, 'create')); }
  seedItem(tenantId: string, i: XeroObject): XeroObject { return this.must(this.books.saveItem(this.tenant(tenantId), i, 'create', 4)); }
  seedInvoice(tenantId: string, inv: XeroObject): XeroObject { return this.must(this.books.saveInvoice(this.tenant(tenantId), { Type: 'ACCREC', ...inv }, 'create', 4)); }
  seedQuote(tenantId: string, q: XeroObject): XeroObject { return this.must(this.books.saveQuote(this.tenant(tenantId), q, 'create')); }
  seedCreditNote(tenantId: string, n: XeroObject): XeroObject {
    const t = this.tenant(tenantId);
    const rec = { CreditNoteID: newId(), Type: 'ACCRECCREDIT', Status: 'AUTHORISED', ...deepClone(n), UpdatedDateUTC: msDate(this.clock.now()) };
    t.creditNotes.set(rec.CreditNoteID, rec);
    return deepClone(rec);
  }

  // ---- assertions: stored records in Xero shape --------------------------------------------------------------
  invoices(tenantId: string): XeroObject[] { return [...this.tenant(tenantId).invoices.values()].map(deepClone); }
  contacts(tenantId: string): XeroObject[] { return [...this.tenant(tenantId).contacts.values()].map(deepClone); }
  quotes(tenantId: string): XeroObject[] { return [...this.tenant(tenantId).quotes.values()].map(deepClone); }
  organisation(tenantId: string): XeroObject { return deepClone(this.tenant(tenantId).organisation); }
  items(tenantId: string): XeroObject[] { return [...this.tenant(tenantId).items.values()].map(deepClone); }
  payments(tenantId: string): XeroObject[] { return [...this.tenant(tenantId).payments.values()].map(deepClone); }
  accounts(tenantId: string): XeroObject[] { return this.tenant(tenantId).accounts.map(deepClone); }
  taxRates(tenantId: string): XeroObject[] { return this.tenant(tenantId).taxRates.map(deepClone); }
  brandingThemes(tenantId: string): XeroObject[] { return this.tenant(tenantId).brandingThemes.map(deepClone); }
  trackingCategories(tenantId: string): XeroObject[] { return this.tenant(tenantId).trackingCategories.map(deepClone); }
  history(tenantId: string, id: string): XeroObject[] { return deepClone(this.tenant(tenantId).history.get(id) ?? []); }

  // ---- user actions (as a Xero user would, same rules) --------------------------------------------------------
  approveInvoice(tenantId: string, invoiceId: string): XeroObject { return this.must(this.books.saveInvoice(this.tenant(tenantId), { Status: 'AUTHORISED' }, 'update', 4, invoiceId)); }
  voidInvoice(tenantId: string, invoiceId: string): XeroObject { return this.must(this.books.saveInvoice(this.tenant(tenantId), { Status: 'VOIDED' }, 'update', 4, invoiceId)); }
  deleteInvoice(tenantId: string, invoiceId: string): XeroObject { return this.must(this.books.saveInvoice(this.tenant(tenantId), { Status: 'DELETED' }, 'update', 4, invoiceId)); }
  /** Pays into the BANK account 090 (NZ demo chart). */
  addPayment(tenantId: string, invoiceId: string, amount: number, date?: string): XeroObject {
    return this.must(this.books.createPayment(this.tenant(tenantId), { Invoice: { InvoiceID: invoiceId }, Account: { Code: '090' }, Amount: amount, Date: date }));
  }
  setQuoteStatus(tenantId: string, quoteId: string, status: string): XeroObject { return deepClone(this.books.setQuoteStatus(this.tenant(tenantId), quoteId, status)); }
  /**
   * An admin's changes in Xero's settings: a new tax rate (shape of components/schemas/TaxRate; defaults: active, on
   * revenue and liabilities), a tax rate deleted or archived, an account archived. Sources: Xero tax-rates and
   * accounts docs (Status ACTIVE|DELETED|ARCHIVED; archived accounts cannot be used on new transactions).
   */
  addTaxRate(tenantId: string, r: { Name: string; TaxType: string; EffectiveRate: number; ReportTaxType?: string; CanApplyToRevenue?: boolean; CanApplyToExpenses?: boolean }): void {
    this.tenant(tenantId).taxRates.push({
      ReportTaxType: 'OUTPUT', CanApplyToAssets: true, CanApplyToEquity: true, CanApplyToExpenses: false, CanApplyToLiabilities: true, CanApplyToRevenue: true,
      DisplayTaxRate: r.EffectiveRate, Status: 'ACTIVE', TaxComponents: [{ Name: 'GST', Rate: r.EffectiveRate, IsCompound: false, IsNonRecoverable: false }], ...r,
    });
  }
  setTaxRateStatus(tenantId: string, taxType: string, status: 'ACTIVE' | 'DELETED' | 'ARCHIVED'): void {
    const r = this.tenant(tenantId).taxRates.find((x) => x.TaxType === taxType);
    if (!r) throw new Error(`no tax rate ${taxType}`);
    r.Status = status;
  }
  addAccount(tenantId: string, a: { Code: string; Name: string; Type: string; TaxType?: string }): void {
    this.tenant(tenantId).accounts.push({
      AccountID: newId(), TaxType: 'NONE', Status: 'ACTIVE', Class: a.Type === 'REVENUE' || a.Type === 'SALES' ? 'REVENUE' : 'EXPENSE', EnablePaymentsToAccount: false,
      ShowInExpenseClaims: false, ReportingCode: '', HasAttachments: false, UpdatedDateUTC: msDate(this.clock.now()), AddToWatchlist: false, ...a,
    });
  }
  setAccountStatus(tenantId: string, code: string, status: 'ACTIVE' | 'ARCHIVED'): void {
    const a = this.tenant(tenantId).accounts.find((x) => x.Code === code);
    if (!a) throw new Error(`no account ${code}`);
    a.Status = status;
    a.UpdatedDateUTC = msDate(this.clock.now());
  }
  /** A person editing a contact in Xero (fields in the API's shape, e.g. `{ Phones: [...] }`). */
  updateContact(tenantId: string, contactId: string, fields: XeroObject): XeroObject { return this.must(this.books.saveContact(this.tenant(tenantId), fields, 'update', contactId)); }
  archiveContact(tenantId: string, contactId: string): XeroObject { return this.must(this.books.saveContact(this.tenant(tenantId), { ContactStatus: 'ARCHIVED' }, 'update', contactId)); }

  // ---- identity controls ---------------------------------------------------------------------------------------
  /** Which organisations the next consent grants. (Default: all) */
  setConsent(opts: { tenantIds?: string[]; autoApprove?: boolean }): void {
    if ('tenantIds' in opts) this.identity.consentTenantIds = opts.tenantIds;
    if (opts.autoApprove !== undefined) this.identity.autoApprove = opts.autoApprove;
  }
  enableCustomConnection(tenantId: string): void { this.tenant(tenantId); this.identity.customTenantId = tenantId; }
  revokeRefreshTokens(): void { this.identity.revokeRefreshTokens(); }
  /** A Xero user removes the app from the organisation (Settings → Connected apps → Disconnect). */
  disconnectTenant(tenantId: string): void { this.tenant(tenantId); this.identity.disconnect(tenantId); }
  expireAccessTokens(): void { this.identity.expireAccessTokens(); }
  /** How often each refresh token was presented at the token endpoint (a single-use token presented twice = a race). */
  refreshTokenUses(): number[] { return [...this.identity.refreshTokenUses.values()]; }
  /** Test control: refresh requests wait for `gate` before they are looked at; null lets them through at once. */
  holdRefreshes(gate: (() => Promise<void>) | null): void { this.identity.refreshGate = gate; }
  get tokenGrants(): { authorization_code: number; refresh_token: number; client_credentials: number; denied: number } {
    return { ...this.identity.grantCounts, denied: this.identity.deniedGrants };
  }
  /** Issues tokens without the browser dance (a consent of `tenantIds`, default all). */
  issueTokens(tenantIds?: string[]): { access_token: string; refresh_token: string; expires_in: number } {
    return this.identity.issueDirect(tenantIds ?? [...this.tenantMap.keys()]);
  }

  // ---- faults and observability ------------------------------------------------------------------------------
  /** Calls served for an endpoint key such as `PUT /Invoices` or `GET /Invoices/{id}`. */
  callCount(endpoint: string): number { return this.counters.calls[endpoint] ?? 0; }
  setFaults(f: Faults): void { this.faults = { ...f }; this.faultSeq = 0; }
  /**
   * Runs `action` once, with the JSON answer, right after the emulator has answered the next request that `matches` and
   * before that answer leaves: what a person does in Xero between two of the connector's requests (e.g. between two
   * pages of a read), at a moment a test can name.
   */
  afterAnswer(matches: (request: RequestLogEntry) => boolean, action: (answer: unknown) => void): void {
    this.afterAnswers.push({ matches, action });
  }
  /**
   * Spends what is left of the organisation's day now, as calls of this app made elsewhere would (another process,
   * or the connector before a restart): the next calls get 429 `X-Rate-Limit-Problem: day` with a Retry-After until
   * these calls leave the rolling day. Source: docs/reference/xero.md#rate-limits (5,000 calls a day per tenant, counted per app).
   */
  useDailyLimit(tenantId: string): void {
    const now = this.clock.now();
    const u = this.tenantUsage.get(this.tenant(tenantId).tenantId) ?? { inFlight: 0, minute: [], day: [] };
    this.tenantUsage.set(tenantId, u);
    u.day = u.day.filter((t) => t > now - this.limits.dayMs);
    while (u.day.length < this.limits.perDay) u.day.push(now);
  }
  /**
   * The calls Xero counts for an organisation now: in its minute window and in its rolling day (every app's calls on
   * the tenant, across the connector's restarts; the emulator keeps them). Source:
   * https://developer.xero.com/documentation/guides/oauth2/limits/ (limits per tenant per minute and per day).
   */
  usage(tenantId: string): { minute: number; day: number } {
    const now = this.clock.now();
    const u = this.tenantUsage.get(this.tenant(tenantId).tenantId);
    return { minute: u ? u.minute.filter((t) => t > now - this.limits.windowMs).length : 0, day: u ? u.day.filter((t) => t > now - this.limits.dayMs).length : 0 };
  }
  resetCounters(): void {
    this.requestLog = [];
    this.counters = { calls: {}, served429: 0, maxInFlight: 0, total: 0, faultsInjected: 0, dropped: 0, replays: 0 };
  }

  // ---- webhooks ---------------------------------------------------------------------------------------------
  configureWebhook(w: { url: string; key?: string }): void { this.webhook.url = w.url; if (w.key) this.webhook.key = w.key; }
  pendingWebhookEvents(): WebhookEvent[] { return [...this.webhook.pending]; }
  get webhookDeliveries(): WebhookDelivery[] { return [...this.webhook.deliveries]; }
  /** Sends events (missing fields filled in) as one signed batch. `signatureValid: false` signs with a wrong key. */
  async sendWebhookEvents(events: Array<Partial<WebhookEvent> & { resourceId: string; tenantId: string }>, opts: { signatureValid?: boolean } = {}): Promise<WebhookDelivery> {
    const full = events.map((e) => this.event(e.tenantId, e.eventCategory ?? 'INVOICE', e.eventType ?? 'UPDATE', e.resourceId, e));
    return this.webhook.post(this.webhook.payload(full), opts.signatureValid ?? true);
  }
  /** Sends queued automatic INVOICE/CONTACT events as one batch. */
  async flushWebhooks(): Promise<WebhookDelivery | undefined> {
    if (!this.webhook.url || this.webhook.pending.length === 0) return undefined;
    const events = this.webhook.pending.splice(0);
    return this.webhook.post(this.webhook.payload(events), true);
  }
  intentToReceive(): Promise<{ goodStatus: number; badStatus: number; passed: boolean }> { return this.webhook.intentToReceive(); }

  private event(tenantId: string, category: WebhookEvent['eventCategory'], type: WebhookEvent['eventType'], resourceId: string, over: Partial<WebhookEvent> = {}): WebhookEvent {
    const coll = category === 'CONTACT' ? 'Contacts' : category === 'CREDITNOTE' ? 'CreditNotes' : 'Invoices';
    // Source: xero-webhooks.yaml components/schemas/Event. resourceUrl points at this emulator instead of api.xero.com.
    return { resourceUrl: `${this.baseUrl}${API}/${coll}/${resourceId}`, resourceId, eventDateUtc: new Date(this.clock.now()).toISOString().replace('Z', ''), eventType: type, eventCategory: category, tenantId, tenantType: 'ORGANISATION', ...over };
  }

  private queueEvent(tenantId: string, category: 'INVOICE' | 'CONTACT', type: 'CREATE' | 'UPDATE', resourceId: string): void {
    // Events are only generated while a webhook is configured (Xero: subscription per app). Source: docs/reference/xero.md#webhooks.
    if (this.webhook.url) this.webhook.pending.push(this.event(tenantId, category, type, resourceId));
  }

  // ---- contract -------------------------------------------------------------------------------------------
  specViolations(): SpecViolation[] { return [...this.violations]; }
  clearSpecViolations(): void { this.violations = []; }
  assertNoSpecViolations(): void {
    if (this.violations.length === 0) return;
    const text = this.violations.map((v) => `${v.method} ${v.path} (${v.operationId ?? '?'}): ${v.errors.map((e) => `${e.at} ${e.message}`).join('; ')}`).join('\n');
    throw new Error(`Xero emulator: ${this.violations.length} request bod${this.violations.length === 1 ? 'y' : 'ies'} broke xero_accounting.yaml:\n${text}`);
  }

  // ---- the Accounting API pipeline ----------------------------------------------------------------------------

  private async handleApi(req: Request, res: Response): Promise<void> {
    const started = Date.now();
    const path = req.path.replace(/\/+$/, '') || '/';
    const query = Object.fromEntries(Object.entries(req.query as Record<string, unknown>).map(([k, v]) => [k, String(Array.isArray(v) ? v[0] : v)]));
    const method = req.method.toUpperCase();
    const endpoint = endpointKey(method, path);
    const idemKey = typeof req.headers['idempotency-key'] === 'string' ? req.headers['idempotency-key'] : undefined;
    const entry: RequestLogEntry = { method, path, query, status: 0, time: new Date(started).toISOString(), durationMs: 0, idempotencyKey: idemKey, endpoint };
    this.counters.total += 1;
    this.counters.calls[endpoint] = (this.counters.calls[endpoint] ?? 0) + 1;
    this.requestLog.push(entry);
    res.on('close', () => { if (entry.status !== -1) entry.status = res.statusCode; entry.durationMs = Date.now() - started; });

    // Faults first (a dropped connection or a 5xx from Xero's edge). Source: issue "fault injection".
    const f = this.faults;
    if (f.dropRate && Math.random() < f.dropRate) { this.counters.dropped += 1; entry.status = -1; req.socket.destroy(); return; }
    const nth = f.everyNth ? ++this.faultSeq % f.everyNth === 0 : false;
    if (nth || (f.errorRate && Math.random() < f.errorRate)) {
      const choices = f.statuses?.length ? f.statuses : [500, 503];
      const status = nth ? choices[(this.faultSeq / f.everyNth!) % choices.length] : choices[Math.floor(Math.random() * choices.length)];
      this.counters.faultsInjected += 1;
      if (status === 429) { this.counters.served429 += 1; res.set({ 'Retry-After': String(f.retryAfterSeconds ?? 0), 'X-Rate-Limit-Problem': 'minute' }); }
      res.status(status).json(status === 429 ? { Title: 'Too Many Requests', Status: 429 } : { Title: 'Internal Server Error', Status: status, Detail: 'Injected fault' });
      return;
    }

    // Authentication. 401 body as Xero's problem JSON (Detail AuthenticationUnsuccessful/TokenExpired; unverified).
    const auth = this.identity.check(bearerOf(req));
    if (!auth.ok) {
      if (auth.detail === 'TokenExpired') res.set('WWW-Authenticate', 'Bearer error="invalid_token", error_description="The token expired"');
      res.status(401).json({ Type: null, Title: 'Unauthorized', Status: 401, Detail: auth.detail, Instance: newId(), Extensions: {} });
      return;
    }
    // Tenant: `xero-tenant-id` required unless the token is a custom connection's. Source: docs/reference/xero.md#tenants, docs/reference/xero.md#errors
    // (a tenant not connected to the token fails with AuthenticationUnsuccessful; 403 here, exact status unverified).
    const header = typeof req.headers['xero-tenant-id'] === 'string' ? req.headers['xero-tenant-id'].toLowerCase() : '';
    const tenantId = auth.token.custom && header === '' ? auth.token.tenantIds[0] : header;
    const tenant = tenantId && auth.token.tenantIds.includes(tenantId) ? this.tenantMap.get(tenantId) : undefined;
    if (!tenant) { res.status(403).json({ Type: null, Title: 'Forbidden', Status: 403, Detail: 'AuthenticationUnsuccessful', Instance: newId(), Extensions: {} }); return; }
    entry.tenant = tenant.tenantId;

    // Limits. Source: docs/reference/xero.md#rate-limits (per tenant 5 concurrent / 60 per minute / 5000 per day, app 10,000/minute;
    // 429 with Retry-After and X-Rate-Limit-Problem; remaining counts on every response) and
    // https://developer.xero.com/faq/limits ("Each API response you receive will include the X-DayLimit-Remaining,
    // X-MinLimit-Remaining and X-AppMinLimit-Remaining headers"). Counted per tenant, whoever calls (the connector
    // before and after a restart, a second process): the counts live here, not in the caller. That the remaining
    // figures include the request they answer is this emulator's reading (unverified).
    const now = this.clock.now();
    const u = this.tenantUsage.get(tenant.tenantId) ?? { inFlight: 0, minute: [], day: [] };
    this.tenantUsage.set(tenant.tenantId, u);
    u.minute = u.minute.filter((t) => t > now - this.limits.windowMs);
    u.day = u.day.filter((t) => t > now - this.limits.dayMs);
    this.appMinute = this.appMinute.filter((t) => t > now - this.limits.windowMs);
    const setRemaining = () => res.set({
      'X-MinLimit-Remaining': String(Math.max(0, this.limits.perMinute - u.minute.length)),
      'X-DayLimit-Remaining': String(Math.max(0, this.limits.perDay - u.day.length)),
      'X-AppMinLimit-Remaining': String(Math.max(0, this.limits.appPerMinute - this.appMinute.length)),
    });
    const tooMany = (problem: string, retryAfterMs: number) => {
      this.counters.served429 += 1;
      setRemaining();
      res.set({ 'Retry-After': String(Math.max(1, Math.ceil(retryAfterMs / 1000))), 'X-Rate-Limit-Problem': problem });
      res.status(429).json({ Title: 'Too Many Requests', Status: 429, Detail: `Rate limit exceeded: ${problem}` });
    };
    if (u.inFlight >= this.limits.concurrent) { tooMany('concurrent', 1000); return; }
    if (u.day.length >= this.limits.perDay) { tooMany('day', u.day[0] + this.limits.dayMs - now); return; }
    if (u.minute.length >= this.limits.perMinute) { tooMany('minute', u.minute[0] + this.limits.windowMs - now); return; }
    if (this.appMinute.length >= this.limits.appPerMinute) { tooMany('appminute', this.appMinute[0] + this.limits.windowMs - now); return; }
    u.minute.push(now); u.day.push(now); this.appMinute.push(now);
    u.inFlight += 1;
    this.inFlightTotal += 1;
    this.counters.maxInFlight = Math.max(this.counters.maxInFlight, u.inFlight);
    let released = false;
    const release = () => { if (!released) { released = true; u.inFlight -= 1; this.inFlightTotal -= 1; } };
    // A request stops counting as in flight once Xero has sent its answer ('finish'), as a server counts it;
    // 'close' covers answers that were never sent (dropped connections).
    res.on('finish', release);
    res.on('close', release);
    setRemaining();
    try {
      if (f.latencyMs) await new Promise((r) => setTimeout(r, f.latencyMs));
      const reply = await this.process(req, method, path, query, tenant, idemKey, entry);
      const after = this.afterAnswers.findIndex((a) => a.matches(entry));
      if (after >= 0) this.afterAnswers.splice(after, 1)[0].action('json' in reply ? reply.json : undefined);
      if (f.dropResponseRate && Math.random() < f.dropResponseRate) { this.counters.dropped += 1; entry.status = -1; req.socket.destroy(); return; }
      if ('buffer' in reply) { res.status(reply.status).type(reply.contentType).send(reply.buffer); }
      else { if (reply.headers) res.set(reply.headers); res.status(reply.status).json(reply.json); }
    } catch (e) {
      res.status(500).json({ Title: 'Internal Server Error', Status: 500, Detail: String((e as Error).message) });
    } finally {
      release();
    }
  }

  private async process(req: Request, method: string, path: string, query: Record<string, string>, tenant: Tenant, idemKey: string | undefined, entry: RequestLogEntry): Promise<Reply> {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const isWrite = method === 'PUT' || method === 'POST' || method === 'PATCH';
    let body: XeroObject | undefined;
    // GETs from xero-node carry `content-type: application/json` and `{}`: ignored (docs/reference/xero.md#local-fakes).
    if (isWrite && raw.length) {
      try { body = JSON.parse(raw.toString('utf8')); } catch {
        return { status: 400, json: { ErrorNumber: 14, Type: 'PostDataInvalidException', Message: 'The string was not recognized as a valid JSON' } }; // wording unverified
      }
    }

    // Idempotency-Key (POST/PUT/PATCH, ≤ 128 chars, per app, ~6 minutes, same key + different request → 400,
    // errors are cached too). Source: docs/reference/xero.md#writes; spec components/parameters/idempotencyKey.
    let idemSlot: string | undefined;
    const fingerprint = createHash('sha256').update(`${method} ${path} ${JSON.stringify(query)} ${tenant.tenantId}\n`).update(raw).digest('hex');
    if (isWrite && idemKey !== undefined) {
      if (idemKey.length > 128) return { status: 400, json: { Title: 'Bad Request', Status: 400, Detail: 'Idempotency-Key must not exceed 128 characters.' } };
      idemSlot = `${this.clientId}:${idemKey}`;
      const hit = this.idem.get(idemSlot);
      const ttl = this.opts.idempotencyTtlMs ?? 360_000;
      if (hit && this.clock.now() - hit.at < ttl) {
        if (hit.fingerprint !== fingerprint) {
          return { status: 400, json: { Title: 'Bad Request', Status: 400, Detail: `Idempotency key ${idemKey} is used with a different request` } }; // wording unverified
        }
        this.counters.replays += 1;
        entry.replayed = true;
        return hit.reply;
      }
    }

    if (isWrite && body !== undefined && this.opts.specCheck !== false) {
      const api = await loadSpec();
      if (api) {
        const v = validateBody(api, method, path, query, body);
        if (v) this.violations.push(v);
      }
    }

    const route = this.routeTable.find(([m, re]) => m.split('|').includes(method) && re.test(path));
    let reply: Reply;
    if (!route) reply = { status: 404, json: { Title: 'Resource not found', Status: 404, Detail: `No route ${method} ${path}` } };
    else {
      const m = route[1].exec(path)!;
      const ctx: Ctx = { method, path, query, headers: req.headers, body, tenant, baseUrl: this.baseUrl, providerName: 'Xero Emulator' };
      reply = route[2](ctx, m[1] ? decodeURIComponent(m[1]) : undefined);
    }
    if (idemSlot) this.idem.set(idemSlot, { fingerprint, reply, at: this.clock.now() });
    return reply;
  }
}

/** Starts an emulator on 127.0.0.1. */
export async function startXeroEmulator(opts: XeroEmulatorOptions = {}): Promise<XeroEmulator> {
  const emu = new XeroEmulator(opts);
  if (opts.seedDemo) emu.seedDemoOrganisation();
  await emu.listen(opts.port ?? 0);
  return emu;
}

export { parseClientDate };
