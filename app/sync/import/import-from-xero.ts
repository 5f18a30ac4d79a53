/**
 * Import from Xero: companies, contacts and products, the same job for the slider and the command line.
 *
 * 1. preview — read the Bitrix24 directory (companies, contacts, products) and the links, then Xero's contacts page by
 *    page (≤ 1,000 each) and its items, and write the plan: one import record per Xero record saying create, link,
 *    update, skip or fail (with the reason). Nothing is written to Bitrix24; the counts are the preview.
 * 2. run — work the plan in order, ≤ 50 Bitrix24 commands per `batch` call (a company with its requisite and
 *    addresses, its people in the batch after it with its id; a product with its base price). Every create carries its
 *    mark in the same command (ORIGIN_ID = the Xero key for companies and contacts, external code = the item code for
 *    products). Each record is marked "sending" (with the time) before its batch and done (with its link) in the
 *    transaction that records the answer. A refused write fails that record with Bitrix24's reason only; a command
 *    blocked by OPERATION_TIME_LIMIT is sent again once Bitrix24's `operating_reset_at` has passed, never failed.
 * 3. resume — after a restart or crash, what Bitrix24 holds of the records left "sending" is read back (the record by
 *    its mark, its requisite, addresses and price by their owner) once their batch can have ended on the portal, and
 *    only what is missing is sent: every record, requisite, address, binding and price exactly once.
 * 4. cancel — stops between batches; summary and CSV list created, linked, updated, skipped and failed records.
 * Memory stays flat: one Xero page and one batch at a time; the plan lives in SQLite.
 */
import { spendingAs } from '../../xero/budget.js';
import { EventEmitter } from 'node:events';
import { AppError, LimitReached, utcTime } from '../../errors.js';
import type { Logger } from '../../log.js';
import { operatingLimitReached, type BatchCalls, type BatchOutcome, type PortalClient, type PortalClients } from '../../bitrix/portal-client.js';
import { createCommands, customerPages, findAddresses, findByXeroKeys, findRequisites, updateCommand, type CustomerFields } from '../../bitrix/customers.js';
import { catalogInfo, findBasePrices, findByCodes, productCreateCommands, productPages, productUpdateCommand } from '../../bitrix/catalog.js';
import type { Store } from '../../store/index.js';
import { holdLease, LeaseBusy, type HeldLease } from '../../store/leases.js';
import type { ImportRecord, ImportRun, ImportWhat, NewImportRecord, Written } from '../../store/imports.js';
import type { Connection } from '../../store/connections.js';
import type { XeroGateways } from '../../xero/gateway.js';
import { contactPages, readItems, taxRatesByType } from '../../xero/contact-reader.js';
import { baseCurrency } from '../../xero/organisation.js';
import type { JobHandler, JobOutcome } from '../outbox.js';
import { outcomeOf } from '../outbox.js';
import type { ContactDetails } from '../../domain/contact-details.js';
import { Directory, planItem, planParty, type CustomerPayload, type PlanContext, type ProductPayload } from './import-plan.js';
import { fromAsync } from '../../async-lists.js';

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
  /** How long a Bitrix24 request may go on running on the portal once sent, ms. (Default: B24_REQUEST_LIMIT_MS) */
  requestLimitMs?: number;
}

