/**
 * Server-side rendering of the app's pages (EJS, escaped by default) with the framing policy of each.
 * Every view gets the page kit: `t` (text of the user's language), `lang`, `fmt` (dates, money, counts in that
 * language), `messages` (the `js.` texts for browser scripts) and `base`. Components live in views/components
 * (see views/README.md). The CSP allows scripts and styles only from files the connector serves: no inline
 * <script>, no on…= handlers, no style="" attributes.
 */
import ejs from 'ejs';
import type { Response } from 'express';
import path from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';
import { contentSecurityPolicy } from './security-headers.js';
import { browserMessages, DEFAULT_LANGUAGE, translator, type Translate } from './i18n.js';
import { projectPath } from '../project-root.js';

export const VIEWS_DIR = projectPath('views');

/** Who may frame a page: the portal's origin (pages and placements), the installed portals (error pages), or nobody (top-level windows). */
export type Framing = { portalOrigin: string } | { portalOrigins: string[] } | 'none';

/** The policy of every page (app/http/security-headers.ts): nothing inline, nothing from elsewhere; framed by the portal. */
export function pageCsp(framing: Framing): string {
  if (framing === 'none') return contentSecurityPolicy([`'none'`]);
  return contentSecurityPolicy([`'self'`, ...('portalOrigin' in framing ? [framing.portalOrigin] : framing.portalOrigins)]);
}

export interface PageKit {
  base: string;
  lang: string;
  t: Translate;
  fmt: Formatters;
  messages: Record<string, unknown>;
  /** The components of views/components by camel-cased file name: `ui.badge({ text, tone })` → escaped HTML. */
  ui: Components;
}

export type Components = Record<string, (options?: Record<string, unknown>) => string>;

const COMPONENTS_DIR = path.join(VIEWS_DIR, 'components');
let compiled: Map<string, ejs.TemplateFunction> | undefined;

/** Each component compiled once; a component sees only its options (`o`) and the page kit, never the caller's locals. */
function components(kit: Omit<PageKit, 'ui'>): Components {
  if (!compiled) {
    compiled = new Map();
    for (const file of readdirSync(COMPONENTS_DIR).filter((f) => f.endsWith('.ejs'))) {
      const filename = path.join(COMPONENTS_DIR, file);
      const name = file.replace(/\.ejs$/, '').replace(/-(\w)/g, (_m, c: string) => c.toUpperCase());
      compiled.set(name, ejs.compile(readFileSync(filename, 'utf8'), { filename, root: VIEWS_DIR, async: false }) as ejs.TemplateFunction);
    }
  }
  const ui: Components = {};
  for (const [name, render] of compiled) ui[name] = (o = {}) => render({ ...kit, ui, o }) as string;
  return ui;
}

/** The locals every view and fragment is rendered with. */
const kits = new Map<string, PageKit>();

export function pageKit(lang = DEFAULT_LANGUAGE): PageKit {
  const cached = kits.get(lang);
  if (cached) return cached;
  const kit = { base: '', lang, t: translator(lang), fmt: formatters(lang), messages: browserMessages(lang) };
  const full = { ...kit, ui: components(kit) };
  kits.set(lang, full);
  return full;
}

/** Renders a view (or a fragment such as a live region) to a string with the page kit. */
export async function renderView(view: string, data: Record<string, unknown>): Promise<string> {
  const lang = typeof data.lang === 'string' ? data.lang : DEFAULT_LANGUAGE;
  return ejs.renderFile(path.join(VIEWS_DIR, `${view}.ejs`), { ...pageKit(lang), ...data }, { async: false, root: VIEWS_DIR, cache: true });
}

export async function renderPage(res: Response, view: string, data: Record<string, unknown>, framing: Framing, status = 200): Promise<void> {
  const html = await renderView(view, data);
  res
    .status(status)
    .set({ 'Content-Security-Policy': pageCsp(framing), 'Cache-Control': 'no-store' })
    .type('html')
    .send(html);
}

/** The origin of a portal's client endpoint (`https://crm.example.com/rest/` → `https://crm.example.com`). */
export function originOf(clientEndpoint: string): string {
  return new URL(clientEndpoint).origin;
}

export interface Formatters {
  /** `1 Dec 2026, 10:30` in the user's language, UTC. */
  dateTime(ms: number | null | undefined): string;
  /** `1 Dec 2026` for a Xero date (`YYYY-MM-DD`) or epoch ms. */
  date(value: string | number | null | undefined): string;
  /** `NZ$1,234.50` for an amount (number or decimal string) in a currency. */
  money(amount: number | string | null | undefined, currency: string | null | undefined): string;
  number(n: number): string;
  /** The ISO timestamp for <time datetime>. */
  iso(ms: number): string;
}

function formatters(lang: string): Formatters {
  const dt = new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });
  const d = new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeZone: 'UTC' });
  const n = new Intl.NumberFormat(lang);
  const money = new Map<string, Intl.NumberFormat>();
  return {
    dateTime: (ms) => (ms ? dt.format(ms) : '—'),
    date: (value) => {
      if (value === null || value === undefined || value === '') return '—';
      const ms = typeof value === 'number' ? value : Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
      return Number.isFinite(ms) ? d.format(ms) : String(value);
    },
    money: (amount, currency) => {
      if (amount === null || amount === undefined || amount === '') return '—';
      const code = /^[A-Z]{3}$/.test(currency ?? '') ? currency! : '';
      if (!code) return n.format(Number(amount));
      let f = money.get(code);
      if (!f) money.set(code, (f = new Intl.NumberFormat(lang, { style: 'currency', currency: code })));
      return f.format(Number(amount));
    },
    number: (x) => n.format(x),
    iso: (ms) => new Date(ms).toISOString(),
  };
}
