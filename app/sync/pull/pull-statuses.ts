/**
 * Xero → Bitrix24: statuses and payments come back to the linked documents.
 *
 * A poll of a connection reads what changed in Xero since its watermark (one `GET /Invoices` with
 * If-Modified-Since for a quiet organisation, whatever the number of links; quotes the same way when quotes are
 * linked); a batch of Xero webhook jobs reads the invoices they name with one `GET /Invoices?IDs=` per 50. Then the
 * story is the same for both:
 *
 *   keep the linked documents whose Xero status or amount paid moved → read their current stage in Bitrix24 →
 *   choose the target stage (the admin's map, else the pipeline's stage semantics; never back past a stage a person
 *   chose) → write stage and Xero fields, a payment comment and, once, the "Paid in Xero" trigger, in batches of
 *   ≤ 50 commands → remember the write as an expected echo on the link → log it in words.
 *
 * The watermark only moves over what was read and written: a document whose write failed is read again next poll.
 */
import { clock } from '../../clock.js';
import { AppError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { Decimal } from '../../domain/money.js';
import type { Store } from '../../store/index.js';
import type { Job } from '../../store/jobs.js';
import type { Connection } from '../../store/connections.js';
import type { B24Type, PulledLink, XeroType } from '../../store/links.js';
import { limitOf, type BatchCalls, type PortalClient, type PortalClients } from '../../bitrix/portal-client.js';
import { AUTH_CONNECTOR, PAID_TRIGGER } from '../../bitrix/portal-setup.js';
import { PipelineCache, mappedStage, pipelineEntityId, pipelineKey, wouldMoveBack, type Pipeline } from '../../bitrix/stages.js';
import { invoicesByIds, invoicesModifiedSince, quotesModifiedSince, type ChangesRead, type XeroChange } from '../../xero/changes.js';
import type { XeroGateways } from '../../xero/gateway.js';
import { outcomeOf, type JobHandler, type JobOutcome } from '../outbox.js';
import { portalSettings } from '../settings.js';

/** Re-read this much before the watermark: Xero's clocks and its read replicas may lag a little. */
export const WATERMARK_OVERLAP_MS = 2 * 60_000;
/** How long stage lists and field names read from a portal are trusted. */
const PORTAL_CACHE_MS = 5 * 60_000;
/** Commands per Bitrix24 batch. */
const BATCH_LIMIT = 50;

export interface PollReport {
  connectionId: number;
  /** Xero API calls the poll made (what the bench counts). */
  xeroCalls: number;
  /** Changed Xero documents read (linked or not). */
  read: number;
  /** Linked Bitrix24 documents written. */
  updated: number;
  /** Linked documents whose write failed (read again next time). */
  failed: number;
}

interface ApplyReport {
  updated: number;
  /** Xero ids (lower case) whose Bitrix24 write failed. */
  failedIds: Set<string>;
}

/** One linked document to bring up to date, with what Xero says now. */
interface Pending {
  link: PulledLink;
  change: XeroChange;
}

/** What the pull writes for one document. */
interface Plan extends Pending {
  calls: BatchCalls;
  updateKey: string;
  triggerKey: string | null;
  currentStage: string | null;
  movedTo: string | null;
  keptByHand: string | null;
  /** Stage id → name, for the activity log. */
  stageName: (id: string) => string;
  paymentReceived: Decimal;
}

export interface PullStatusesDeps {
  store: Store;
  gateways: XeroGateways;
  portals: PortalClients;
  logger: Logger;
}

export class PullStatuses {
  readonly #pipelines = new PipelineCache();
  readonly #fieldKeys = new Map<string, { at: number; keys: Map<string, string> }>();
  /** One apply at a time per connection, so a poll and a webhook never write the same change twice. */
  readonly #locks = new Map<number, Promise<unknown>>();

  constructor(private readonly deps: PullStatusesDeps) {}

  /** The outbox handler of `xero-webhook` jobs: up to 50 invoices per handler run, one `GET /Invoices?IDs=`. */
  readonly webhookHandler: JobHandler = { batchSize: 50, run: (jobs) => this.runWebhookJobs(jobs) };

  /**
   * One poll of a connection: invoices (and quotes, when any are linked) changed since the watermark → linked
   * documents updated → watermark moved. Returns the count of Xero calls made (for the schedule and the bench).
   */
  async pollConnection(connectionId: number): Promise<PollReport> {
    const report: PollReport = { connectionId, xeroCalls: 0, read: 0, updated: 0, failed: 0 };
    const connection = this.deps.store.connections.get(connectionId);
    if (!connection || connection.state !== 'active') return report;
    for (const kind of ['invoice', 'quote'] as const) {
      const links = this.deps.store.links.span(connectionId, kind);
      if (links.count === 0) continue; // nothing linked: nothing to ask Xero
      const base = this.watermark(connectionId, kind) ?? links.oldestSyncedAt ?? clock.now();
      const since = new Date(base - WATERMARK_OVERLAP_MS);
      const gateway = this.deps.gateways.for(connectionId);
      const read = kind === 'invoice' ? await invoicesModifiedSince(gateway, since) : await quotesModifiedSince(gateway, since);
      report.xeroCalls += read.calls;
      report.read += read.changes.length;
      const applied = await this.exclusive(connectionId, () => this.apply(connection, kind, read.changes));
      report.updated += applied.updated;
      report.failed += applied.failedIds.size;
      this.saveWatermark(connectionId, kind, nextWatermark(base, read, applied.failedIds));
    }
    return report;
  }

  /** Webhook jobs of one portal: grouped by connection, their invoices read by id and applied like a poll. */
  private async runWebhookJobs(jobs: Job[]): Promise<Map<number, JobOutcome>> {
    const outcomes = new Map<number, JobOutcome>();
    const byConnection = new Map<number, Job<{ connectionId: number; invoiceId: string }>[]>();
    for (const job of jobs as Job<{ connectionId: number; invoiceId: string }>[]) {
      const id = Number(job.payload?.connectionId);
      byConnection.set(id, [...(byConnection.get(id) ?? []), job]);
    }
    for (const [connectionId, group] of byConnection) {
      const connection = this.deps.store.connections.get(connectionId);
      if (!connection || connection.state === 'disconnected') continue; // nothing to read any more: done
      try {
        if (connection.state !== 'active') throw new AppError('XERO.NEEDS_RECONNECT', 'Xero needs reconnecting before statuses can be read.', 409);
        const ids = group.map((j) => String(j.payload.invoiceId));
        const read = await invoicesByIds(this.deps.gateways.for(connectionId), connection.tenantId, ids);
        const applied = await this.exclusive(connectionId, () => this.apply(connection, 'invoice', read.changes));
        for (const job of group) {
          if (applied.failedIds.has(String(job.payload.invoiceId).toLowerCase())) {
            outcomes.set(job.id, { kind: 'retry', code: 'B24.WRITE_FAILED', message: 'Bitrix24 did not take the status update; it will be tried again.' });
          }
        }
      } catch (err) {
        const outcome = outcomeOf(err);
        for (const job of group) outcomes.set(job.id, outcome);
      }
    }
    return outcomes;
  }

  /** Brings the linked documents of `changes` up to date in Bitrix24. */
  private async apply(connection: Connection, kind: XeroType, changes: XeroChange[]): Promise<ApplyReport> {
    const report: ApplyReport = { updated: 0, failedIds: new Set() };
    const pending = this.changedLinkedDocuments(connection, kind, changes);
    if (pending.length === 0) return report;
    const client = this.deps.portals.for(connection.memberId);
    const stages = await this.readCurrentStages(client, pending);
    const pipelines = await this.pipelinesFor(client, connection.memberId, pending, stages);
    const fieldKeys = await this.fieldKeysFor(client, connection.memberId, pending);
    const stageMap = portalSettings(this.deps.store, connection.memberId).stageMap ?? {};
    const plans = pending.map((p) => planWrite(p, stages.get(docKey(p.link)) ?? null, pipelines, fieldKeys, stageMap));
    for (const batch of packBatches(plans)) {
      const calls: BatchCalls = Object.assign({}, ...batch.map((p) => p.calls));
      // https://apidocs.bitrix24.com/settings/how-to-call-rest-api/batch.html (crm.item.update, crm.invoice.update,
      // crm.timeline.comment.add, crm.automation.trigger.execute)
      const answer = await client.batch(calls);
      const blocked = new Set(answer.limited);
      for (const plan of batch) {
        // A document whose write Bitrix24 blocked for its operating time is not failed: it waits (below).
        if (Object.keys(plan.calls).some((k) => blocked.has(k))) report.failedIds.add(plan.change.id.toLowerCase());
        else this.record(connection, plan, answer.results, answer.errors, report);
      }
      // What was written is recorded; the rest waits until Bitrix24 frees the method (the job is not failed).
      limitOf(answer);
    }
    return report;
  }

  /** The links among `changes` whose Xero status or amount paid differs from what the link last saw. */
  private changedLinkedDocuments(connection: Connection, kind: XeroType, changes: XeroChange[]): Pending[] {
    const latest = new Map<string, XeroChange>();
    for (const c of changes) {
      const prev = latest.get(c.id.toLowerCase());
      if (!prev || (c.updatedAt ?? 0) >= (prev.updatedAt ?? 0)) latest.set(c.id.toLowerCase(), c);
    }
    if (latest.size === 0) return [];
    return this.deps.store.links.pulledByXero(connection.id, kind, [...latest.keys()])
      .filter((link) => link.memberId === connection.memberId)
      .map((link) => ({ link, change: latest.get(link.xeroId.toLowerCase())! }))
      .filter(({ link, change }) => change.status !== link.xeroStatus || !change.amountPaid.eq(Decimal.of(link.amountPaid ?? 0)));
  }

  /** Current stage (`stageId`, classic `STATUS_ID`) and pipeline of each document, one batch of list reads. */
  private async readCurrentStages(client: PortalClient, pending: Pending[]): Promise<Map<string, { stage: string; categoryId: number | null }>> {
    const ids = (t: B24Type) => pending.filter((p) => p.link.b24Type === t).map((p) => Number(p.link.b24Id));
    const calls: BatchCalls = {};
    for (const [type, entityTypeId] of [['smart_invoice', 31], ['quote', 7]] as const) {
      const list = ids(type);
      for (let i = 0; i < list.length; i += 50) {
        // https://apidocs.bitrix24.com/api-reference/crm/universal/crm-item-list.html
        calls[`${type}:${i}`] = ['crm.item.list', { entityTypeId, filter: { '@id': list.slice(i, i + 50) }, select: ['id', 'categoryId', 'stageId'] }];
      }
    }
    const classic = ids('invoice');
    for (let i = 0; i < classic.length; i += 50) {
      // https://apidocs.bitrix24.com/api-reference/crm/outdated/invoice/crm-invoice-list.html
      calls[`invoice:${i}`] = ['crm.invoice.list', { filter: { '@ID': classic.slice(i, i + 50) }, select: ['ID', 'STATUS_ID'] }];
    }
    const out = new Map<string, { stage: string; categoryId: number | null }>();
    const keys = Object.keys(calls);
    for (let i = 0; i < keys.length; i += BATCH_LIMIT) {
      const answer = await client.batch(Object.fromEntries(keys.slice(i, i + BATCH_LIMIT).map((k) => [k, calls[k]!])));
      limitOf(answer);
      const { results } = answer;
      for (const [key, value] of Object.entries(results)) {
        const type = key.split(':')[0] as B24Type;
        const rows = Array.isArray(value) ? value : ((value as { items?: unknown[] })?.items ?? []);
        for (const row of rows as Record<string, unknown>[]) {
          if (type === 'invoice') out.set(`invoice:${String(row.ID)}`, { stage: String(row.STATUS_ID ?? ''), categoryId: null });
          else out.set(`${type}:${String(row.id)}`, { stage: String(row.stageId ?? ''), categoryId: row.categoryId === undefined || row.categoryId === null ? null : Number(row.categoryId) });
        }
      }
    }
    return out;
  }

  /** The pipelines of the documents, from the portal's stage lists (cached a few minutes). */
  private async pipelinesFor(client: PortalClient, memberId: string, pending: Pending[], stages: Map<string, { categoryId: number | null }>): Promise<Map<string, Pipeline>> {
    return this.#pipelines.of(client, memberId, pending.map((p) => pipelineEntityId(p.link.b24Type, stages.get(docKey(p.link))?.categoryId ?? null)));
  }

  /**
   * UF name → the key `crm.item.*` uses for it, per entity type, from `crm.item.fields` (`upperName`), since the
   * camelCase form of names like UF_CRM_SMART_INVOICE_XERO_STATUS is not documented (docs/reference/bitrix24.md#crm-items).
   */
  private async fieldKeysFor(client: PortalClient, memberId: string, pending: Pending[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const types = [...new Set(pending.map((p) => p.link.b24Type).filter((t) => t === 'smart_invoice' || t === 'quote'))];
    const calls: BatchCalls = {};
    for (const type of types) {
      const hit = this.#fieldKeys.get(`${memberId}|${type}`);
      if (hit && Date.now() - hit.at < PORTAL_CACHE_MS) hit.keys.forEach((v, k) => out.set(k, v));
      // https://apidocs.bitrix24.com/api-reference/crm/universal/crm-item-fields.html
      else calls[type] = ['crm.item.fields', { entityTypeId: type === 'quote' ? 7 : 31 }];
    }
    if (Object.keys(calls).length) {
      const answer = await client.batch(calls);
      limitOf(answer);
      for (const [type, value] of Object.entries(answer.results)) {
        const fields = ((value as { fields?: Record<string, { upperName?: string }> })?.fields ?? {}) as Record<string, { upperName?: string }>;
        const keys = new Map<string, string>();
        for (const [key, meta] of Object.entries(fields)) if (meta?.upperName?.startsWith('UF_')) keys.set(meta.upperName, key);
        this.#fieldKeys.set(`${memberId}|${type}`, { at: Date.now(), keys });
        keys.forEach((v, k) => out.set(k, v));
      }
    }
    return out;
  }

  /** Saves the outcome of one document's write on its link and in the activity log. */
  private record(connection: Connection, plan: Plan, results: Record<string, unknown>, errors: Record<string, string>, report: ApplyReport): void {
    const { link, change } = plan;
    const subject = `${link.b24Type}:${link.b24Id}`;
    if (errors[plan.updateKey] !== undefined || !(plan.updateKey in results)) {
      report.failedIds.add(change.id.toLowerCase());
      this.deps.store.activity.record({
        memberId: connection.memberId, level: 'warn', kind: 'pull-statuses', subject,
        message: `${docLabel(link, change)}: the Xero status ${change.status} could not be written to Bitrix24 (${errors[plan.updateKey] ?? 'no answer'}); it will be tried again.`,
      });
      return;
    }
    const triggerFired = plan.triggerKey !== null && errors[plan.triggerKey] === undefined && plan.triggerKey in results;
    this.deps.store.transaction(() => {
      this.deps.store.links.recordPulled(link.id, {
        xeroStatus: change.status,
        amountPaid: change.amountPaid.toFixed(2),
        total: change.total.toFixed(2),
        amountDue: change.amountDue.toFixed(2),
        currency: change.currency,
        dueDate: change.dueDate,
        xeroUpdatedAt: change.updatedAt,
        ...(plan.movedTo ? { movedToStage: plan.movedTo } : {}),
        stageAfterWrite: plan.movedTo ?? plan.currentStage,
        ...(triggerFired ? { triggerFiredAt: clock.now() } : {}),
      });
      this.deps.store.activity.record({
        memberId: connection.memberId, level: 'info', kind: 'pull-statuses', subject,
        message: describe(plan),
        details: { xeroId: change.id, status: change.status, amountPaid: change.amountPaid.toFixed(2), amountDue: change.amountDue.toFixed(2), stage: plan.movedTo ?? plan.currentStage },
      });
      if (plan.triggerKey !== null && !triggerFired) {
        this.deps.store.activity.record({
          memberId: connection.memberId, level: 'warn', kind: 'pull-statuses', subject,
          message: `The "${PAID_TRIGGER.name}" automation could not be started for ${docLabel(link, change)}: ${errors[plan.triggerKey] ?? 'no answer'}`,
        });
      }
    });
    report.updated += 1;
  }

  private watermark(connectionId: number, kind: XeroType): number | undefined {
    const v = this.deps.store.watermarks.get(`connection:${connectionId}`, `xero.${kind}s`);
    const t = v === undefined ? NaN : Date.parse(v);
    return Number.isNaN(t) ? undefined : t;
  }

  private saveWatermark(connectionId: number, kind: XeroType, at: number): void {
    this.deps.store.watermarks.set(`connection:${connectionId}`, `xero.${kind}s`, new Date(at).toISOString());
  }

  private async exclusive<T>(connectionId: number, fn: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(connectionId) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(fn);
    this.#locks.set(connectionId, run);
    try {
      return await run;
    } finally {
      if (this.#locks.get(connectionId) === run) this.#locks.delete(connectionId);
    }
  }
}

/**
 * The next watermark: the newest Xero change read (Xero's own clock), but never past a document whose write
 * failed, nor past an incomplete read; never backwards.
 */
export function nextWatermark(base: number, read: ChangesRead, failedIds: Set<string>): number {
  const times = (pred: (c: XeroChange) => boolean) => read.changes.filter(pred).map((c) => c.updatedAt ?? 0).filter((t) => t > 0);
  const failed = times((c) => failedIds.has(c.id.toLowerCase()));
  if (failed.length) return Math.max(base, Math.min(...failed));
  const seen = times(() => true);
  return seen.length ? Math.max(base, ...seen) : base;
}

function docKey(link: Pick<PulledLink, 'b24Type' | 'b24Id'>): string {
  return `${link.b24Type}:${link.b24Id}`;
}

/** The Xero user fields of a document type, by their UF names (bitrix/portal-setup.ts). */
function xeroFieldNames(type: B24Type): { status: string; due: string | null; paid: string | null } {
  if (type === 'invoice') return { status: 'UF_CRM_XERO_STATUS', due: 'UF_CRM_XERO_DUE', paid: 'UF_CRM_XERO_PAID' };
  if (type === 'quote') return { status: 'UF_CRM_QUOTE_XERO_STATUS', due: null, paid: null };
  return { status: 'UF_CRM_SMART_INVOICE_XERO_STATUS', due: 'UF_CRM_SMART_INVOICE_XERO_DUE', paid: 'UF_CRM_SMART_INVOICE_XERO_PAID' };
}

/** Decides one document's write: stage (mapped, not back past a person's choice), fields, comment, trigger. */
function planWrite(
  p: Pending,
  current: { stage: string; categoryId: number | null } | null,
  pipelines: Map<string, Pipeline>,
  fieldKeys: Map<string, string>,
  stageMap: Record<string, Record<string, string>>,
): Plan {
  const { link, change } = p;
  const type = link.b24Type;
  const id = Number(link.b24Id);
  const categoryId = current?.categoryId ?? null;
  const pipeline = pipelines.get(pipelineEntityId(type, categoryId));
  const override = upperKeys(stageMap[pipelineKey(type, categoryId)]);
  // Quotes are mastered in Bitrix24: Xero's quote statuses (e.g. INVOICED) are shown on the card and logged, and never
  // move the Bitrix24 quote.
  const target = pipeline && link.xeroType !== 'quote' ? mappedStage(pipeline, 'invoice', change.status, override) : null;
  const currentStage = current?.stage || null;
  let movedTo: string | null = null;
  let keptByHand: string | null = null;
  if (target && currentStage && target !== currentStage) {
    // A stage the sync itself set may be changed again (e.g. a payment removed in Xero); a person's choice further on stays.
    const setBySync = currentStage === link.syncStageId;
    if (setBySync || !wouldMoveBack(pipeline!, currentStage, target)) movedTo = target;
    else keptByHand = currentStage;
  }

  const names = xeroFieldNames(type);
  const key = (upper: string | null) => (upper === null ? null : type === 'invoice' ? upper : (fieldKeys.get(upper) ?? null));
  const fields: Record<string, unknown> = {};
  const statusKey = key(names.status);
  if (statusKey) fields[statusKey] = change.status;
  const dueKey = key(names.due);
  if (dueKey) fields[dueKey] = change.amountDue.toNumber(2);
  const paidKey = key(names.paid);
  if (paidKey) fields[paidKey] = change.amountPaid.toNumber(2);
  if (movedTo) fields[type === 'invoice' ? 'STATUS_ID' : 'stageId'] = movedTo;

  const calls: BatchCalls = {};
  const updateKey = `u_${type}_${id}`;
  calls[updateKey] = type === 'invoice'
    // https://apidocs.bitrix24.com/api-reference/crm/outdated/invoice/crm-invoice-update.html
    ? ['crm.invoice.update', { id, fields, auth_connector: AUTH_CONNECTOR }]
    // https://apidocs.bitrix24.com/api-reference/crm/universal/crm-item-update.html
    : ['crm.item.update', { entityTypeId: type === 'quote' ? 7 : 31, id, fields, auth_connector: AUTH_CONNECTOR }];

  const paymentReceived = change.amountPaid.sub(Decimal.of(link.amountPaid ?? 0));
  if (link.xeroType === 'invoice' && paymentReceived.cmp(0) > 0) {
    // https://apidocs.bitrix24.com/api-reference/crm/timeline/comments/crm-timeline-comment-add.html
    calls[`c_${type}_${id}`] = ['crm.timeline.comment.add', { fields: { ENTITY_TYPE: type === 'invoice' ? 'invoice' : 'dynamic_31', ENTITY_ID: id, COMMENT: paymentComment(change, paymentReceived) } }];
  }
  let triggerKey: string | null = null;
  if (link.xeroType === 'invoice' && change.status === 'PAID' && link.paidTriggerAt === null) {
    triggerKey = `t_${type}_${id}`;
    // https://apidocs.bitrix24.com/api-reference/crm/automation/triggers/crm-automation-trigger-execute.html
    calls[triggerKey] = ['crm.automation.trigger.execute', { CODE: PAID_TRIGGER.code, OWNER_TYPE_ID: type === 'invoice' ? 5 : 31, OWNER_ID: id }];
  }
  const stageName = (stageId: string) => pipeline?.stages.find((s) => s.id === stageId)?.name ?? stageId;
  return { ...p, calls, updateKey, triggerKey, currentStage, movedTo, keptByHand, stageName, paymentReceived };
}

function upperKeys(map: Record<string, string> | undefined): Record<string, string> | undefined {
  return map && Object.fromEntries(Object.entries(map).map(([k, v]) => [k.toUpperCase(), v]));
}

/** Groups plans into batches of ≤ 50 commands, a document's commands always together. */
function packBatches(plans: Plan[]): Plan[][] {
  const batches: Plan[][] = [];
  let current: Plan[] = [];
  let size = 0;
  for (const plan of plans) {
    const n = Object.keys(plan.calls).length;
    if (size + n > BATCH_LIMIT && current.length) {
      batches.push(current);
      current = [];
      size = 0;
    }
    current.push(plan);
    size += n;
  }
  if (current.length) batches.push(current);
  return batches;
}

// region words ////

/** "NZD 1,150.00" */
export function formatMoney(currency: string, amount: Decimal): string {
  const [int, frac] = amount.abs().toFixed(2).split('.');
  const grouped = int!.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${amount.isNegative() ? '-' : ''}${currency ? `${currency} ` : ''}${grouped}.${frac}`;
}

function docLabel(link: PulledLink, change: XeroChange): string {
  const noun = link.xeroType === 'quote' ? 'Quote' : 'Invoice';
  return `${noun} ${change.number || link.xeroNumber || link.xeroId}`;
}

const VERB: Record<string, string> = {
  AUTHORISED: 'was approved in Xero', SUBMITTED: 'was submitted for approval in Xero', DRAFT: 'is a draft in Xero',
  VOIDED: 'was voided in Xero', DELETED: 'was deleted in Xero', SENT: 'was sent to the customer from Xero',
  ACCEPTED: 'was accepted in Xero', DECLINED: 'was declined in Xero', INVOICED: 'was invoiced in Xero',
};

function describe(plan: Plan): string {
  const { link, change } = plan;
  const label = docLabel(link, change);
  let text: string;
  if (change.status === 'PAID') text = `${label} was paid in Xero (${formatMoney(change.currency, change.total)}).`;
  else if (plan.paymentReceived.cmp(0) > 0) {
    text = `${label} received a payment of ${formatMoney(change.currency, plan.paymentReceived)} in Xero; ${formatMoney(change.currency, change.amountDue)} is still due.`;
  } else text = `${label} ${VERB[change.status] ?? `is ${change.status} in Xero`}.`;
  if (plan.movedTo) text += ` Moved to the stage "${plan.stageName(plan.movedTo)}".`;
  if (plan.keptByHand) text += ` The stage "${plan.stageName(plan.keptByHand)}", chosen by hand, was kept.`;
  return text;
}

function paymentComment(change: XeroChange, received: Decimal): string {
  const paid = formatMoney(change.currency, received);
  if (change.amountDue.isZero()) return `Payment of ${paid} received in Xero for invoice ${change.number}. The invoice is paid in full (${formatMoney(change.currency, change.total)}).`;
  return `Payment of ${paid} received in Xero for invoice ${change.number}. Paid so far: ${formatMoney(change.currency, change.amountPaid)} of ${formatMoney(change.currency, change.total)}; ${formatMoney(change.currency, change.amountDue)} is still due.`;
}

// endregion ////
