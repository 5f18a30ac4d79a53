/**
 * The app page (handler path, placement DEFAULT): the dashboard. Verified with the portal, then rendered with a
 * signed session for its follow-up calls and its live stream. The same handler serves the app's sliders: Bitrix24
 * opens them (BX24.openApplication / B24Frame.slider.openSliderAppPage) as a DEFAULT placement whose
 * PLACEMENT_OPTIONS carry the `view` (see SLIDER_VIEWS).
 *
 * The story of a dashboard: connection health (Xero and Bitrix24 sides) → sync state and the Xero budget →
 * charts of the last 24 hours / 30 days → what needs attention → the activity log → settings.
 */
import { clock } from '../app/clock.js';
import { Router } from 'express';
import { z } from 'zod';
import { verifyPage, type VerifiedPage } from '../app/bitrix/request-auth.js';
import { documentKey, readableDocuments } from '../app/bitrix/document-access.js';
import { AppError, badRequest } from '../app/errors.js';
import { pickLanguage, translator, type Translate } from '../app/http/i18n.js';
import type { LiveContext, LiveView } from '../app/http/live.js';
import { originOf, renderPage, renderView } from '../app/http/pages.js';
import { requireSession } from '../app/http/session.js';
import type { Services } from '../app/services.js';
import type { ActivityFilter, ActivityLevel } from '../app/store/activity.js';
import type { Connection } from '../app/store/connections.js';
import { budgetStatus } from '../app/xero/gateway.js';
import { documentLabel, documentLink, documentRef, DOCUMENT_TYPES, recordRef, subjectOf, type RecordRef } from './document-refs.js';
import { historySlider, todoFor } from './card-tab.js';
import { importSlider } from './import-slider.js';
import { settingsSlider } from './settings.js';
import { setupOverview } from '../app/sync/setup/setup-checklist.js';
import { droppedSince } from '../app/sync/event-drops.js';
import { ownValue } from '../app/own-keys.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Rows per page of the activity log. */
export const LOG_PAGE_SIZE = 20;
/** Xero's own daily call limit per organisation (docs/reference/xero.md#rate-limits). */
export const XERO_DAY_LIMIT = 5000;

/** Kind filters of the log: a label key and the activity kind prefixes it matches. */
export const LOG_KINDS: Record<string, string[]> = {
  sync: ['invoice.', 'quote.', 'b24.'],
  attention: ['job.attention'],
  statuses: ['pull-statuses'],
  xero: ['xero.'],
  portal: ['portal.', 'settings.'],
};

/** A view the app opens in a portal slider (PLACEMENT_OPTIONS.view) → its handler. Other pages add theirs here. */
export type SliderView = (services: Services, page: VerifiedPage, lang: string, res: import('express').Response) => Promise<void>;
export const SLIDER_VIEWS: Record<string, SliderView> = {
  history: historySlider,
  import: importSlider,
  settings: settingsSlider,
};

export function dashboardRoutes(services: Services): Router {
  const router = Router();
  const { store, sessions, manifest, config } = services;

  router.post(manifest.handler, async (req, res) => {
    const page = await verifyPage(store, req.body, services.config.bitrix.clientId);
    const lang = pickLanguage(req.query.LANG);
    const view = typeof page.options.view === 'string' ? page.options.view : '';
    if (view) {
      const slider = ownValue(SLIDER_VIEWS, view);
      if (!slider) throw badRequest(`The app has no page "${view}".`);
      return slider(services, page, lang, res);
    }
    const memberId = page.portal.memberId;
    const session = sessions.issue({ memberId, userId: page.user.id, isAdmin: page.user.isAdmin, userName: page.user.name, authId: page.authId });
    const ctx: LiveContext = { session: sessions.verify(session), lang, query: {} };
    const params = parseLogQuery({}, ctx);
    await renderPage(
      res,
      'dashboard',
      {
        lang,
        session,
        isAdmin: page.user.isAdmin,
        userName: page.user.name,
        customConnection: config.xero.grantType === 'client_credentials',
        overview: await setupOverview(store, services.orgData, memberId),
        logKinds: Object.keys(LOG_KINDS),
        regions: await dashboardRegions(services, params, ctx),
      },
      { portalOrigin: originOf(page.portal.clientEndpoint) },
    );
  });

  /** "Dismiss": an admin sets documents that need attention aside (they stay in the log). */
  router.post('/api/jobs/dismiss', requireSession(sessions, { admin: true }), async (req, res) => {
    const body = z.object({ ids: z.array(z.number().int().positive()).min(1).max(500) }).safeParse(req.body ?? {});
    if (!body.success) throw new AppError('HTTP.BAD_REQUEST', 'Name the jobs to dismiss as {"ids": [..]}.', 400);
    const memberId = req.session!.memberId;
    const dismissed = await store.jobs.dismiss(body.data.ids, memberId);
    if (dismissed) {
      await store.activity.record({ memberId, level: 'info', kind: 'settings.dismissed', message: `${req.session!.userName} dismissed ${dismissed} document(s) that needed attention.` });
    }
    res.json({ dismissed });
  });

  return router;
}

