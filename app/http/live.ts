/**
 * The live stream of a page: `GET /api/live/:view` (server-sent events, text/event-stream) with the page session
 * header. A live view names the page's regions; the stream sends every region once, then, each tick, the regions
 * whose content changed: `event: region` with `{ name, html?, data? }`. The HTML is rendered by the same EJS
 * fragments as the first page load, so it is escaped in one place. A comment line every 15 s keeps proxies open;
 * the stream ends when the page session expires (`event: expired`), and the page reloads through Bitrix24.
 */
import { clock } from '../clock.js';
import { createHash } from 'node:crypto';
import { Router, type Request } from 'express';
import { AppError, notFound } from '../errors.js';
import type { Services } from '../services.js';
import { pickLanguage } from './i18n.js';
import { requireSession, type PageSession } from './session.js';

/** Time between two looks at a view's regions. (Default: 1000 ms) */
export const LIVE_TICK_MS = 1000;
const HEARTBEAT_MS = 15_000;

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
}

export type LiveRouter = Router & {
  /** Ends every open stream (graceful shutdown); the pages reconnect to the next process. */
  closeAll(): void;
};

export function liveRoutes(services: Services, views: Record<string, LiveView<any>>, tickMs = LIVE_TICK_MS): LiveRouter {
  const router = Router() as LiveRouter;
  const open = new Set<() => void>();
  router.closeAll = () => {
    for (const end of [...open]) end();
  };

  router.get('/api/live/:view', requireSession(services.sessions), async (req, res) => {
    const view = views[String(req.params.view)];
    if (!view) throw notFound(`The live view "${String(req.params.view)}"`);
    const ctx: LiveContext = { session: req.session!, lang: pickLanguage(req.query.lang), query: req.query };
    const params = await view.prepare(ctx);
    const first = await view.regions(params, ctx);

    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    const sent = new Map<string, string>();
    const send = (regions: Record<string, LiveRegion>) => {
      for (const [name, region] of Object.entries(regions)) {
        const body = JSON.stringify({ name, ...region });
        const hash = createHash('sha1').update(body).digest('base64');
        if (sent.get(name) === hash) continue;
        sent.set(name, hash);
        res.write(`event: region\ndata: ${body}\n\n`);
      }
    };
    send(first);

    let closed = false;
    let busy = false;
    let lastWrite = Date.now();
    const stop = () => {
      closed = true;
      clearInterval(timer);
      open.delete(end);
    };
    const end = () => {
      stop();
      res.end();
    };
    open.add(end);
    const timer = setInterval(async () => {
      if (closed || busy) return;
      if (ctx.session.expiresAt < clock.now()) {
        res.write(`event: expired\ndata: {"name":"expired"}\n\n`);
        end();
        return;
      }
      busy = true;
      try {
        send(await view.regions(params, ctx));
        if (Date.now() - lastWrite > HEARTBEAT_MS) {
          res.write(': keep-alive\n\n');
          lastWrite = Date.now();
        }
      } catch (err) {
        const e = err instanceof AppError ? err : null;
        services.logger.warn({ err: e ? undefined : err, code: e?.code, view: req.params.view }, 'live region failed');
        res.write(`event: problem\ndata: ${JSON.stringify({ name: 'problem', message: e ? e.message : 'The connector could not refresh this page.' })}\n\n`);
      } finally {
        busy = false;
      }
    }, tickMs);
    timer.unref();
    req.on('close', stop);
  });

  return router;
}
