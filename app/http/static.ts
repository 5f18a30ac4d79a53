/**
 * Static files of the pages: CSS and scripts from views/static, and the browser builds the pages use, served from
 * node_modules by the connector (no CDN): the Bitrix24 frame SDK (b24jssdk UMD build) and Chart.js (UMD build).
 * Scripts and styles go out gzip-compressed when the browser accepts it (compressed once, kept in memory), so a
 * dashboard's first load stays small; they are cached by the browser for a day (versioned by the package).
 */
import express, { Router, type Request, type Response } from 'express';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { VIEWS_DIR } from './pages.js';

const require = createRequire(import.meta.url);
const STATIC_DIR = path.join(VIEWS_DIR, 'static');

/** Browser builds from node_modules, by the name pages load them under /static. */
export const VENDOR_FILES: Record<string, string> = {
  'b24jssdk.js': path.join(path.dirname(require.resolve('@bitrix24/b24jssdk/package.json')), 'dist/umd/index.min.js'),
  'chart.umd.min.js': path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.min.js'),
};

interface Packed {
  raw: Buffer;
  gzip: Buffer;
}
const packed = new Map<string, Packed>();

function pack(file: string): Packed {
  let p = packed.get(file);
  if (!p) {
    const raw = readFileSync(file);
    p = { raw, gzip: gzipSync(raw, { level: 9 }) };
    packed.set(file, p);
  }
  return p;
}

function sendPacked(req: Request, res: Response, file: string, type: string, maxAge: number): void {
  const p = pack(file);
  const gzip = /\bgzip\b/.test(String(req.get('accept-encoding') ?? ''));
  res.set({ 'Content-Type': type, 'Cache-Control': `public, max-age=${maxAge}`, Vary: 'Accept-Encoding' });
  if (gzip) res.set('Content-Encoding', 'gzip');
  res.send(gzip ? p.gzip : p.raw);
}

export function staticRoutes(): Router {
  const router = Router();
  for (const [name, file] of Object.entries(VENDOR_FILES)) {
    router.get(`/static/${name}`, (req, res) => sendPacked(req, res, file, 'application/javascript; charset=utf-8', 86_400));
  }
  // The connector's own scripts and styles, compressed the same way (a development edit shows after a restart).
  router.get(/^\/static\/([a-z0-9-]+\.(js|css))$/, (req, res, next) => {
    const m = /^\/static\/([a-z0-9-]+\.(js|css))$/.exec(req.path)!;
    const file = path.join(STATIC_DIR, m[1]!);
    try {
      sendPacked(req, res, file, m[2] === 'js' ? 'application/javascript; charset=utf-8' : 'text/css; charset=utf-8', 3600);
    } catch {
      next();
    }
  });
  router.use('/static', express.static(STATIC_DIR, { maxAge: '1h', index: false }));
  return router;
}
