/**
 * Import from Xero: companies, contacts and products, the same job for the slider and the command line.
 *
 * 1. preview — read the Bitrix24 directory (companies, contacts, products) and the links, then Xero's contacts page by
 *    page (≤ 1,000 each) and its items, and write the plan: one import record per Xero record saying create, link,
 *    update, skip or fail (with the reason). Nothing is written to Bitrix24; the counts are the preview.
 * 2. run — work the plan in order, ≤ 50 Bitrix24 commands per `batch` call (a company with its requisite, addresses and
 *    people; a product with its base price). Each record is marked "sending" before its batch and done (with its link)
 *    in the transaction that records the answer. A refused write fails that record with Bitrix24's reason only.
 * 3. resume — after a restart or crash, records left "sending" are looked up in Bitrix24 by ORIGIN_ID / external code
 *    (what a lost answer created is linked, never created twice); the rest of the plan continues.
 * 4. cancel — stops between batches; summary and CSV list created, linked, updated, skipped and failed records.
 * Memory stays flat: one Xero page and one batch at a time; the plan lives in SQLite.
 */
import { spendingAs } from '../xero/budget.js';
import { EventEmitter } from 'node:events';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import type { PortalClient, PortalClients } from '../bitrix/portal-client.js';
import { createCommands, customerPages, findByXeroKeys, updateCommand, type CustomerFields } from '../bitrix/customers.js';
import { catalogInfo, findByCodes, productCreateCommands, productPages, productUpdateCommand } from '../bitrix/catalog.js';
import type { Store } from '../store/index.js';
import { holdLease, LeaseBusy, type HeldLease } from '../store/leases.js';
import type { ImportRecord, ImportRun, ImportWhat, NewImportRecord } from '../store/imports.js';
import type { Connection } from '../store/connections.js';
import type { XeroGateways } from '../xero/gateway.js';
import { contactPages, readItems, taxRatesByType } from '../xero/contact-reader.js';
import type { JobHandler, JobOutcome } from './outbox.js';
import { outcomeOf } from './outbox.js';
import type { ContactDetails } from './contact-details.js';
import { Directory, planItem, planParty, type CustomerPayload, type PlanContext, type ProductPayload } from './import-plan.js';

export const IMPORT_JOB = 'import-from-xero';
/** Bitrix24 commands per batch call (the batch method's limit). */
export const COMMANDS_PER_BATCH = 50;
/** Xero items planned and written per store transaction. */
const ITEMS_PER_SLICE = 500;

export interface ImportDeps {
  store: Store;
  portals: PortalClients;
  gateways: XeroGateways;
  logger: Logger;
}

export interface ImportRequest {
  memberId: string;
  what: ImportWhat[];
  includeArchived: boolean;
  startedBy: string | null;
}

export interface ImportSummary {
  run: ImportRun;
  planned: Record<string, number>;
  outcome: Record<string, number>;
  failures: { name: string; kind: string; xeroId: string; reason: string }[];
}

type Step = 'preview' | 'run';
interface ImportJobPayload { runId: number; step: Step }

export class ImportFromXero {
  /** `progress` (runId) after every page planned and every batch written; `finished` (runId). */
  readonly events = new EventEmitter();

  constructor(private readonly deps: ImportDeps) {
    this.events.setMaxListeners(100);
  }

  /** Starts a preview: a new run, planned by the outbox. Refused while another run of the portal is live. */
  requestPreview(req: ImportRequest, opts: { enqueue?: boolean } = {}): ImportRun {
    const { store } = this.deps;
    const live = store.imports.liveRun(req.memberId);
    if (live?.state === 'running') throw new AppError('SYNC.IMPORT_RUNNING', 'An import from Xero is already running for this portal; wait for it or cancel it.', 409);
    if (live) store.imports.setState(live.id, 'cancelled', 'Replaced by a new preview.');
    const connection = activeConnection(store, req.memberId);
    const run = store.imports.createRun({ ...req, connectionId: connection.id });
    if (opts.enqueue !== false) this.enqueue(run, 'preview');
    return run;
  }

