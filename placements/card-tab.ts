/**
 * The Xero tab in the invoice and quote cards: the document's Xero number and status, its amounts as Xero has them,
 * the totals check, the last sync, why it is blocked and what to do; links to the invoice in Xero, its online
 * invoice and its PDF; "Send to Xero" and "Sync now"; the document's history, live while the tab is open.
 * PLACEMENT_OPTIONS carries the document id; the entity type follows from the placement code.
 */
import { clock } from '../app/clock.js';
import { Router, type Response } from 'express';
import { z } from 'zod';
import { verifyPage, type VerifiedPage } from '../app/bitrix/request-auth.js';
import { requireReadable } from '../app/bitrix/document-access.js';
import { AppError, LimitReached, badRequest, notFound } from '../app/errors.js';
import { pickLanguage, translator, type Translate } from '../app/http/i18n.js';
import type { LiveContext, LiveView } from '../app/http/live.js';
import { originOf, renderPage, renderView } from '../app/http/pages.js';
import { requireSession } from '../app/http/session.js';
import type { PageSession } from '../app/page-sessions.js';
import type { Services } from '../app/services.js';
import type { Activity } from '../app/store/activity.js';
import type { Link, LinkFigures } from '../app/store/links.js';
import { spendingAs } from '../app/xero/budget.js';
import { pushJobKey, pushJobKind } from '../app/sync/intake/intake.js';
import { xeroDeepLink } from '../app/xero/deep-links.js';
import { XeroApiError } from '../app/xero/errors.js';
import type { XeroGateway } from '../app/xero/gateway.js';
import { getInvoices, invoicePdf, onlineInvoiceUrl } from '../app/xero/invoices.js';
import { getQuotes } from '../app/xero/quotes.js';
import { documentLink, documentRef, isDocumentType, subjectOf, type DocumentRef, type DocumentType } from './document-refs.js';
import { ownValue } from '../app/own-keys.js';
import { PdfCache, pdfKey } from './pdf-cache.js';

/** Document type shown by each card placement. Source: docs/reference/bitrix24.md#placements. */
const PLACEMENT_TYPES: Record<string, { type: DocumentType; noun: string }> = {
  CRM_SMART_INVOICE_DETAIL_TAB: { type: 'smart_invoice', noun: 'invoice' },
  CRM_INVOICE_DETAIL_TAB: { type: 'invoice', noun: 'invoice' },
  CRM_QUOTE_DETAIL_TAB: { type: 'quote', noun: 'quote' },
};

/** How long the first render waits for Xero's figures before the live stream brings them. (Default: 2500 ms) */
const FIRST_RENDER_WAIT_MS = 2500;
/** The document kinds the connector pushes (quotes while the quote sync setting is on). */
const PUSHABLE: DocumentType[] = ['smart_invoice', 'invoice', 'quote'];

