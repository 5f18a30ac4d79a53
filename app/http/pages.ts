/** Server-side rendering of the app's pages (EJS, escaped by default) with the framing policy of each. */
import ejs from 'ejs';
import type { Response } from 'express';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { contentSecurityPolicy } from './security-headers.js';

export const VIEWS_DIR = fileURLToPath(new URL('../../views', import.meta.url));

/** Who may frame a page: the portal's origin (pages and placements), or nobody (top-level windows). */
export type Framing = { portalOrigin: string } | 'none';

export async function renderPage(res: Response, view: string, data: Record<string, unknown>, framing: Framing, status = 200): Promise<void> {
  const html = await ejs.renderFile(path.join(VIEWS_DIR, `${view}.ejs`), { base: '', ...data }, { async: false, root: VIEWS_DIR });
  const ancestors = framing === 'none' ? [`'none'`] : [`'self'`, framing.portalOrigin];
  res
    .status(status)
    .set({ 'Content-Security-Policy': contentSecurityPolicy(ancestors), 'Cache-Control': 'no-store' })
    .type('html')
    .send(html);
}

/** The origin of a portal's client endpoint (`https://crm.example.com/rest/` → `https://crm.example.com`). */
export function originOf(clientEndpoint: string): string {
  return new URL(clientEndpoint).origin;
}
