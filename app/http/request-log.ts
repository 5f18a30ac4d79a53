/**
 * One JSON log line per request (pino): request id, method, path (no query: it may carry tokens), status,
 * duration and size, written when the answer is finished or the client goes away. The id comes from a valid
 * `X-Request-Id` header (a reverse proxy's) or is made here, is echoed in `X-Request-Id`, and is the current
 * request id while the request is handled, so the jobs it enqueues carry it (request-context.ts).
 * Event intake (Bitrix24 events, Xero webhooks) is also timed for the metrics. The metrics label a request by its
 * route's pattern, never by its path.
 */
import { clock } from '../clock.js';
import type { RequestHandler } from 'express';
import type { Logger } from '../log.js';
import type { Manifest } from '../manifest.js';
import type { Metrics } from '../metrics.js';
import { requestIdFrom, withRequestId } from '../request-context.js';

/** The route label of every request that no route matched (404s, and 400/413/429 refused before any route). */
export const UNMATCHED = 'unmatched';

export function requestLog(logger: Logger, metrics: Metrics, manifest: Manifest): RequestHandler {
  const bitrixIntake = new Set([...Object.values(manifest.events), manifest.install].filter(Boolean));
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    const requestId = requestIdFrom(req.get('x-request-id'));
    res.setHeader('X-Request-Id', requestId);
    let logged = false;
    const done = () => {
      if (logged) return;
      logged = true;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const status = res.writableFinished ? res.statusCode : 499;
      // A request no route matched is counted under one constant, whatever its path and status: a label per path
      // would make every random path a new series (memory without bound).
      const route = (req.route as { path?: string } | undefined)?.path ?? UNMATCHED;
      metrics.request(req.method, String(route), status, seconds);
      if (req.method === 'POST' && bitrixIntake.has(req.path)) {
        metrics.intake('bitrix24', seconds);
        // Bitrix24 events carry `ts`, the Unix second the portal raised them (fixtures event.*.json).
        const ts = Number((req.body as { ts?: unknown } | undefined)?.ts);
        if (ts > 0) metrics.webhookDelay('bitrix24', clock.now() / 1000 - ts);
      }
      if (req.method === 'POST' && req.path === manifest.xeroWebhook) metrics.intake('xero', seconds);
      withRequestId(requestId, () =>
        logger[status >= 500 ? 'error' : 'info'](
          { method: req.method, path: req.path, status, ms: Math.round(seconds * 10_000) / 10, bytes: Number(res.getHeader('content-length') ?? 0) || undefined, ip: req.ip },
          'request',
        ),
      );
    };
    res.once('finish', done);
    res.once('close', done);
    withRequestId(requestId, next);
  };
}
