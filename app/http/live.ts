/**
 * The live stream of a page: `GET /api/live/:view` (server-sent events, text/event-stream) with the page session
 * header. A live view names the page's regions; the stream sends every region once, then, each tick, the regions
 * whose content changed: `event: region` with `{ name, html?, data? }`. The HTML is rendered by the same EJS
 * fragments as the first page load, so it is escaped in one place. A comment line every 15 s keeps proxies open;
 * the stream ends when the page session expires (`event: expired`), and the page reloads through Bitrix24.
 *
 * Streams showing the same thing share one rendering: a view's `shareKey` (by default the user, their language and
 * rights, and the view's parameters) names it, and each tick renders it once for all of its streams, so the work per
 * second grows with what is shown, not with how often it is open. Streams are capped: a page session keeps at most
 * `perSession` and a user `perUser` (the oldest is closed with `event: closed` saying why; the page does not
 * reconnect it), a portal at most `perPortal` (a new one is refused with 429 saying why).
 */
import { clock } from '../clock.js';
import { createHash } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import { AppError, notFound } from '../errors.js';
import type { Services } from '../services.js';
import { pickLanguage } from './i18n.js';
import { requireSession } from './session.js';
import type { PageSession } from '../page-sessions.js';
import { ownValue } from '../own-keys.js';

/** Time between two looks at a view's regions. (Default: 1000 ms) */
export const LIVE_TICK_MS = 1000;
const HEARTBEAT_MS = 15_000;

export interface LiveOptions {
  /** (Default: LIVE_TICK_MS) */
  tickMs: number;
  /** Open streams per page session; the oldest is closed past it. (Default: 3) */
  perSession: number;
  /** Open streams per portal user, all sessions together; the oldest is closed past it. (Default: 10) */
  perUser: number;
  /** Open streams per portal; a new one is refused past it. (Default: 100) */
  perPortal: number;
}

export const LIVE_LIMITS: LiveOptions = { tickMs: LIVE_TICK_MS, perSession: 3, perUser: 10, perPortal: 100 };

export interface LiveRegion {
  /** Replaces the element with data-live="<name>". */
  html?: string;
  /** Handed to the page's listeners (charts). */
  data?: unknown;
}

export interface LiveContext {
  session: PageSession;
  lang: string;
  query: Request['query'];
}

/** One page's live regions. `prepare` runs once per stream (checks the parameters and access; throws a 4xx). */
export interface LiveView<P = unknown> {
  prepare(ctx: LiveContext): Promise<P> | P;
  regions(params: P, ctx: LiveContext): Promise<Record<string, LiveRegion>>;
  /**
   * What the regions depend on besides `params`, for streams to share one rendering: streams with the same key see
   * the same regions. (Default: the portal, the user, their rights and language, and `params`)
   */
  shareKey?(params: P, ctx: LiveContext): string;
}

export type LiveRouter = Router & {
  /** Ends every open stream (graceful shutdown); the pages reconnect to the next process. */
  closeAll(): void;
};

interface Stream {
  res: Response;
  ctx: LiveContext;
  session: string;
  user: string;
  portal: string;
  /** Hash of the body last sent per region. */
  sent: Map<string, string>;
  lastWrite: number;
  end(event?: { type: string; message: string }): void;
}

interface Rendering {
  key: string;
  view: LiveView<any>;
  params: unknown;
  streams: Set<Stream>;
  timer?: NodeJS.Timeout;
  busy: boolean;
}

/** A rendered region, once for every stream it goes to. */
interface Rendered {
  name: string;
  body: string;
  hash: string;
}