/** Bitrix24 cuts a REST request after 60 s (cloud; a self-hosted portal: its PHP max_execution_time): docs/reference/bitrix24.md#limits. */
export const B24_REQUEST_LIMIT_MS = 60_000;

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

  private readonly requestLimitMs: number;

  constructor(private readonly deps: ImportDeps) {
    this.events.setMaxListeners(100);
    this.requestLimitMs = deps.requestLimitMs ?? B24_REQUEST_LIMIT_MS;
  }

  /** Starts a preview: a new run, planned by the outbox. Refused while another run of the portal is live. */
  async requestPreview(req: ImportRequest, opts: { enqueue?: boolean } = {}): Promise<ImportRun> {
    const { store } = this.deps;
    // step B: race — the live run read, its cancel and the new run span awaits: two previews at once may both start.
    const live = await store.imports.liveRun(req.memberId);
    if (live?.state === 'running') throw new AppError('SYNC.IMPORT_RUNNING', 'An import from Xero is already running for this portal; wait for it or cancel it.', 409);
    if (live) await store.imports.setState(live.id, 'cancelled', 'Replaced by a new preview.');
    const connection = await activeConnection(store, req.memberId);
    const run = await store.imports.createRun({ ...req, connectionId: connection.id });
    if (opts.enqueue !== false) await this.enqueue(run, 'preview');
    return run;
  }

  /** Starts a previewed run. */
  async requestRun(memberId: string, runId: number, opts: { enqueue?: boolean } = {}): Promise<ImportRun> {
    // step B: race — the state checked and the state set span awaits: two starts at once may both enqueue the run.
    const run = await this.runOf(memberId, runId);
    if (run.state !== 'previewed') throw new AppError('SYNC.IMPORT_NOT_PREVIEWED', 'Only a previewed import can be started; preview it first.', 409);
    await this.deps.store.imports.setState(run.id, 'running');
    if (opts.enqueue !== false) await this.enqueue(run, 'run');
    return (await this.deps.store.imports.run(run.id))!;
  }

  async cancel(memberId: string, runId: number): Promise<ImportRun> {
    const run = await this.runOf(memberId, runId);
    if (run.state === 'planning' || run.state === 'previewed' || run.state === 'running') {
      await this.deps.store.imports.setState(run.id, 'cancelled', 'Cancelled.');
      this.emit('progress', run.id);
    }
    return (await this.deps.store.imports.run(run.id))!;
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
    const run = await this.deps.store.imports.run(runId);
    if (!run || run.state === 'cancelled' || run.state === 'done' || run.state === 'failed') return;
    // One process at a time works a run (the connector's outbox or the command line); a dead holder's lease expires.
    let lease: HeldLease;
    try {
      lease = await holdLease(this.deps.store.leases, `import-run:${run.id}`);
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
        await this.deps.store.imports.setState(run.id, 'failed', (err as AppError).message);
        this.emit('finished', run.id);
      }
      throw err;
    } finally {
      await lease.release();
    }
  }

  // ---- 1. preview ---------------------------------------------------------------------------------------------

  private async preview(run: ImportRun): Promise<void> {
    const { store } = this.deps;
    await store.imports.clearRecords(run.id); // a preview interrupted by a crash starts over: nothing was written yet
    const client = await this.deps.portals.for(run.memberId);
    const connectionId = run.connectionId ?? (await activeConnection(store, run.memberId)).id;
    const gateway = this.deps.gateways.for(connectionId);
    const progress = { phase: 'Reading Bitrix24', pagesRead: 0, planned: 0 };
    await this.progress(run.id, progress);

    // The Bitrix24 side, page by page into the store (not memory); a preview started again fills it again.
    const directory = new Directory(store.imports.directory, run.id);
    await directory.clear();
    try {
      const wantsCustomers = run.what.includes('companies') || run.what.includes('contacts');
      if (wantsCustomers) {
        for (const kind of ['company', 'contact'] as const) {
          for await (const page of customerPages(client, kind)) {
            if (await this.cancelled(run.id)) return;
            await directory.addCustomers(page);
          }
        }
      }
      let seq = 0;
      const ctx: PlanContext = {
        what: run.what, includeArchived: run.includeArchived, directory, nextSeq: () => seq++, catalog: null,
        linkOf: async (xeroType, xeroId) => (await store.links.findByXero(connectionId, xeroType, xeroId))[0],
        contactFieldsOf: async (link) => await store.links.contactFields<ContactDetails>(link.id),
      };
      const save = async (records: NewImportRecord[]) => {
        await store.imports.addRecords(run.id, records);
        progress.planned += records.length;
        await this.progress(run.id, progress);
      };

      if (run.what.includes('products')) {
        const catalog = await catalogInfo(client);
        if (catalog) {
          for await (const page of productPages(client, catalog.iblockId)) await directory.addProducts(page);
          const [taxRates, currency] = await Promise.all([taxRatesByType(gateway), baseCurrency(gateway)]);
          ctx.catalog = { ...catalog, taxRates, currency, accountPropertyId: await store.settings.get<number>(run.memberId, 'b24.accountCodePropertyId') ?? null };
        }
        progress.phase = 'Reading Xero items';
        await this.progress(run.id, progress);
        // Xero's Items endpoint is not paged: its one answer is planned and written in slices.
        const items = await readItems(gateway);
        for (let i = 0; i < items.length; i += ITEMS_PER_SLICE) {
          const slice = items.slice(i, i + ITEMS_PER_SLICE);
          const planned: NewImportRecord[] = [];
          for (const item of slice) planned.push(await planItem(item, ctx));
          await save(planned);
        }
      }
      if (wantsCustomers) {
        progress.phase = 'Reading Xero contacts';
        for await (const page of contactPages(gateway, { includeArchived: run.includeArchived })) {
          if (await this.cancelled(run.id)) return;
          progress.pagesRead = page.page;
          const planned: NewImportRecord[] = [];
          for (const party of page.parties) planned.push(...(await planParty(party, ctx)));
          await save(planned);
        }
      }
      await store.imports.setProgress(run.id, { ...progress, phase: 'Previewed' });
      await store.imports.setState(run.id, 'previewed');
      this.emit('progress', run.id);
    } finally {
      await directory.clear(); // the directory lives as long as the preview
    }
  }

  // ---- 2. run, 3. resume --------------------------------------------------------------------------------------

  private async execute(run: ImportRun): Promise<void> {
    const { store } = this.deps;
    const client = await this.deps.portals.for(run.memberId);
    const connectionId = run.connectionId ?? (await activeConnection(store, run.memberId)).id;
    await this.heal(run, client, connectionId);
    for (;;) {
      if (await this.cancelled(run.id)) return;
      const { batch, calls } = await this.nextBatch(run.id);
      if (batch.length === 0) break;
      await store.imports.markSending(run.id, batch.filter((b) => b.keys.length).map((b) => b.record.seq));
      const answer = Object.keys(calls).length ? await client.batch(calls) : { results: {}, errors: {}, codes: {}, limited: [] };
      let blocked = false;
      await store.transaction(async () => {
        for (const { record, keys } of batch) if ((await this.record(run, record, keys, answer, connectionId)) === 'blocked') blocked = true;
      });
      this.emit('progress', run.id);
      if (blocked) {
        // The blocked commands were not run; their records are sent again once Bitrix24 frees the method, the run
        // going on then (the outbox and the command line wait for LimitReached).
        throw operatingLimitReached(calls[answer.limited[0]!]![0], answer.retryAt, 'import');
      }
    }
    if (await store.imports.setState(run.id, 'done')) {
      const o = await store.imports.outcomeCounts(run.id);
      await store.activity.record({
        memberId: run.memberId, level: o.fail ? 'warn' : 'info', kind: 'import.finished', subject: `import:${run.id}`,
        message: `Import from Xero finished: ${o.create} created, ${o.link} linked, ${o.update} updated, ${o.skip} skipped, ${o.fail} failed.`,
      });
      this.emit('finished', run.id);
    }
  }

  /** The next records to write and their commands, at most 50 commands (a record's commands never split). */
  private async nextBatch(runId: number): Promise<{ batch: { record: ImportRecord; keys: string[] }[]; calls: BatchCalls }> {
    const batch: { record: ImportRecord; keys: string[] }[] = [];
    const calls: BatchCalls = {};
    for (const r of await this.deps.store.imports.pending(runId, COMMANDS_PER_BATCH)) {
      const cmds = await this.commandsOf(runId, r);
      const keys = Object.keys(cmds);
      if (batch.length && Object.keys(calls).length + keys.length > COMMANDS_PER_BATCH) break;
      Object.assign(calls, cmds);
      batch.push({ record: r, keys });
    }
    return { batch, calls };
  }

  /**
   * What of a record Bitrix24 does not hold yet. A company's people go in a batch after their company's, so each is
   * created with its company's id (a batch that referred to a company command blocked or refused in the same batch
   * would leave the person without its company); a person whose company failed is not sent.
   */
  private async commandsOf(runId: number, r: ImportRecord): Promise<BatchCalls> {
    const k = `k${r.seq}`;
    if (r.b24Type === 'product') {
      const p = r.payload as ProductPayload;
      if (r.action === 'create') return productCreateCommands(k, p, r.written);
      return Object.keys(p.fields).length > 1 ? { [k]: productUpdateCommand(r.b24Id!, p.fields) } : {};
    }
    const p = r.payload as CustomerPayload;
    const kind = r.b24Type as 'company' | 'contact';
    let fields: CustomerFields = p.fields;
    if (r.parentSeq !== null) {
      const parent = await this.deps.store.imports.record(runId, r.parentSeq);
      if (!parent || parent.state === 'failed') return {};
      if (r.action === 'create' && parent.b24Id) fields = { ...fields, COMPANY_ID: parent.b24Id };
    }
    if (r.action === 'create') return createCommands(k, kind, fields, p.requisite, r.written);
    return Object.keys(fields).length ? { [k]: updateCommand(kind, r.b24Id!, fields) } : {};
  }

  /**
   * Records one record's answer, in the caller's transaction: done (with its link), failed with Bitrix24's reason, or —
   * when Bitrix24 blocked some of its commands (OPERATION_TIME_LIMIT) — planned again with the parts it did write.
   */
  private async record(run: ImportRun, r: ImportRecord, keys: string[], answer: BatchOutcome, connectionId: number): Promise<'blocked' | void> {
    const { store } = this.deps;
    const k = `k${r.seq}`;
    const parent = r.parentSeq === null ? undefined : (await store.imports.record(run.id, r.parentSeq));
    if (parent?.state === 'failed') return store.imports.markFailed(run.id, r.seq, `Its company "${parent.name}" could not be written to Bitrix24.`);
    const written = { ...r.written };
    let blocked = false;
    for (const key of keys) {
      const part = key === k ? 'main' : key.slice(k.length + 1);
      if (key in answer.results) {
        const id = r.action === 'create' ? writtenIdOf(r, part, answer.results[key], written) : null;
        if (id) written[part] = id;
      } else if (answer.limited.includes(key)) blocked = true;
      else if (part === 'main' && answer.errors[key] !== undefined) return store.imports.markFailed(run.id, r.seq, `Bitrix24 refused it: ${answer.errors[key]}`);
      // A requisite, address or price Bitrix24 refused is left out, as before; one whose record or requisite is
      // blocked waits with it.
    }
    if (blocked) {
      await store.imports.unsend(run.id, r.seq, written);
      return 'blocked';
    }
    await this.finish(run, r, written.main ?? r.b24Id, connectionId);
  }

  /** Records the written record and its link, in the caller's transaction. */
  private async finish(run: ImportRun, r: ImportRecord, b24Id: string | null, connectionId: number): Promise<void> {
    const { store } = this.deps;
    // A refusal comes with Bitrix24's words (PortalClient.batch reads result_error); an answer without an id and
    // without an error is all that is left here.
    if (!b24Id) return store.imports.markFailed(run.id, r.seq, 'Bitrix24 answered without the new record\'s id and without a reason; it was not linked.');
    await store.imports.markDone(run.id, r.seq, b24Id);
    if (r.b24Type === 'product') {
      const p = r.payload as ProductPayload;
      await store.links.save({ memberId: run.memberId, connectionId, b24Type: 'product', b24Id, xeroType: 'item', xeroId: r.xeroId, xeroNumber: p.code, contentHash: p.hash, xeroStatus: 'ACTIVE', xeroUpdatedAt: null });
      return;
    }
    const p = r.payload as CustomerPayload;
    const link = (await store.links.save({
      memberId: run.memberId, connectionId, b24Type: r.b24Type, b24Id, xeroType: r.xeroType === 'contact_person' ? 'contact_person' : 'contact', xeroId: r.xeroId,
      xeroNumber: p.contactNumber, contentHash: null, xeroStatus: 'ACTIVE', xeroUpdatedAt: null,
    }));
    if (p.details) await store.links.setContactFields(link.id, p.details);
  }

  /**
   * Records whose batch went out without a recorded answer (a crash, a lost answer): what Bitrix24 holds of each is
   * read back — the record by its mark (ORIGIN_ID / external code, set in the create itself), its requisite by owner,
   * its addresses by requisite and type, its base price by product — and only the rest is sent again.
   *
   * Bitrix24 works a batch's commands one after another to the end, whether or not anyone still listens (PHP notices a
   * closed connection only when it writes, and a batch writes its answer last:
   * https://www.php.net/manual/en/function.ignore-user-abort.php), so the batch may still be creating records while a
   * new process starts. The read-back waits until the batch's last create is there, or until the batch can no longer
   * be running (`requestLimitMs` after it was sent); reading earlier would miss what it creates next.
   */
  private async heal(run: ImportRun, client: PortalClient, connectionId: number): Promise<void> {
    const { store, logger } = this.deps;
    const sending = await store.imports.sending(run.id);
    if (!sending.length) return;
    const creates = sending.filter((r) => r.action === 'create');
    const last = creates.at(-1);
    if (last) {
      const until = (last.sentAt ?? 0) + this.requestLimitMs;
      if (Date.now() < until) logger.info({ runId: run.id, until: utcTime(until) }, 'import resumed: waiting for the batch sent before the stop to end in Bitrix24');
      while (Date.now() < until && !this.complete(last, (await this.readBack(client, [last])).get(last.seq)!)) await sleep(Math.min(1000, until - Date.now()));
    }
    const found = await this.readBack(client, creates);
    await store.transaction(async () => {
      for (const r of sending) {
        const written = found.get(r.seq);
        // An update whose answer was lost is taken as made (it sets the same fields again if sent again).
        if (!written) await this.finish(run, r, r.b24Id, connectionId);
        else if (this.complete(r, written)) await this.finish(run, r, written.main!, connectionId);
        else await store.imports.unsend(run.id, r.seq, written);
      }
    });
    logger.info({ runId: run.id, healed: sending.length }, 'import resumed: records sent before the stop were read back from Bitrix24');
  }

  /** Whether Bitrix24 holds every part of a created record. */
  private complete(r: ImportRecord, written: Written): boolean {
    return partsOf(r).every((part) => written[part]);
  }

  /** What Bitrix24 holds of each of these created records: seq → its written parts. */
  private async readBack(client: PortalClient, records: ImportRecord[]): Promise<Map<number, Written>> {
    const out = new Map(records.map((r) => [r.seq, { ...r.written }]));
    const has = (r: ImportRecord, part: string) => out.get(r.seq)![part];
    const lacking = (kind: ImportRecord['b24Type'], part: (p: string) => boolean, after?: string) =>
      records.filter((r) => r.b24Type === kind && (!after || has(r, after)) && partsOf(r).some((p) => part(p) && !has(r, p)));
    for (const kind of ['company', 'contact'] as const) {
      const unfound = lacking(kind, (p) => p === 'main');
      if (unfound.length) {
        const ids = await findByXeroKeys(client, kind, unfound.map((r) => r.xeroId));
        for (const r of unfound) setPart(out, r, 'main', ids.get(r.xeroId));
      }
      const owners = lacking(kind, (p) => p === 'rq', 'main');
      if (owners.length) {
        const rqs = await findRequisites(client, kind, owners.map((r) => has(r, 'main')!));
        for (const r of owners) setPart(out, r, 'rq', rqs.get(has(r, 'main')!));
      }
      const located = lacking(kind, (p) => p.startsWith('a'), 'rq');
      if (located.length) {
        const types = await findAddresses(client, located.map((r) => has(r, 'rq')!));
        for (const r of located) for (const t of types.get(has(r, 'rq')!) ?? []) if (partsOf(r).includes(`a${t}`)) setPart(out, r, `a${t}`, has(r, 'rq'));
      }
    }
    const products = lacking('product', (p) => p === 'main');
    if (products.length) {
      const info = await catalogInfo(client);
      const ids = info ? await findByCodes(client, info.iblockId, products.map((r) => (r.payload as ProductPayload).code)) : new Map<string, string>();
      for (const r of products) setPart(out, r, 'main', ids.get((r.payload as ProductPayload).code));
    }
    const unpriced = lacking('product', (p) => p === 'price', 'main');
    if (unpriced.length) {
      const prices = await findBasePrices(client, unpriced.map((r) => has(r, 'main')!));
      for (const r of unpriced) setPart(out, r, 'price', prices.get(has(r, 'main')!));
    }
    return out;
  }

  // ---- 4. summary, CSV ----------------------------------------------------------------------------------------

  async summary(memberId: string, runId: number, maxFailures = 100): Promise<ImportSummary> {
    const run = await this.runOf(memberId, runId);
    const { store } = this.deps;
    return {
      run,
      planned: await store.imports.plannedCounts(run.id),
      outcome: await store.imports.outcomeCounts(run.id),
      failures: (await fromAsync(store.imports.failures(run.id, maxFailures))).map((r) => ({ name: r.name, kind: r.b24Type, xeroId: r.xeroId, reason: r.reason ?? '' })),
    };
  }

  /** The failed records as CSV lines (header first), streamed. */
  async *csv(memberId: string, runId: number): AsyncGenerator<string> {
    const run = await this.runOf(memberId, runId);
    yield 'Bitrix24 type,Xero id,Name,Reason\r\n';
    for await (const r of this.deps.store.imports.failures(run.id)) yield `${[r.b24Type, r.xeroId, r.name, r.reason ?? ''].map(csvCell).join(',')}\r\n`;
  }

  async runOf(memberId: string, runId: number): Promise<ImportRun> {
    const run = await this.deps.store.imports.run(runId);
    if (!run || run.memberId !== memberId) throw new AppError('SYNC.IMPORT_NOT_FOUND', 'This import does not exist.', 404);
    return run;
  }

  private async enqueue(run: ImportRun, step: Step): Promise<void> {
    await this.deps.store.jobs.enqueue({ memberId: run.memberId, kind: IMPORT_JOB, key: `${IMPORT_JOB}:${run.id}`, payload: { runId: run.id, step } satisfies ImportJobPayload });
  }

  private async cancelled(runId: number): Promise<boolean> {
    return (await this.deps.store.imports.run(runId))?.state === 'cancelled';
  }

  private async progress(runId: number, p: { phase: string; pagesRead: number; planned: number }): Promise<void> {
    await this.deps.store.imports.setProgress(runId, p);
    this.emit('progress', runId);
  }

  private emit(event: 'progress' | 'finished', runId: number): void {
    this.events.emit(event, runId);
  }
}

