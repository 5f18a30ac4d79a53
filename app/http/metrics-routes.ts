/**
 * GET /metrics: Prometheus text format (prom-client). Who may read it: with METRICS_TOKEN set, a request
 * bearing `Authorization: Bearer <METRICS_TOKEN>` from anywhere; without it, only a client on this machine
 * (loopback, and not forwarded by a reverse proxy). Everyone else gets 404, as if there were no such page.
 * The figures name no customer, document or token: kinds, states, outcomes and connection numbers only.
 */
import { timingSafeEqual } from 'node:crypto';
import { Router, type Request } from 'express';
import type { Metrics } from '../metrics.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

export function metricsRoutes(metrics: Metrics, token: string | undefined): Router {
  const router = Router();
  router.get('/metrics', async (req, res, next) => {
    if (!mayRead(req, token)) return next(); // falls through to the 404 handler
    try {
      res.set('Content-Type', metrics.contentType).set('Cache-Control', 'no-store').send(await metrics.text());
    } catch (err) {
      next(err);
    }
  });
  return router;
}

function mayRead(req: Request, token: string | undefined): boolean {
  if (token) {
    const given = Buffer.from(/^Bearer (.+)$/i.exec(req.get('authorization') ?? '')?.[1] ?? '');
    const want = Buffer.from(token);
    return given.length === want.length && timingSafeEqual(given, want);
  }
  // req.ip is the forwarded client when a proxy on loopback forwarded it ('trust proxy' is loopback).
  return LOOPBACK.has(req.socket.remoteAddress ?? '') && LOOPBACK.has(req.ip ?? '') && !req.get('x-forwarded-for');
}