export function cardTabRoutes(services: Services): Router {
  const router = Router();
  const { store, sessions, manifest } = services;
  const paths = [...new Set(Object.keys(PLACEMENT_TYPES).map((code) => manifest.placements[code]).filter(Boolean))];
  const pdfs = new PdfCache();

  router.post(paths, async (req, res) => {
    const page = await verifyPage(store, req.body, services.config.bitrix.clientId);
    const kind = ownValue(PLACEMENT_TYPES, page.placement);
    const id = String(page.options.ID ?? page.options.id ?? '');
    if (!kind || !/^\d+$/.test(id)) {
      throw badRequest(`This tab opens only from an invoice or quote card (placement ${page.placement}, ID ${id || 'missing'}).`);
    }
    const lang = pickLanguage(req.query.LANG);
    const memberId = page.portal.memberId;
    const ref: DocumentRef = { type: kind.type, id };
    // Only a user whom Bitrix24 lets read the document sees its Xero state (asked with the user's own token).
    await requireReadable(page.portal.clientEndpoint, page.authId, ref);
    const session = sessions.issue({ memberId, userId: page.user.id, isAdmin: page.user.isAdmin, userName: page.user.name, authId: page.authId });
    const card = await cardState(services, sessions.verify(session), ref, lang, FIRST_RENDER_WAIT_MS);
    await renderPage(
      res,
      'card-tab',
      { lang, session, isAdmin: page.user.isAdmin, ref, card, regions: await cardRegions(card, lang, page.user.isAdmin) },
      { portalOrigin: originOf(page.portal.clientEndpoint) },
    );
  });

  /**
   * The document's PDF, read from Xero on demand as a page's read (its own small share of Xero's minute and day,
   * never the pushes'), kept in memory by the link's state (pdf-cache.ts), never stored on disk.
   */
  router.get('/api/documents/:type/:id/pdf', requireSession(sessions), async (req, res) => {
    const ref = refOf(req.params);
    await requireReadable(req.sessionPortal!.clientEndpoint, req.session!.authId, ref);
    const link = await linkedOrThrow(services, req.session!, ref);
    const connection = await store.connections.get(link.connectionId ?? -1);
    if (!connection || connection.state !== 'active') throw new AppError('XERO.NOT_CONNECTED', 'Xero is not connected, so the PDF cannot be read.', 409);
    const pdf = await pdfs.get(pdfKey(link), () => spendingAs('page', () => invoicePdf(services.gateways.for(connection.id), connection.tenantId, link.xeroId)));
    const name = `${(link.xeroNumber ?? 'invoice').replace(/[^A-Za-z0-9._-]/g, '_')}.pdf`;
    res.set({ 'Content-Type': 'application/pdf', 'Content-Disposition': `inline; filename="${name}"`, 'Cache-Control': 'no-store' }).send(pdf);
  });

  /** "Send to Xero" (not linked yet, e.g. created before the install) and "Sync now": a push through the outbox. */
  router.post('/api/documents/push', requireSession(sessions, { admin: true }), async (req, res) => {
    const body = z.object({ type: z.string(), id: z.string().regex(/^\d+$/) }).safeParse(req.body ?? {});
    if (!body.success || !isDocumentType(body.data.type)) throw badRequest('Name the document as {"type": "smart_invoice" | "invoice" | "quote", "id": "42"}.');
    const ref: DocumentRef = { type: body.data.type, id: body.data.id };
    if (!PUSHABLE.includes(ref.type)) throw new AppError('SYNC.NOT_SUPPORTED', 'Estimates are not sent to Xero by this version of the connector yet.', 409);
    const memberId = req.session!.memberId;
    const linked = await store.links.find(memberId, ref.type, ref.id);
    await store.jobs.enqueue({ memberId, kind: pushJobKind(ref.type), key: pushJobKey(memberId, ref), payload: { type: ref.type, id: ref.id, deleted: false, event: 'manual', ts: null, adminAsked: true } });
    await store.activity.record({
      memberId, level: 'info', kind: linked ? 'invoice.sync_requested' : 'invoice.send_requested', subject: subjectOf(ref),
      message: `${req.session!.userName} asked to ${linked ? 'sync' : 'send'} this document ${linked ? 'with' : 'to'} Xero now.`,
    });
    services.outbox.wake();
    res.status(202).json({ queued: true });
  });

  return router;
}

/** The card's live stream: `GET /api/live/card?type=smart_invoice&id=42`. */
export function cardLive(services: Services): LiveView<DocumentRef> {
  return {
    prepare: async (ctx) => {
      const ref = refOf(ctx.query);
      await requireReadable((await services.store.portals.get(ctx.session.memberId))?.clientEndpoint ?? '', ctx.session.authId, ref);
      return ref;
    },
    regions: async (ref, ctx) => cardRegions(await cardState(services, ctx.session, ref, ctx.lang, 0), ctx.lang, ctx.session.isAdmin),
    // The card is the same for everyone of the portal who may read it (checked in prepare), by language and rights.
    shareKey: (ref, ctx) => `${ctx.session.memberId}|${ref.type}:${ref.id}|${ctx.lang}|${ctx.session.isAdmin}`,
  };
}