export function liveRoutes(services: Services, views: Record<string, LiveView<any>>, options: Partial<LiveOptions> = {}): LiveRouter {
  const limits = { ...LIVE_LIMITS, ...options };
  const router = Router() as LiveRouter;
  const streams: Stream[] = []; // oldest first
  const renderings = new Map<string, Rendering>();
  router.closeAll = () => {
    for (const s of [...streams]) s.end();
  };

  router.get('/api/live/:view', requireSession(services.sessions), async (req, res) => {
    const view = ownValue(views, req.params.view);
    if (!view) throw notFound(`The live view "${String(req.params.view)}"`);
    const ctx: LiveContext = { session: req.session!, lang: pickLanguage(req.query.lang), query: req.query };
    const params = await view.prepare(ctx);
    const who = { session: digest(req.get('x-connector-session') ?? ''), user: `${ctx.session.memberId}:${ctx.session.userId}`, portal: ctx.session.memberId };
    refuseOverPortalCap(streams, who, limits);
    const key = `${String(req.params.view)}|${view.shareKey ? view.shareKey(params, ctx) : defaultKey(params, ctx)}`;
    const first = rendered(await view.regions(params, ctx));
    if (req.socket.destroyed) return;
    const superseded = refuseOverPortalCap(streams, who, limits);
    // Taken after the first rendering, with no wait before it joins: streams opened together share one.
    const rendering: Rendering = renderings.get(key) ?? { key, view, params, streams: new Set<Stream>(), busy: false };

    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    let closed = false;
    const stream: Stream = {
      res, ctx, ...who, sent: new Map(), lastWrite: Date.now(),
      end(event) {
        if (closed) return;
        if (event) res.write(`event: ${event.type}\ndata: ${JSON.stringify({ name: event.type, message: event.message })}\n\n`);
        detach();
        res.end();
      },
    };
    const detach = () => {
      if (closed) return;
      closed = true;
      if (streams.includes(stream)) streams.splice(streams.indexOf(stream), 1);
      rendering.streams.delete(stream);
      if (rendering.streams.size === 0) {
        clearInterval(rendering.timer);
        if (renderings.get(key) === rendering) renderings.delete(key);
      }
    };
    for (const old of superseded) {
      old.end({ type: 'closed', message: old.session === who.session
        ? `This page opened more than ${limits.perSession} live streams; the oldest was closed. Reload the page to follow it live again.`
        : `You have more than ${limits.perUser} pages of the connector open live; the oldest was closed. Reload it to follow it live again.` });
    }
    send(stream, first);
    streams.push(stream);
    rendering.streams.add(stream);
    if (!renderings.has(key)) {
      renderings.set(key, rendering);
      rendering.timer = setInterval(() => void tick(rendering), limits.tickMs);
      rendering.timer.unref();
    }
    req.on('close', detach);
  });

  /** One look at a rendering's regions for all of its streams. */
  async function tick(r: Rendering): Promise<void> {
    if (r.busy) return;
    const now = clock.now();
    for (const s of [...r.streams]) {
      if (s.ctx.session.expiresAt < now) {
        s.res.write(`event: expired\ndata: {"name":"expired"}\n\n`);
        s.end();
      }
    }
    if (r.streams.size === 0) return;
    r.busy = true;
    try {
      // The newest stream's session is the freshest (its user's token, its rights as last confirmed).
      const regions = rendered(await r.view.regions(r.params, [...r.streams].at(-1)!.ctx));
      for (const s of r.streams) {
        send(s, regions);
        if (Date.now() - s.lastWrite > HEARTBEAT_MS) {
          s.res.write(': keep-alive\n\n');
          s.lastWrite = Date.now();
        }
      }
    } catch (err) {
      const e = err instanceof AppError ? err : null;
      services.logger.warn({ err: e ? undefined : err, code: e?.code, view: r.key.split('|')[0] }, 'live region failed');
      const problem = JSON.stringify({ name: 'problem', message: e ? e.message : 'The connector could not refresh this page.' });
      for (const s of r.streams) s.res.write(`event: problem\ndata: ${problem}\n\n`);
    } finally {
      r.busy = false;
    }
  }

  return router;
}

/**
 * The streams a new one of `who` supersedes (past the session's or the user's cap, the oldest first); a 429 when the
 * portal would still have more than its cap.
 */
function refuseOverPortalCap(streams: Stream[], who: { session: string; user: string; portal: string }, limits: LiveOptions): Stream[] {
  const superseded = streamsToClose(streams, who, limits);
  if (streams.filter((s) => s.portal === who.portal && !superseded.includes(s)).length >= limits.perPortal) {
    throw new AppError('LIVE.TOO_MANY', `This portal already has ${limits.perPortal} live pages open, the most the connector keeps; this page keeps what it showed when it opened. Reload it later to follow it live.`, 429);
  }
  return superseded;
}

/** The streams a new one of `who` supersedes: past the session's or the user's cap, the oldest first. */
function streamsToClose(streams: Stream[], who: { session: string; user: string }, limits: LiveOptions): Stream[] {
  const closing: Stream[] = [];
  const ofSession = streams.filter((s) => s.session === who.session);
  closing.push(...ofSession.slice(0, Math.max(0, ofSession.length - limits.perSession + 1)));
  const ofUser = streams.filter((s) => s.user === who.user && !closing.includes(s));
  closing.push(...ofUser.slice(0, Math.max(0, ofUser.length - limits.perUser + 1)));
  return closing;
}

function defaultKey(params: unknown, ctx: LiveContext): string {
  const s = ctx.session;
  return `${s.memberId}|${s.userId}|${s.isAdmin}|${ctx.lang}|${JSON.stringify(params)}`;
}

function rendered(regions: Record<string, LiveRegion>): Rendered[] {
  return Object.entries(regions).map(([name, region]) => {
    const body = JSON.stringify({ name, ...region });
    return { name, body, hash: createHash('sha1').update(body).digest('base64') };
  });
}

/** Sends a stream the regions that changed since it was last sent them. */
function send(s: Stream, regions: Rendered[]): void {
  for (const r of regions) {
    if (s.sent.get(r.name) === r.hash) continue;
    s.sent.set(r.name, r.hash);
    s.res.write(`event: region\ndata: ${r.body}\n\n`);
    s.lastWrite = Date.now();
  }
}

const digest = (s: string) => createHash('sha256').update(s).digest('base64url').slice(0, 22);