/** The dashboard's live stream: the same regions the page was rendered with, for the log filters of the query. */
export function dashboardLive(services: Services): LiveView<LogQuery> {
  return {
    prepare: (ctx) => parseLogQuery(ctx.query, ctx),
    regions: (params, ctx) => dashboardRegions(services, params, ctx),
  };
}

export interface LogQuery {
  doc: string;
  kind: string;
  level: '' | ActivityLevel;
  from: string;
  to: string;
  page: number;
  range: '24h' | '30d';
}

const logQuerySchema = z.object({
  doc: z.string().trim().max(60).optional().default(''),
  kind: z.union([z.literal(''), z.enum(Object.keys(LOG_KINDS) as [string, ...string[]])]).optional().default(''),
  level: z.enum(['', 'info', 'warn', 'error']).optional().default(''),
  from: z.union([z.literal(''), z.string().regex(/^\d{4}-\d{2}-\d{2}$/)]).optional().default(''),
  to: z.union([z.literal(''), z.string().regex(/^\d{4}-\d{2}-\d{2}$/)]).optional().default(''),
  page: z.coerce.number().int().min(1).max(100_000).optional().default(1),
  range: z.enum(['24h', '30d']).optional().default('24h'),
});

function parseLogQuery(query: LiveContext['query'], _ctx: LiveContext): LogQuery {
  const picked = Object.fromEntries(['doc', 'kind', 'level', 'from', 'to', 'page', 'range'].filter((k) => typeof query[k] === 'string').map((k) => [k, query[k]]));
  const parsed = logQuerySchema.safeParse(picked);
  if (!parsed.success) {
    throw badRequest(`The log filter is not valid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}.`);
  }
  return parsed.data as LogQuery;
}