/** The slider with a document's full history (PLACEMENT_OPTIONS { view: "history", type, id }). */
export async function historySlider(services: Services, page: VerifiedPage, lang: string, res: Response): Promise<void> {
  const ref = refOf(page.options as Record<string, unknown>);
  await requireReadable(page.portal.clientEndpoint, page.authId, ref);
  const { store, sessions } = services;
  const memberId = page.portal.memberId;
  const session = sessions.issue({ memberId, userId: page.user.id, isAdmin: page.user.isAdmin, userName: page.user.name, authId: page.authId });
  const t = translator(lang);
  const history = await store.activity.list({ memberId, subject: subjectOf(ref), limit: 500 });
  await renderPage(
    res,
    'history',
    { lang, session, ref, doc: documentLink(t, originOf(page.portal.clientEndpoint), ref), history },
    { portalOrigin: originOf(page.portal.clientEndpoint) },
  );
}

function refOf(q: Record<string, unknown>): DocumentRef {
  const ref = documentRef({ type: q.type, id: typeof q.id === 'string' ? q.id : undefined });
  if (!ref) throw badRequest('Name the document with type (smart_invoice, invoice or quote) and a numeric id.');
  return ref;
}

async function linkedOrThrow(services: Services, session: PageSession, ref: DocumentRef): Promise<Link> {
  const link = await services.store.links.find(session.memberId, ref.type, ref.id);
  if (!link) throw notFound('The Xero copy of this document');
  return link;
}

/** Xero's figures for a linked document, as of `asOf` (when Xero's answer carrying them was read). */
export interface XeroFigures {
  total: string;
  amountPaid: string;
  amountDue: string;
  currency: string;
  dueDate: string | null;
  status: string;
  onlineUrl: string | null;
  asOf: number;
}

type FiguresProblem = { problem: string; retryAt?: number };
type FiguresEntry = { key: string; promise: Promise<XeroFigures | FiguresProblem>; value?: XeroFigures | FiguresProblem };
const readsInFlight = new Map<number, FiguresEntry>();

/**
 * Xero's figures for a link. The push and the status pull keep them on the link from Xero's own answers
 * (`LinkRepository.figures`), so a card shows them without a Xero call however often it is opened or ticks. Xero is
 * read, as a page's read (budget.ts `page`), only for what the link does not hold yet: the online invoice's address
 * once an invoice is approved (kept on the link after), and the figures of a link made before they were kept. When
 * Xero's calls are kept for the pushes, the card says so and reads again once the page's share allows.
 */
async function xeroFigures(services: Services, link: Link): Promise<FiguresEntry> {
  const kept = await services.store.links.figures(link.id);
  const wantsOnline = (status: string) => link.xeroType === 'invoice' && (status === 'AUTHORISED' || status === 'PAID');
  if (kept && !(wantsOnline(kept.status) && !kept.onlineUrl)) {
    const value: XeroFigures = { ...kept };
    return { key: 'kept', promise: Promise.resolve(value), value };
  }
  const key = `${link.xeroStatus}|${link.lastSyncedAt}|${link.xeroUpdatedAt}`;
  const inFlight = readsInFlight.get(link.id);
  const retryAt = inFlight?.value && 'problem' in inFlight.value ? inFlight.value.retryAt : undefined;
  if (inFlight && inFlight.key === key && !(retryAt && retryAt <= clock.now())) {
    // While the online address is read (or the page's share waits), the kept figures are shown.
    return kept && (!inFlight.value || 'problem' in inFlight.value) ? { key, promise: inFlight.promise, value: { ...kept } } : inFlight;
  }
  const entry: FiguresEntry = { key, promise: spendingAs('page', () => readFigures(services, link, kept)) };
  entry.promise.then(async (v) => {
    entry.value = v;
    if ('problem' in v) return;
    if (!kept) await services.store.links.setFigures(link.id, v, v.asOf);
    if (v.onlineUrl) await services.store.links.setOnlineUrl(link.id, v.onlineUrl);
    readsInFlight.delete(link.id);
  }).catch(() => undefined);
  readsInFlight.set(link.id, entry);
  if (readsInFlight.size > 5000) readsInFlight.delete(readsInFlight.keys().next().value!);
  return kept ? { key, promise: entry.promise, value: { ...kept } } : entry;
}