  /** Starts a previewed run. */
  requestRun(memberId: string, runId: number, opts: { enqueue?: boolean } = {}): ImportRun {
    const run = this.runOf(memberId, runId);
    if (run.state !== 'previewed') throw new AppError('SYNC.IMPORT_NOT_PREVIEWED', 'Only a previewed import can be started; preview it first.', 409);
    this.deps.store.imports.setState(run.id, 'running');
    if (opts.enqueue !== false) this.enqueue(run, 'run');
    return this.deps.store.imports.run(run.id)!;
  }

  cancel(memberId: string, runId: number): ImportRun {
    const run = this.runOf(memberId, runId);
    if (run.state === 'planning' || run.state === 'previewed' || run.state === 'running') {
      this.deps.store.imports.setState(run.id, 'cancelled', 'Cancelled.');
      this.emit('progress', run.id);
    }
    return this.deps.store.imports.run(run.id)!;
  }

  /** The outbox handler of `import-from-xero` jobs: one run step per job. */
  readonly handler: JobHandler = {
    run: async (jobs) => {
      const out = new Map<number, JobOutcome>();
      for (const job of jobs) {
        const { runId, step } = job.payload as ImportJobPayload;
        try {
          await this.work(runId, step);
          out.set(job.id, { kind: 'done' });
        } catch (err) {
          out.set(job.id, outcomeOf(err));
        }
      }
      return out;
    },
  };

  /** Works one step of a run to its end (also what the command line calls in its own process). */
  async work(runId: number, step: Step): Promise<void> {
    const run = this.deps.store.imports.run(runId);
    if (!run || run.state === 'cancelled' || run.state === 'done' || run.state === 'failed') return;
    // One process at a time works a run (the connector's outbox or the command line); a dead holder's lease expires.
    let lease: HeldLease;
    try {
      lease = holdLease(this.deps.store.leases, `import-run:${run.id}`);
    } catch (err) {
      if (err instanceof LeaseBusy) throw new AppError('SYNC.IMPORT_BUSY', 'Another process is working this import; it will be looked at again shortly.', 503);
      throw err;
    }
    try {
      // Imports spend the Xero budget last: they pause while it is low (xero/budget.ts).
      if (step === 'preview') await spendingAs('import', () => this.preview(run));
      else await spendingAs('import', () => this.execute(run));
    } catch (err) {
      const transient = !(err instanceof AppError) || err.status >= 500;
      if (!transient) {
        this.deps.store.imports.setState(run.id, 'failed', (err as AppError).message);
        this.emit('finished', run.id);
      }
      throw err;
    } finally {
      lease.release();
    }
  }

  // ---- 1. preview ---------------------------------------------------------------------------------------------

