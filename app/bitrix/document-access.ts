/**
 * What a page user may see: Bitrix24 decides, asked with the user's own token (never the connector's). A document
 * the portal does not let the user read (ACCESS_DENIED, or not found for them) shows no Xero state or history.
 * One batch answers for up to 50 documents.
 */
import { AppError } from '../errors.js';
import type { B24Type } from '../store/links.js';
import { B24_TIMEOUT_MS } from './portal-client.js';

export interface DocumentRef {
  type: B24Type;
  id: string;
}

/** The read call per document type: smart invoices (31) and quotes (7) via crm.item.get, classic invoices crm.invoice.get. */
// https://apidocs.bitrix24.com/api-reference/crm/universal/crm-item-get.html (400 ACCESS_DENIED without read permission)
// https://apidocs.bitrix24.com/api-reference/crm/outdated/invoice/crm-invoice-get.html
function readCommand(doc: DocumentRef): string | null {
  if (!/^\d+$/.test(doc.id)) return null;
  if (doc.type === 'smart_invoice') return `crm.item.get?entityTypeId=31&id=${doc.id}`;
  if (doc.type === 'quote') return `crm.item.get?entityTypeId=7&id=${doc.id}`;
  if (doc.type === 'invoice') return `crm.invoice.get?id=${doc.id}`;
  return null;
}

export const documentKey = (doc: DocumentRef) => `${doc.type}:${doc.id}`;

/**
 * One `batch` call with the user's token; answers the sub-results and errors by command key. Timeout 10 s; no
 * retry (the user reloads). The token goes only into the body, never into a URL or a log line.
 */
// https://apidocs.bitrix24.com/api-reference/how-to-call-rest-api/batch.html
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

/** The keys (`type:id`) of the documents the user may read, asked in batches of 50. */
export async function readableDocuments(clientEndpoint: string, authId: string, docs: DocumentRef[]): Promise<Set<string>> {
  const readable = new Set<string>();
  const unique = [...new Map(docs.map((d) => [documentKey(d), d])).values()].filter((d) => readCommand(d));
  for (let i = 0; i < unique.length; i += 50) {
    const slice = unique.slice(i, i + 50);
    const cmd = Object.fromEntries(slice.map((d, n) => [`d${n}`, readCommand(d)!]));
    const { ok, body } = await userBatch(clientEndpoint, authId, cmd);
    const results = (body as { result?: { result?: Record<string, unknown> | unknown[] } }).result?.result;
    if (!ok || !results || Array.isArray(results)) continue;
    slice.forEach((d, n) => {
      if (results[`d${n}`] != null) readable.add(documentKey(d));
    });
  }
  return readable;
}

/** Whether the user may read one document. */
export async function canReadDocument(clientEndpoint: string, authId: string, doc: DocumentRef): Promise<boolean> {
  return (await readableDocuments(clientEndpoint, authId, [doc])).has(documentKey(doc));
}