/** What the link does not hold yet, from Xero: the online address (with `kept`), or all of the figures. */
async function readFigures(services: Services, link: Link, kept: LinkFigures | null): Promise<XeroFigures | FiguresProblem> {
  const connection = await services.store.connections.get(link.connectionId ?? -1);
  if (!connection || connection.state !== 'active') return { problem: 'Xero is not connected.' };
  const gateway = services.gateways.for(connection.id);
  try {
    if (kept) return { ...kept, onlineUrl: await onlineInvoiceUrl(gateway, connection.tenantId, link.xeroId) };
    const asOf = clock.now();
    if (link.xeroType === 'quote') return await quoteFigures(gateway, connection.tenantId, link, asOf);
    const inv = (await getInvoices(gateway, connection.tenantId, [link.xeroId])).get(link.xeroId.toLowerCase());
    if (!inv) return { problem: 'Xero did not return the invoice.' };
    const status = inv.status || (link.xeroStatus ?? '');
    const online = status === 'AUTHORISED' || status === 'PAID' ? await onlineInvoiceUrl(gateway, connection.tenantId, link.xeroId) : null;
    return { total: money(inv.total), amountPaid: money(inv.amountPaid), amountDue: money(inv.amountDue), currency: inv.currencyCode, dueDate: inv.dueDate ?? null, status, onlineUrl: online, asOf };
  } catch (err) {
    if (err instanceof LimitReached) return { problem: err.message, retryAt: err.retryAt };
    return { problem: err instanceof XeroApiError || err instanceof AppError ? err.message : 'Xero could not be read.' };
  }
}

/** A quote's figures: its total and expiry date (quotes have nothing paid or due). */
async function quoteFigures(gateway: XeroGateway, tenantId: string, link: Link, asOf: number): Promise<XeroFigures | { problem: string }> {
  const q = (await getQuotes(gateway, tenantId, [link.xeroId])).get(link.xeroId.toLowerCase());
  if (!q) return { problem: 'Xero did not return the quote.' };
  return { total: money(q.total), amountPaid: '0.00', amountDue: '0.00', currency: q.currencyCode, dueDate: q.dueDate ?? null, status: q.status, onlineUrl: null, asOf };
}

const money = (v: unknown) => (v === undefined || v === null ? '0.00' : Number(v).toFixed(2));

export type CardStatus = 'not_linked' | 'waiting' | 'attention' | 'DRAFT' | 'SUBMITTED' | 'AUTHORISED' | 'PART_PAID' | 'PAID' | 'VOIDED' | 'DELETED'
  | 'SENT' | 'ACCEPTED' | 'DECLINED' | 'INVOICED' | 'unknown';

export interface CardState {
  ref: DocumentRef;
  link: Link | null;
  /** What the sync noted on the link (e.g. why an approved invoice keeps its Xero content). */
  linkNote: string | null;
  status: CardStatus;
  figures: XeroFigures | null;
  figuresProblem: string | null;
  figuresPending: boolean;
  blocked: { reason: string; todo: string } | null;
  waiting: boolean;
  /** Why a waiting document waits (a limit of Xero's or Bitrix24's, a reconnect), when it says; null otherwise. */
  waitReason: string | null;
  totals: { equal: boolean; bitrix24?: string; xero?: string } | null;
  lastOutcome: Activity | null;
  history: Activity[];
  xeroUrl: string | null;
  canPush: boolean;
  connected: boolean;
}