/** Every region of the dashboard, rendered. */
async function dashboardRegions(services: Services, q: LogQuery, ctx: LiveContext): Promise<Record<string, { html?: string; data?: unknown }>> {
  const { store } = services;
  const memberId = ctx.session.memberId;
  const t = translator(ctx.lang);
  const portal = await store.portals.get(memberId);
  const portalOrigin = portal ? originOf(portal.clientEndpoint) : '';
  const connection = await store.connections.current(memberId) ?? null;
  const common = { lang: ctx.lang, isAdmin: ctx.session.isAdmin };

  const health = await connectionHealth(services, memberId, connection);
  const sync = await syncState(services, memberId, connection);
  // Problems and history of documents, companies and contacts are shown only for the records this user may read in
  // Bitrix24 (asked with the user's own token, one batch for the page, answers kept a minute).
  const jobs = await store.jobs.list({ memberId, states: ['needs_attention'], limit: 50 });
  const log = await activityPage(services, memberId, q, t, portalOrigin, ctx.session.isAdmin);
  const jobRecords = new Map<number, RecordRef | null>();
  for (const j of jobs) jobRecords.set(j.id, await recordOfJob(services, j));
  const refs = [...jobRecords.values(), ...log.rows.map((r) => r.record)].filter((r): r is RecordRef => !!r);
  const readable = portal && refs.length ? await readableDocuments(portal.clientEndpoint, ctx.session.authId, refs) : new Set<string>();
  const visible = (ref: RecordRef | null) => !ref || readable.has(documentKey(ref));
  log.rows = log.rows.filter((r) => visible(r.record));
  const attention = jobs.filter((j) => visible(jobRecords.get(j.id) ?? null)).map((j) => {
    const ref = documentRef(j.payload);
    return {
      id: j.id,
      doc: ref ? documentLink(t, portalOrigin, ref) : null,
      what: ref ? documentLabel(t, ref) : t('attention.job'),
      reason: j.lastError ?? '',
      todo: todoFor(t, j.lastErrorCode),
      since: j.attentionSince ?? j.updatedAt,
    };
  });

  const [connectionHtml, syncHtml, attentionHtml, logHtml] = await Promise.all([
    renderView('dashboard/connection', { ...common, connection, health, customConnection: services.config.xero.grantType === 'client_credentials' }),
    renderView('dashboard/sync', { ...common, sync }),
    renderView('dashboard/attention', { ...common, attention }),
    renderView('dashboard/log', { ...common, log }),
  ]);
  return {
    connection: { html: connectionHtml },
    sync: { html: syncHtml },
    attention: { html: attentionHtml, data: { count: attention.length } },
    log: { html: logHtml, data: log.total === null ? { page: log.page } : { total: log.total, page: log.page, pages: log.pages } },
    charts: { data: await charts(services, memberId, connection, q.range) },
  };
}

async function connectionHealth(services: Services, memberId: string, connection: Connection | null) {
  const { jobs } = services.store;
  return {
    // Xero token expiry is kept in Unix seconds.
    tokenExpiresAt: connection?.expiresAt ? connection.expiresAt * 1000 : null,
    renewedAt: connection?.updatedAt ?? null,
    changes24h: await jobs.countCreatedSince(memberId, 'push-invoice', clock.now() - DAY),
    offlineDrainedAt: await jobs.lastFinishedAt(memberId, 'drain-offline'),
    reconciledAt: await jobs.lastFinishedAt(memberId, 'reconcile'),
    // Events answered and dropped (pre-install or unknown documents, a flood over the cap): counted, never stored.
    dropped: await droppedSince(services.store, memberId, clock.now() - HOUR),
  };
}

async function syncState(services: Services, memberId: string, connection: Connection | null) {
  const { store, statusPoll, gateways } = services;
  const counts = await store.jobs.countByState(memberId);
  const lastPoll = connection ? statusPoll.lastPollAt(connection.id) ?? null : null;
  const interval = await statusPoll.intervalSeconds(memberId);
  const gateway = connection && connection.state === 'active' ? gateways.all().find((g) => g.connectionId === connection.id) ?? null : null;
  const since = clock.now() - DAY;
  const plan = gateway ? budgetStatus(gateways, gateway.connectionId) : null;
  const calls24h = gateway ? [...gateway.hourlyCalls].filter(([h]) => h >= since - HOUR).reduce((n, [, c]) => n + c, 0) : 0;
  return {
    counts: { waiting: counts.pending, inFlight: counts.running, attention: counts.needs_attention, paused: counts.paused },
    links: await store.links.count(memberId),
    // The database refusing writes (locked, disk full) stops all sync: shown first-hand, not only in /health.
    storeFault: store.faults.current() ?? null,
    lastPoll,
    nextPoll: connection?.state === 'active' ? (lastPoll ?? clock.now()) + interval * 1000 : null,
    intervalSeconds: interval,
    budget: gateway
      ? {
          minuteUsed: gateway.windowUsed,
          minuteLimit: gateway.limitsKept.perMinute,
          minuteRemaining: gateway.stats.minuteRemaining,
          dayRemaining: plan!.remaining,
          calls24h,
          dayLimit: plan!.limit,
          // What the daily budget lets wait, and until when (xero/budget.ts), and when counted calls free up.
          waiting: plan!.waiting,
          resetsAt: plan!.resetsAt,
          pollStretch: plan!.pollStretch,
          pausedUntil: gateway.pausedUntil,
        }
      : null,
  };
}

