// @ts-check
// The live stream of a page: one server-sent-events stream per page (GET /api/live/:view) that pushes the page's
// regions as server-rendered, escaped HTML. An element with data-live="name" is replaced by the region "name";
// a region's JSON data (charts) goes to listeners. The stream is read with fetch so it carries the page session
// header (EventSource cannot send headers); it reconnects with back-off.
// Pages import { t, api, show, on, set, params, root } from './live.js'.
import { fit } from './frame.js';

/**
 * @typedef {string | Partial<Record<Intl.LDMLPluralRule, string>>} Message
 * @typedef {{ lang: string, messages: Record<string, Message>, live: { view: string, params: Params } | null }} PageData
 * @typedef {Record<string, string | number | null | undefined | FormDataEntryValue>} Params
 * @typedef {{ type: string, name?: string, html?: string, data?: any, message?: string }} LiveEvent
 * @typedef {(event: LiveEvent) => void} Listener
 */

/** The page's <main id="app">: data-base, data-lang, data-session. */
export const root = /** @type {HTMLElement} */ (document.getElementById('app'));
/** @type {PageData} */
const pageData = JSON.parse(document.getElementById('page-data')?.dataset.json || '{}');
const messages = pageData.messages || {};
const session = root.dataset.session ?? '';
/** The path the connector is served under ('' at the root). */
export const base = root.dataset.base || '';
/** The page's language (the one it was rendered in). */
export const pageLang = pageData.lang || document.documentElement.lang || 'en';
/** @type {Map<string, Listener[]>} */
const listeners = new Map();
/** @type {Params} */
let current = (pageData.live && pageData.live.params) || {};
/** @type {AbortController | null} */
let controller = null;
let retry = 1000;
let closedForGood = false;

/**
 * A `js.` text of the page's language with {name} placeholders filled; plural forms by `vars.count`.
 * @param {string} key
 * @param {Record<string, string | number>} [vars]
 */
export function t(key, vars = {}) {
  const m = messages[key];
  if (m === undefined) return key;
  const text = typeof m === 'string' ? m : m[new Intl.PluralRules(pageLang).select(Number(vars.count || 0))] || m.other || key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

/**
 * The words of a caught error, for show().
 * @param {unknown} err
 */
export const messageOf = (err) => (err instanceof Error ? err.message : String(err));

/**
 * The message of a failed answer: the connector's own words when it sent them.
 * @param {Response} res
 */
async function failure(res) {
  const answer = await res.json().catch(() => ({}));
  return new Error((answer.error && answer.error.message) || t('js.error.status', { status: res.status }));
}

/**
 * Calls the page API with the page session; the answer's JSON, or an Error with the connector's message.
 * @param {string} path
 * @param {string} [method]
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
export async function api(path, method = 'GET', body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'X-Connector-Session': session, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw await failure(res);
  return res.json().catch(() => ({}));
}

/**
 * Downloads a file the page API serves (a PDF, a CSV) under `name`.
 * @param {string} path
 * @param {string} name
 */
export async function download(path, name) {
  const res = await fetch(`${base}${path}`, { headers: { 'X-Connector-Session': session } });
  if (!res.ok) throw await failure(res);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** @param {LiveEvent} event */
function apply(event) {
  // The connector closed this stream for good (too many open): say why and do not reconnect.
  if (event.type === 'closed') {
    closedForGood = true;
    document.documentElement.dataset.live = 'closed';
    show(event.message ?? '', 'info');
  }
  if (event.type === 'region' && event.name) {
    const el = document.querySelector(`[data-live="${CSS.escape(event.name)}"]`);
    if (el && typeof event.html === 'string' && el.innerHTML !== event.html) el.innerHTML = event.html;
  }
  for (const fn of listeners.get(event.name ?? '') || []) fn(event);
  for (const fn of listeners.get('*') || []) fn(event);
  fit();
}

/** @param {string} chunk */
function parse(chunk) {
  // One SSE message: lines "event: …" and "data: …"; the data is JSON.
  let type = 'message';
  const data = [];
  for (const line of chunk.split('\n')) {
    if (line.startsWith('event:')) type = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
  }
  if (!data.length) return;
  try {
    apply({ type, ...JSON.parse(data.join('\n')) });
  } catch (err) {
    console.warn('live: unreadable message', err);
  }
}

async function connect() {
  if (!pageData.live || !session) return;
  controller = new AbortController();
  const mine = controller;
  // The page's language goes along, so the regions come back in the words the page was rendered in.
  const entries = Object.entries({ ...current, lang: pageLang }).filter(([, v]) => v !== '' && v !== null && v !== undefined).map(([k, v]) => [k, String(v)]);
  const query = new URLSearchParams(entries).toString();
  try {
    const res = await fetch(`${base}/api/live/${encodeURIComponent(pageData.live.view)}${query ? `?${query}` : ''}`, {
      headers: { 'X-Connector-Session': session, Accept: 'text/event-stream' },
      signal: mine.signal,
    });
    if (!res.ok || !res.body) {
      const answer = await res.json().catch(() => ({}));
      document.documentElement.dataset.live = 'error';
      apply({ type: 'error', name: 'error', message: (answer.error && answer.error.message) || t('js.error.status', { status: res.status }) });
      if (res.status === 401 || res.status === 403 || res.status === 400) return;
      throw new Error(String(res.status));
    }
    document.documentElement.dataset.live = 'open';
    retry = 1000;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        parse(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
      }
    }
  } catch {
    if (mine.signal.aborted) return;
  }
  if (mine !== controller || closedForGood) return;
  document.documentElement.dataset.live = 'reconnecting';
  setTimeout(connect, retry);
  retry = Math.min(retry * 2, 30000);
}

/**
 * Shows a message in the page's #notice.
 * @param {string} text
 * @param {'ok' | 'err' | 'info' | 'alert'} [kind]
 */
export function show(text, kind) {
  const notice = document.getElementById('notice');
  if (!notice) return;
  notice.hidden = false;
  notice.className = `alert ${kind || 'info'}`;
  notice.textContent = text;
  fit();
}

/** The stream's current parameters (a copy). */
export function params() {
  return { ...current };
}

/**
 * New parameters (e.g. the log's filters): the stream restarts and sends every region again.
 * @param {Params} next
 */
export function set(next) {
  current = { ...next };
  closedForGood = false;
  if (controller) controller.abort();
  controller = null;
  void connect();
}

/**
 * Listens to a region's events ('*' for all, 'error' for the stream's problems).
 * @param {string} name
 * @param {Listener} fn
 */
export function on(name, fn) {
  const list = listeners.get(name) ?? [];
  list.push(fn);
  listeners.set(name, list);
}

window.addEventListener('pagehide', () => controller && controller.abort());
void connect();