async function cardState(services: Services, session: PageSession, ref: DocumentRef, lang: string, waitMs: number): Promise<CardState> {
  const { store } = services;
  const memberId = session.memberId;
  const t = translator(lang);
  const link = await store.links.find(memberId, ref.type, ref.id) ?? null;
  const job = await store.jobs.findLive(pushJobKey(memberId, ref)) ?? null;
  const connected = (await store.connections.current(memberId))?.state === 'active';
  const history = await store.activity.list({ memberId, subject: subjectOf(ref), limit: 30 });

  let figures: XeroFigures | null = null;
  let figuresProblem: string | null = null;
  let figuresPending = false;
  if (link && (link.xeroType === 'invoice' || link.xeroType === 'quote')) {
    const entry = await xeroFigures(services, link);
    const value = entry.value ?? (waitMs > 0 ? await Promise.race([entry.promise, sleep(waitMs).then(() => undefined)]) : undefined);
    if (!value) figuresPending = true;
    else if ('problem' in value) figuresProblem = value.problem;
    else figures = value;
  }

  const xeroStatus = (figures?.status ?? link?.xeroStatus ?? '').toUpperCase();
  let status: CardStatus;
  if (job?.state === 'needs_attention') status = 'attention';
  else if (!link) status = job ? 'waiting' : 'not_linked';
  else if (xeroStatus === 'AUTHORISED' && figures && Number(figures.amountPaid) > 0) status = 'PART_PAID';
  else if (['DRAFT', 'SUBMITTED', 'AUTHORISED', 'PAID', 'VOIDED', 'DELETED', 'SENT', 'ACCEPTED', 'DECLINED', 'INVOICED'].includes(xeroStatus)) status = xeroStatus as CardStatus;
  else status = 'unknown';

  return {
    ref,
    link,
    linkNote: link ? await store.links.note(link.id) : null,
    status,
    figures,
    figuresProblem,
    figuresPending,
    blocked: job?.state === 'needs_attention' ? { reason: job.lastError ?? '', todo: todoFor(t, job.lastErrorCode) } : null,
    waiting: Boolean(job && (job.state === 'pending' || job.state === 'running')),
    waitReason: job && (job.state === 'pending' || job.state === 'paused') ? job.lastError : null,
    totals: totalsCheck(history),
    lastOutcome: history.find((a) => a.kind !== 'invoice.send_requested' && a.kind !== 'invoice.sync_requested') ?? null,
    history,
    xeroUrl: link ? xeroDeepLink(link.xeroType, link.xeroId, (await services.orgData.cached(memberId))?.shortCode) : null,
    canPush: PUSHABLE.includes(ref.type),
    connected,
  };
}

/** The last push's totals comparison: equal, or both figures when they differ by more than 0.01. */
function totalsCheck(history: Activity[]): CardState['totals'] {
  for (const a of history) {
    if (a.kind === 'invoice.total_mismatch' || a.kind === 'quote.total_mismatch') {
      const d = a.details as { bitrix24?: string; xero?: string } | null;
      return { equal: false, bitrix24: d?.bitrix24, xero: d?.xero };
    }
    if (/^(invoice|quote)\.(created|updated)$/.test(a.kind)) {
      const total = (a.details as { total?: unknown } | null)?.total;
      return { equal: true, xero: total === undefined ? undefined : Number(total).toFixed(2) };
    }
  }
  return null;
}

async function cardRegions(card: CardState, lang: string, isAdmin: boolean) {
  const data = { lang, isAdmin, card };
  const [summary, history] = await Promise.all([renderView('card/summary', data), renderView('card/history', data)]);
  return {
    summary: { html: summary, data: { status: card.status, number: card.link?.xeroNumber ?? null } },
    history: { html: history },
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export function todoFor(t: Translate, code: string | null): string {
  const key = `attention.todo.${code ?? ''}`;
  const text = t(key);
  return text === key ? t('attention.todo.default') : text;
}