/**
 * The record a job needing attention is about: its document, company or contact; for a Xero contact change, the
 * Bitrix24 record linked to it. Null for portal-wide jobs.
 */
async function recordOfJob(services: Services, job: { payload: unknown }): Promise<RecordRef | null> {
  const own = recordRef(job.payload);
  if (own) return own;
  const p = job.payload as { connectionId?: unknown; contactId?: unknown } | null;
  if (typeof p?.connectionId !== 'number' || typeof p.contactId !== 'string') return null;
  const link = (await services.store.links.findByXero(p.connectionId, 'contact', p.contactId))[0];
  return link ? recordRef(`${link.b24Type}:${link.b24Id}`) : null;
}

/**
 * The log page the filters select. A document filter is a Bitrix24 id ("42", "#42") or a Xero number ("INV-0042").
 * The totals (entries, pages) are counted over every row, so only admins, whom Bitrix24 lets read every record, get
 * them; others get the page's rows they may read and "older" while the log goes on.
 */
async function activityPage(services: Services, memberId: string, q: LogQuery, t: Translate, portalOrigin: string, counted: boolean) {
  const { store } = services;
  const filter: ActivityFilter = { memberId };
  if (q.doc) {
    const id = /^#?(\d+)$/.exec(q.doc)?.[1];
    const linked = id ? [] : await store.links.findByXeroNumber(memberId, q.doc);
    filter.subjects = id ? DOCUMENT_TYPES.map((type) => subjectOf({ type, id })) : linked.map((l) => `${l.b24Type}:${l.b24Id}`);
    if (!filter.subjects.length) filter.subjects = ['none:none'];
  }
  if (q.kind) filter.kinds = ownValue(LOG_KINDS, q.kind);
  if (q.level) filter.levels = [q.level];
  if (q.from) filter.from = Date.parse(`${q.from}T00:00:00Z`);
  if (q.to) filter.to = Date.parse(`${q.to}T00:00:00Z`) + DAY;
  const { rows, total } = await store.activity.page({ ...filter, offset: (q.page - 1) * LOG_PAGE_SIZE, limit: LOG_PAGE_SIZE });
  const pages = Math.max(1, Math.ceil(total / LOG_PAGE_SIZE));
  return {
    filtered: Boolean(q.doc || q.kind || q.level || q.from || q.to),
    total: counted ? total : null,
    page: Math.min(q.page, pages),
    pages,
    rows: rows.map((a) => {
      const ref = documentRef(a.subject);
      return { id: a.id, at: a.createdAt, level: a.level, message: a.message, doc: ref ? documentLink(t, portalOrigin, ref) : null, record: recordRef(a.subject) };
    }),
  };
}

/** Series for the charts: documents synced and errors per hour (24 h) or per day (30 d); Xero calls per hour. */
async function charts(services: Services, memberId: string, connection: Connection | null, range: LogQuery['range']) {
  const bucket = range === '24h' ? HOUR : DAY;
  const count = range === '24h' ? 24 : 30;
  const end = Math.floor(clock.now() / bucket) * bucket;
  const start = end - (count - 1) * bucket;
  const byBucket = new Map((await services.store.activity.histogram(memberId, start, bucket)).map((b) => [b.bucket, b]));
  const buckets = Array.from({ length: count }, (_, i) => start + i * bucket);
  const gateway = connection ? services.gateways.all().find((g) => g.connectionId === connection.id) : undefined;
  const hourStart = Math.floor(clock.now() / HOUR) * HOUR - 23 * HOUR;
  const hours = Array.from({ length: 24 }, (_, i) => hourStart + i * HOUR);
  return {
    range,
    documents: {
      buckets,
      synced: buckets.map((b) => byBucket.get(b)?.synced ?? 0),
      errors: buckets.map((b) => byBucket.get(b)?.errors ?? 0),
    },
    calls: {
      buckets: hours,
      calls: hours.map((h) => gateway?.hourlyCalls.get(h) ?? 0),
      hourlyShareOfDayLimit: Math.floor(XERO_DAY_LIMIT / 24),
    },
  };
}
