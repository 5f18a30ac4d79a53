/**
 * What a page user may see: Bitrix24 decides, asked with the user's own token (never the connector's). A document,
 * company or contact the portal does not let the user read (ACCESS_DENIED, or not found for them) shows no Xero state
 * or history; without the catalog permission, no product. One batch answers for up to 50 records; answers are kept a
 * minute per user token (the page session's).
 */
import { createHash } from 'node:crypto';
import { AppError } from '../errors.js';
import type { B24Type } from '../store/links.js';
import { B24_TIMEOUT_MS } from './portal-client.js';
import { ENTITY_TYPE } from './entity-types.js';

export interface DocumentRef {
  type: B24Type;
  id: string;
}

/**
 * The read call per record type: smart invoices (31), quotes (7), companies (4) and contacts (3) via crm.item.get,
 * classic invoices crm.invoice.get.
 */
// https://apidocs.bitrix24.com/api-reference/crm/universal/crm-item-get.html (400 ACCESS_DENIED without read permission)
// https://apidocs.bitrix24.com/api-reference/crm/outdated/invoice/crm-invoice-get.html
function readCommand(doc: DocumentRef): string | null {
  if (!/^\d+$/.test(doc.id)) return null;
  if (doc.type === 'invoice') return `crm.invoice.get?id=${doc.id}`;
  if (doc.type === 'product') return null;
  return `crm.item.get?entityTypeId=${ENTITY_TYPE[doc.type]}&id=${doc.id}`;
}

export const documentKey = (doc: DocumentRef) => `${doc.type}:${doc.id}`;

/**
 * One `batch` call with the user's token; answers the sub-results and errors by command key. Timeout 10 s; no
 * retry (the user reloads). The token goes only into the body, never into a URL or a log line.
 */
// https://apidocs.bitrix24.com/settings/how-to-call-rest-api/batch.html
export async function userBatch(
  clientEndpoint: string,
  authId: string,
  cmd: Record<string, string>,
): Promise<{ ok: boolean; body: unknown }> {
  let res: Response;
  try {
    res = await fetch(`${clientEndpoint}batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ auth: authId, halt: 0, cmd }),
      signal: AbortSignal.timeout(Math.min(B24_TIMEOUT_MS, 10_000)),
    });
  } catch {
    throw new AppError('B24.UNREACHABLE', 'The Bitrix24 portal could not be reached to confirm who you are. Try again in a moment.', 502);
  }
  return { ok: res.ok, body: await res.json().catch(() => ({})) };
}

/** How long the portal's answer about one user and document is reused (live pages ask every few seconds). (Default: 60 s) */
const ANSWER_TTL_MS = 60_000;
const answers = new Map<string, { readable: boolean; at: number }>();

/** The keys (`type:id`) of the documents the user may read, asked in batches of 50 (answers kept a minute). */
export async function readableDocuments(clientEndpoint: string, authId: string, docs: DocumentRef[]): Promise<Set<string>> {
  const readable = new Set<string>();
  const who = createHash('sha256').update(`${clientEndpoint} ${authId}`).digest('base64url');
  const now = Date.now();
  const toAsk: DocumentRef[] = [];
  for (const d of new Map(docs.map((x) => [documentKey(x), x])).values()) {
    if (!readCommand(d)) continue;
    const known = answers.get(`${who} ${documentKey(d)}`);
    if (known && now - known.at < ANSWER_TTL_MS) {
      if (known.readable) readable.add(documentKey(d));
    } else toAsk.push(d);
  }
  const unique = toAsk;
  for (let i = 0; i < unique.length; i += 50) {
    const slice = unique.slice(i, i + 50);
    const cmd = Object.fromEntries(slice.map((d, n) => [`d${n}`, readCommand(d)!]));
    const { ok, body } = await userBatch(clientEndpoint, authId, cmd);
    const results = (body as { result?: { result?: Record<string, unknown> | unknown[] } }).result?.result;
    if (!ok || !results || Array.isArray(results)) continue;
    slice.forEach((d, n) => {
      const ok = results[`d${n}`] != null;
      if (ok) readable.add(documentKey(d));
      answers.set(`${who} ${documentKey(d)}`, { readable: ok, at: now });
    });
  }
  if (answers.size > 10_000) for (const [k, v] of answers) if (now - v.at >= ANSWER_TTL_MS) answers.delete(k);
  return readable;
}

/**
 * Whether the user may view the product catalog: a one-row catalog.product.list with the user's token (400 200040300010
 * "Access Denied" without the permission). Kept a minute like the record answers.
 */
// https://apidocs.bitrix24.com/api-reference/catalog/product/catalog-product-list.html ("Who can execute the method: a
// user with permission to view the product catalog"; error 200040300010)
export async function readsCatalog(clientEndpoint: string, authId: string, iblockId: number): Promise<boolean> {
  const who = createHash('sha256').update(`${clientEndpoint} ${authId}`).digest('base64url');
  const key = `${who} catalog:${iblockId}`;
  const now = Date.now();
  const known = answers.get(key);
  if (known && now - known.at < ANSWER_TTL_MS) return known.readable;
  const { ok, body } = await userBatch(clientEndpoint, authId, { c: `catalog.product.list?filter[iblockId]=${iblockId}&select[]=id&select[]=iblockId&start=-1` });
  const results = (body as { result?: { result?: Record<string, unknown> | unknown[] } }).result?.result;
  const readable = ok && Boolean(results) && !Array.isArray(results) && (results as Record<string, unknown>).c != null;
  // Only an answer is remembered; a portal that did not answer is asked again next time.
  if (ok && results) answers.set(key, { readable, at: now });
  return readable;
}

export function noCatalogAccess(): AppError {
  return new AppError('AUTH.NO_CATALOG_ACCESS', 'Bitrix24 does not let you view the product catalog, so the products are not shown.', 403);
}

export function noDocumentAccess(): AppError {
  return new AppError('AUTH.NO_DOCUMENT_ACCESS', 'Bitrix24 does not let you view this document, so its Xero details are not shown.', 403);
}

/** Throws 403 unless the user may read the document. */
export async function requireReadable(clientEndpoint: string, authId: string, doc: DocumentRef): Promise<void> {
  if (!(await canReadDocument(clientEndpoint, authId, doc))) throw noDocumentAccess();
}

/** Whether the user may read one document. */
export async function canReadDocument(clientEndpoint: string, authId: string, doc: DocumentRef): Promise<boolean> {
  return (await readableDocuments(clientEndpoint, authId, [doc])).has(documentKey(doc));
}