  private async preview(run: ImportRun): Promise<void> {
    const { store } = this.deps;
    store.imports.clearRecords(run.id); // a preview interrupted by a crash starts over: nothing was written yet
    const client = this.deps.portals.for(run.memberId);
    const connectionId = run.connectionId ?? activeConnection(store, run.memberId).id;
    const gateway = this.deps.gateways.for(connectionId);
    const progress = { phase: 'Reading Bitrix24', pagesRead: 0, planned: 0 };
    this.progress(run.id, progress);

    // The Bitrix24 side, page by page into the store (not memory); a preview started again fills it again.
    const directory = new Directory(store.imports.directory, run.id);
    directory.clear();
    try {
      const wantsCustomers = run.what.includes('companies') || run.what.includes('contacts');
      if (wantsCustomers) {
        for (const kind of ['company', 'contact'] as const) {
          for await (const page of customerPages(client, kind)) {
            if (this.cancelled(run.id)) return;
            directory.addCustomers(page);
          }
        }
      }
      let seq = 0;
      const ctx: PlanContext = {
        what: run.what, includeArchived: run.includeArchived, directory, nextSeq: () => seq++, catalog: null,
        linkOf: (xeroType, xeroId) => store.links.findByXero(connectionId, xeroType, xeroId)[0],
        contactFieldsOf: (link) => store.links.contactFields<ContactDetails>(link.id),
      };
      const save = (records: NewImportRecord[]) => {
        store.imports.addRecords(run.id, records);
        progress.planned += records.length;
        this.progress(run.id, progress);
      };

      if (run.what.includes('products')) {
        const catalog = await catalogInfo(client);
        if (catalog) {
          for await (const page of productPages(client, catalog.iblockId)) directory.addProducts(page);
          const [taxRates, currency] = await Promise.all([taxRatesByType(gateway), baseCurrency(gateway)]);
          ctx.catalog = { ...catalog, taxRates, currency, accountPropertyId: store.settings.get<number>(run.memberId, 'b24.accountCodePropertyId') ?? null };
        }
        progress.phase = 'Reading Xero items';
        this.progress(run.id, progress);
        // Xero's Items endpoint is not paged: its one answer is planned and written in slices.
        const items = await readItems(gateway);
        for (let i = 0; i < items.length; i += ITEMS_PER_SLICE) save(items.slice(i, i + ITEMS_PER_SLICE).map((item) => planItem(item, ctx)));
      }
      if (wantsCustomers) {
        progress.phase = 'Reading Xero contacts';
        for await (const page of contactPages(gateway, { includeArchived: run.includeArchived })) {
          if (this.cancelled(run.id)) return;
          progress.pagesRead = page.page;
          save(page.parties.flatMap((p) => planParty(p, ctx)));
        }
      }
      store.imports.setProgress(run.id, { ...progress, phase: 'Previewed' });
      store.imports.setState(run.id, 'previewed');
      this.emit('progress', run.id);
    } finally {
      directory.clear(); // the directory lives as long as the preview
    }
  }

  // ---- 2. run, 3. resume --------------------------------------------------------------------------------------

  private async execute(run: ImportRun): Promise<void> {
    const { store } = this.deps;
    const client = this.deps.portals.for(run.memberId);
    const connectionId = run.connectionId ?? activeConnection(store, run.memberId).id;
    await this.heal(run, client, connectionId);
    let after = -1;
    for (;;) {
      if (this.cancelled(run.id)) return;
      const { records, calls, keys } = this.nextBatch(run.id, after);
      if (records.length === 0) break;
      after = records.at(-1)!.seq;
      store.imports.markSending(run.id, records.filter((r) => keys.has(r.seq)).map((r) => r.seq));
      const answer = Object.keys(calls).length ? await client.batch(calls) : { results: {}, errors: {}, codes: {}, limited: [] };
      store.transaction(() => {
        for (const r of records) {
          const key = `k${r.seq}`;
          const parentFailed = r.parentSeq !== null && store.imports.record(run.id, r.parentSeq)?.state === 'failed';
          if (parentFailed) store.imports.markFailed(run.id, r.seq, `Its company "${store.imports.record(run.id, r.parentSeq!)!.name}" could not be written to Bitrix24.`);
          else if (answer.errors[key]) store.imports.markFailed(run.id, r.seq, `Bitrix24 refused it: ${answer.errors[key]}`);
          else this.finish(run, r, newIdOf(r, answer.results[key]) ?? r.b24Id, connectionId);
        }
      });
      this.emit('progress', run.id);
    }
    if (store.imports.setState(run.id, 'done')) {
      const o = store.imports.outcomeCounts(run.id);
      store.activity.record({
        memberId: run.memberId, level: o.fail ? 'warn' : 'info', kind: 'import.finished', subject: `import:${run.id}`,
        message: `Import from Xero finished: ${o.create} created, ${o.link} linked, ${o.update} updated, ${o.skip} skipped, ${o.fail} failed.`,
      });
      this.emit('finished', run.id);
    }
  }

