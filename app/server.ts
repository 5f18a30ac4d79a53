/**
 * Builds the Express app (no listen), so tests drive it in-process. Feature routes are mounted here;
 * every path install.json lists is answered, with 501 while its feature is not built.
 */
import express, { type Express } from 'express';
import { securityHeaders } from './http/security-headers.js';
import { noStoreApi, rateLimits, singleQueryValues } from './http/request-guards.js';
import type { Config } from './config.js';
import { AppError, notImplemented } from './errors.js';
import { errorHandler, notFoundHandler } from './http/error-handler.js';
import { originOf } from './http/pages.js';
import { healthRoutes } from './http/health.js';
import type { Logger } from './log.js';
import { loadManifest, manifestPaths, type Manifest } from './manifest.js';
import type { Store } from './store/index.js';
import { createServices, type Services } from './services.js';
import { bitrixRoutes } from './http/bitrix-routes.js';
import { xeroRoutes } from './http/xero-routes.js';
import { settingsRoutes } from './http/settings-routes.js';
import { setupRoutes } from './http/setup-routes.js';
import { staticRoutes } from './http/static.js';
import { dashboardRoutes } from '../placements/dashboard.js';
import { cardLive, cardTabRoutes } from '../placements/card-tab.js';
import { dashboardLive } from '../placements/dashboard.js';
import { liveRoutes } from './http/live.js';
import { importLive, importRoutes } from '../placements/import-slider.js';

export interface ServerDeps {
  config: Config;
  store: Store;
  logger: Logger;
  manifest?: Manifest;
  startedAt?: number;
  /** Key for page sessions; the same APP_SECRET the store uses. */
  appSecret: string;
  /** Xero limits per connection; tests shrink the window. (Default: DEFAULT_XERO_LIMITS) */
  xeroLimits?: Partial<XeroLimits>;
}

import { BODY_LIMIT, pageLimits } from './http/limits.js';
import type { XeroLimits } from './xero/gateway.js';
import { xeroWebhookRoutes } from './http/xero-webhook-routes.js';
import { requestLog } from './http/request-log.js';
import { metricsRoutes } from './http/metrics-routes.js';

export { BODY_LIMIT };

export interface ConnectorServer {
  app: Express;
  services: Services;
  /** Refuse new requests with 503 (graceful shutdown has begun). */
  beginDrain(): void;
}

export function createServer(deps: ServerDeps): ConnectorServer {
  const manifest = deps.manifest ?? loadManifest();
  const services = createServices({ ...deps, manifest });
  const app = express();
  let draining = false;

  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  app.use(requestLog(deps.logger, services.metrics, manifest));
  app.use(securityHeaders(deps.config.publicUrl));
  app.use((_req, res, next) => {
    if (!draining) return next();
    res.set('Connection', 'close').status(503).json({
      error: { code: 'HTTP.SHUTTING_DOWN', message: 'The connector is restarting; please retry in a few seconds.' },
    });
  });
  app.use(noStoreApi);
  app.use(singleQueryValues);
  for (const [paths, limit] of rateLimits(manifest)) app.use(paths, limit);
  // Per page session and per portal user (limits.ts); page loads once their form is read.
  const throttle = pageLimits(services.sessions, manifest);
  app.use(throttle.api);
  // Xero signs the raw bytes: its route reads the body itself, before the parsers below.
  app.use(xeroWebhookRoutes(services));
  app.use(express.json({ limit: BODY_LIMIT }));
  app.use(express.urlencoded({ extended: true, limit: BODY_LIMIT, parameterLimit: 5000 }));
  app.use(...throttle.pageLoads);

  app.use(healthRoutes(deps.store, deps.startedAt ?? Date.now()));
  app.use(metricsRoutes(services.metrics, deps.config.metricsToken));
  app.use(staticRoutes());
  app.use(bitrixRoutes(services));
  app.use(dashboardRoutes(services));
  app.use(cardTabRoutes(services));
  // One live stream per page; each page's view is named here (GET /api/live/:view).
  const live = liveRoutes(services, { dashboard: dashboardLive(services), card: cardLive(services), import: importLive(services) });
  app.use(live);
  app.use(xeroRoutes(services));
  app.use(settingsRoutes(services));
  app.use(setupRoutes(services));
  app.use(importRoutes(services, manifest.placements.CRM_COMPANY_LIST_TOOLBAR ?? manifest.placements.CRM_CONTACT_LIST_TOOLBAR));

  for (const path of manifestPaths(manifest)) {
    // A path served for other methods answers 405 naming them; a path with no feature yet answers 501.
    const allowed = routedMethods(app, path);
    app.all(path, (req, res, next) => {
      // Bitrix24 and Xero only GET and POST these paths; other methods are refused even where routes match a pattern.
      const methods = allowed.length ? allowed : ['GET', 'HEAD', 'POST'].includes(req.method) ? [] : ['GET', 'POST'];
      if (methods.length === 0) return next(notImplemented(`The endpoint ${path}`));
      res.set('Allow', methods.join(', '));
      next(new AppError('HTTP.METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}; use ${methods.join(' or ')}.`, 405));
    });
  }

  // Error pages may be framed by the installed portals, so a refused card tab says why inside Bitrix24.
  const framers = async () => [...new Set((await deps.store.portals.list()).filter((p) => p.state === 'installed').map((p) => originOf(p.clientEndpoint)))];
  app.use(notFoundHandler(framers));
  app.use(errorHandler(deps.logger, framers, deps.store.faults));
  return {
    app,
    services,
    beginDrain() {
      draining = true;
      live.closeAll();
    },
  };
}

/** The HTTP methods the app's routes (in nested routers too) serve for exactly `path`. */
function routedMethods(app: Express, path: string): string[] {
  type Layer = { route?: { path?: unknown; methods?: Record<string, boolean> }; handle?: { stack?: Layer[] } };
  const found = new Set<string>();
  const walk = (stack: Layer[] | undefined) => {
    for (const layer of stack ?? []) {
      if (layer.route?.path === path) for (const [m, on] of Object.entries(layer.route.methods ?? {})) if (on && m !== '_all') found.add(m.toUpperCase());
      walk(layer.handle?.stack);
    }
  };
  walk((app as unknown as { router?: { stack?: Layer[] } }).router?.stack);
  return [...found].sort();
}
