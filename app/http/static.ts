/** Static files of the pages: CSS and scripts from views/static, and the Bitrix24 frame SDK (b24jssdk UMD build). */
import express, { Router } from 'express';
import { createRequire } from 'node:module';
import path from 'node:path';
import { VIEWS_DIR } from './pages.js';

const require = createRequire(import.meta.url);

export function staticRoutes(): Router {
  const router = Router();
  const sdkFile = path.join(path.dirname(require.resolve('@bitrix24/b24jssdk/package.json')), 'dist/umd/index.min.js');
  router.get('/static/b24jssdk.js', (_req, res) => {
    res.set('Cache-Control', 'public, max-age=86400').sendFile(sdkFile);
  });
  router.use('/static', express.static(path.join(VIEWS_DIR, 'static'), { maxAge: '1h', index: false }));
  return router;
}