  /** The next records to write and their commands, at most 50 commands (a record's commands never split). */
  private nextBatch(runId: number, after: number): { records: ImportRecord[]; calls: Record<string, [string, Record<string, unknown>]>; keys: Set<number> } {
    const { store } = this.deps;
    const records: ImportRecord[] = [];
    const calls: Record<string, [string, Record<string, unknown>]> = {};
    const keys = new Set<number>();
    const inBatch = new Set<number>();
    for (const r of store.imports.pending(runId, COMMANDS_PER_BATCH, after)) {
      const cmds = this.commandsOf(runId, r, inBatch);
      if (records.length && Object.keys(calls).length + Object.keys(cmds).length > COMMANDS_PER_BATCH) break;
      Object.assign(calls, cmds);
      if (Object.keys(cmds).length) keys.add(r.seq);
      records.push(r);
      inBatch.add(r.seq);
    }
    return { records, calls, keys };
  }

  private commandsOf(runId: number, r: ImportRecord, inBatch: Set<number>): Record<string, [string, Record<string, unknown>]> {
    const k = `k${r.seq}`;
    if (r.b24Type === 'product') {
      const p = r.payload as ProductPayload;
      if (r.action === 'create') return productCreateCommands(k, p);
      return Object.keys(p.fields).length > 1 ? { [k]: productUpdateCommand(r.b24Id!, p.fields) } : {};
    }
    const p = r.payload as CustomerPayload;
    const kind = r.b24Type as 'company' | 'contact';
    let fields: CustomerFields = p.fields;
    if (r.parentSeq !== null) {
      const parent = this.deps.store.imports.record(runId, r.parentSeq);
      const companyId = inBatch.has(r.parentSeq) && parent?.action === 'create' ? `$result[k${r.parentSeq}]` : parent?.b24Id;
      if (r.action === 'create' && companyId) fields = { ...fields, COMPANY_ID: companyId };
    }
    if (r.action === 'create') return createCommands(k, kind, fields, p.requisite);
    return Object.keys(fields).length ? { [k]: updateCommand(kind, r.b24Id!, fields) } : {};
  }

  /** Records the written record and its link, in the caller's transaction. */
  private finish(run: ImportRun, r: ImportRecord, b24Id: string | null, connectionId: number): void {
    const { store } = this.deps;
    // A refusal comes with Bitrix24's words (PortalClient.batch reads result_error); an answer without an id and
    // without an error is all that is left here.
    if (!b24Id) return store.imports.markFailed(run.id, r.seq, 'Bitrix24 answered without the new record\'s id and without a reason; it was not linked.');
    store.imports.markDone(run.id, r.seq, b24Id);
    if (r.b24Type === 'product') {
      const p = r.payload as ProductPayload;
      store.links.save({ memberId: run.memberId, connectionId, b24Type: 'product', b24Id, xeroType: 'item', xeroId: r.xeroId, xeroNumber: p.code, contentHash: p.hash, xeroStatus: 'ACTIVE', xeroUpdatedAt: null });
      return;
    }
    const p = r.payload as CustomerPayload;
    const link = store.links.save({
      memberId: run.memberId, connectionId, b24Type: r.b24Type, b24Id, xeroType: r.xeroType === 'contact_person' ? 'contact_person' : 'contact', xeroId: r.xeroId,
      xeroNumber: p.contactNumber, contentHash: null, xeroStatus: 'ACTIVE', xeroUpdatedAt: null,
    });
    if (p.details) store.links.setContactFields(link.id, p.details);
  }