async function activeConnection(store: Store, memberId: string): Promise<Connection> {
  const c = await store.connections.current(memberId);
  if (c?.state !== 'active') throw new AppError('XERO.NO_CONNECTION', 'Connect Xero first: the import reads from the connected organisation.', 409);
  return c;
}

/**
 * The parts a created record is made of, in the order its commands go out: the record (`main`), then for a company or
 * contact its requisite (`rq`) and an address per type (`a<type>`), for a product its base price (`price`).
 */
function partsOf(r: ImportRecord): string[] {
  if (r.action !== 'create') return [];
  if (r.b24Type === 'product') return (r.payload as ProductPayload).price ? ['main', 'price'] : ['main'];
  const rq = (r.payload as CustomerPayload).requisite;
  return rq ? ['main', 'rq', ...rq.addresses.map((a) => `a${a.typeId}`)] : ['main'];
}

/**
 * The id a create command answered with: crm.*.add and crm.requisite.add → the id; catalog.product.add →
 * {element: {id}}; catalog.price.add → {price: {id}}; crm.address.add → true (an address has no id: its requisite's).
 */
function writtenIdOf(r: ImportRecord, part: string, result: unknown, written: Written): string | null {
  if (result === undefined || result === null || result === false) return null;
  if (part === 'main' && r.b24Type === 'product') {
    const id = (result as { element?: { id?: number | string } }).element?.id;
    return id === undefined ? null : String(id);
  }
  if (part === 'price') return String((result as { price?: { id?: number | string } }).price?.id ?? 'Y');
  if (part.startsWith('a')) return written.rq ?? 'Y';
  return String(result);
}

function setPart(out: Map<number, Written>, r: ImportRecord, part: string, id: string | undefined): void {
  if (id) out.get(r.seq)![part] = id;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function csvCell(v: string): string {
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v; // no formulas when opened in a spreadsheet
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