  /** Records whose batch went out without a recorded answer: what it created is found and linked. */
  private async heal(run: ImportRun, client: PortalClient, connectionId: number): Promise<void> {
    const { store } = this.deps;
    const sending = store.imports.sending(run.id);
    if (!sending.length) return;
    const creates = sending.filter((r) => r.action === 'create');
    const found = new Map<string, string>();
    for (const kind of ['company', 'contact'] as const) {
      const keys = creates.filter((r) => r.b24Type === kind).map((r) => r.xeroId);
      if (keys.length) for (const [k, id] of await findByXeroKeys(client, kind, keys)) found.set(`${kind}:${k}`, id);
    }
    const products = creates.filter((r) => r.b24Type === 'product');
    if (products.length) {
      const info = await catalogInfo(client);
      if (info) for (const [code, id] of await findByCodes(client, info.iblockId, products.map((r) => (r.payload as ProductPayload).code))) found.set(`product:${code}`, id);
    }
    store.transaction(() => {
      for (const r of sending) {
        const key = r.b24Type === 'product' ? `product:${(r.payload as ProductPayload).code}` : `${r.b24Type}:${r.xeroId}`;
        const id = r.action === 'create' ? found.get(key) : r.b24Id; // an update whose answer was lost is taken as made
        if (id) this.finish(run, r, id, connectionId);
        else store.imports.unsend(run.id, r.seq);
      }
    });
    this.deps.logger.info({ runId: run.id, healed: sending.length }, 'import resumed: records sent before the stop were looked up in Bitrix24');
  }

  // ---- 4. summary, CSV ----------------------------------------------------------------------------------------

  summary(memberId: string, runId: number, maxFailures = 100): ImportSummary {
    const run = this.runOf(memberId, runId);
    const { store } = this.deps;
    return {
      run,
      planned: store.imports.plannedCounts(run.id),
      outcome: store.imports.outcomeCounts(run.id),
      failures: [...store.imports.failures(run.id, maxFailures)].map((r) => ({ name: r.name, kind: r.b24Type, xeroId: r.xeroId, reason: r.reason ?? '' })),
    };
  }

  /** The failed records as CSV lines (header first), streamed. */
  *csv(memberId: string, runId: number): Generator<string> {
    const run = this.runOf(memberId, runId);
    yield 'Bitrix24 type,Xero id,Name,Reason\r\n';
    for (const r of this.deps.store.imports.failures(run.id)) yield `${[r.b24Type, r.xeroId, r.name, r.reason ?? ''].map(csvCell).join(',')}\r\n`;
  }

  runOf(memberId: string, runId: number): ImportRun {
    const run = this.deps.store.imports.run(runId);
    if (!run || run.memberId !== memberId) throw new AppError('SYNC.IMPORT_NOT_FOUND', 'This import does not exist.', 404);
    return run;
  }

  private enqueue(run: ImportRun, step: Step): void {
    this.deps.store.jobs.enqueue({ memberId: run.memberId, kind: IMPORT_JOB, key: `${IMPORT_JOB}:${run.id}`, payload: { runId: run.id, step } satisfies ImportJobPayload });
  }

  private cancelled(runId: number): boolean {
    return this.deps.store.imports.run(runId)?.state === 'cancelled';
  }

  private progress(runId: number, p: { phase: string; pagesRead: number; planned: number }): void {
    this.deps.store.imports.setProgress(runId, p);
    this.emit('progress', runId);
  }

  private emit(event: 'progress' | 'finished', runId: number): void {
    this.events.emit(event, runId);
  }
}

function activeConnection(store: Store, memberId: string): Connection {
  const c = store.connections.listForPortal(memberId).find((x) => x.state === 'active');
  if (!c) throw new AppError('XERO.NO_CONNECTION', 'Connect Xero first: the import reads from the connected organisation.', 409);
  return c;
}

async function baseCurrency(gateway: ReturnType<XeroGateways['for']>): Promise<string> {
  const answer = await gateway.call('reading the organisation', (s) =>
    // https://developer.xero.com/documentation/api/accounting/organisation
    s.xero.accountingApi.getOrganisations(s.tenantId),
  );
  return String(answer.organisations?.[0]?.baseCurrency ?? 'USD');
}

/** The id a create command answered with (crm.*.add → id; catalog.product.add → {element: {id}}). */
function newIdOf(r: ImportRecord, result: unknown): string | null {
  if (r.action !== 'create') return null;
  if (r.b24Type === 'product') {
    const id = (result as { element?: { id?: number | string } } | undefined)?.element?.id;
    return id === undefined ? null : String(id);
  }
  return result === undefined || result === null || result === false ? null : String(result);
}

function csvCell(v: string): string {
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v; // no formulas when opened in a spreadsheet
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
