/**
 * Shared REST plumbing: the error type, the `time` object, list paging, filters and ordering.
 * Sources: docs/reference/bitrix24.md#calling-rest (envelope), docs/reference/bitrix24.md#errors, docs/reference/bitrix24.md#lists-and-paging,
 * docs/reference/bitrix24.md#b24jssdk ("every success response needs a `time` object").
 */

/** A REST error answered as `{error, error_description}` with an HTTP status. */
export class RestError extends Error {
  constructor(
    readonly code: string | number,
    readonly description: string,
    readonly status = 400,
  ) {
    super(`${code}: ${description}`);
  }
}

/** What a method handler answers; `total`/`next` are added to the envelope for list methods. */
export interface Answer {
  result: unknown;
  total?: number;
  next?: number;
}

export const PAGE_SIZE = 50; // Source: docs/reference/bitrix24.md#lists-and-paging (50 rows per page).

/** ISO-8601 with offset as Bitrix24 prints it (`2024-07-22T18:00:08+00:00`). */
export function isoDate(ms = Date.now()): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

/** The `time` block every REST success carries. Source: docs/reference/bitrix24.md#calling-rest, docs/reference/bitrix24.md#b24jssdk; fixtures rest.*.response.json. */
export function timeBlock(startMs: number, endMs = Date.now()): Record<string, unknown> {
  const start = startMs / 1000;
  const finish = endMs / 1000;
  return {
    start,
    finish,
    duration: finish - start,
    processing: finish - start,
    date_start: isoDate(startMs),
    date_finish: isoDate(endMs),
    operating_reset_at: Math.floor(endMs / 1000) + 600,
    operating: 0,
  };
}

/**
 * Pages a full result list the way list methods do: `start` (offset, default 0) → 50 rows, `total` and
 * `next` when more rows remain; `start = -1` skips the count (no `total`, no `next`).
 * Source: docs/reference/bitrix24.md#lists-and-paging ("start: -1" with `>ID` filter and ID order).
 */
export function page<T>(rows: T[], start: unknown, wrap: (rows: T[]) => unknown = (r) => r): Answer {
  const s = Number.parseInt(String(start ?? '0'), 10);
  if (s === -1) return { result: wrap(rows.slice(0, PAGE_SIZE)) };
  const offset = Number.isFinite(s) && s > 0 ? s : 0;
  const slice = rows.slice(offset, offset + PAGE_SIZE);
  const answer: Answer = { result: wrap(slice), total: rows.length };
  if (offset + PAGE_SIZE < rows.length) answer.next = offset + PAGE_SIZE;
  return answer;
}

/**
 * The page a keyset read asks for (`start: -1`, ordered by the id ascending, or unordered) taken straight from records
 * held in ascending id order, stopping at PAGE_SIZE kept rows: the rows `page(sortRows(every row))` gives, without
 * rendering the whole list for each page (docs/reference/bitrix24.md#lists-and-paging reads a big list this way, page after page). `keep` renders
 * a record and returns null when the filter drops it. Undefined when the read is not such a read or the records are
 * out of id order; the caller then takes the general path.
 */
export function keysetPage<T, R>(records: Iterable<T>, idOf: (t: T) => number, params: { start?: unknown; order?: unknown; filter?: unknown }, idField: string, keep: (t: T) => R | null): R[] | undefined {
  if (toInt(params.start, 0) !== -1) return undefined;
  const order = params.order && typeof params.order === 'object' && !Array.isArray(params.order) ? Object.entries(params.order as Record<string, unknown>) : [];
  if (order.length > 1 || (order.length === 1 && (order[0]![0].toUpperCase() !== idField.toUpperCase() || String(order[0]![1]).toUpperCase() !== 'ASC'))) return undefined;
  const filter = (params.filter ?? {}) as Record<string, unknown>;
  const cursor = Object.entries(filter).find(([k]) => k.toUpperCase() === `>${idField.toUpperCase()}`)?.[1];
  const after = cursor === undefined ? -Infinity : Number(cursor);
  const out: R[] = [];
  let last = -Infinity;
  for (const t of records) {
    const id = idOf(t);
    if (!(id > last)) return undefined;
    last = id;
    if (id <= after) continue; // the `>ID` cursor, checked before anything is rendered
    const row = keep(t);
    if (row === null) continue;
    out.push(row);
    if (out.length === PAGE_SIZE) break;
  }
  return out;
}

const OPS = ['>=', '<=', '!=', '!@', '=%', '%=', '>', '<', '=', '!', '@', '%'] as const;

/** Splits a filter key like `>=updatedTime` into operator and field. */
export function splitFilterKey(key: string): { op: string; field: string } {
  for (const op of OPS) if (key.startsWith(op)) return { op, field: key.slice(op.length) };
  return { op: '', field: key };
}

function cmp(a: unknown, b: unknown): number {
  if (a === null || a === undefined || a === '') a = null;
  if (b === null || b === undefined || b === '') b = null;
  if (a === null && b === null) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  const na = Number(a);
  const nb = Number(b);
  if (typeof a !== 'boolean' && !Number.isNaN(na) && !Number.isNaN(nb) && String(a).trim() !== '' && String(b).trim() !== '') {
    return na === nb ? 0 : na < nb ? -1 : 1;
  }
  const sa = String(a);
  const sb = String(b);
  if (/^\d{4}-\d{2}-\d{2}/.test(sa) && /^\d{4}-\d{2}-\d{2}/.test(sb)) {
    const da = Date.parse(sa);
    const db = Date.parse(sb);
    if (!Number.isNaN(da) && !Number.isNaN(db)) return da === db ? 0 : da < db ? -1 : 1;
  }
  return sa === sb ? 0 : sa < sb ? -1 : 1;
}

function eq(a: unknown, b: unknown): boolean {
  if (Array.isArray(a)) return a.some((x) => eq(x, b));
  return cmp(a, b) === 0;
}

/**
 * Evaluates a Bitrix24 filter (`=`, `!`/`!=`, `>`, `>=`, `<`, `<=`, `@`/`!@` (in), `%` (contains)).
 * `get(field)` reads a field value or returns `undefined` for an unknown field (the caller decides whether
 * unknown fields are an error). Source: docs/reference/bitrix24.md#lists-and-paging (filter operators).
 */
export function matches(filter: Record<string, unknown> | undefined, get: (field: string) => unknown): boolean {
  if (!filter || typeof filter !== 'object') return true;
  for (const [key, expected] of Object.entries(filter)) {
    if (key === 'logic' || /^\d+$/.test(key)) continue; // nested logic blocks are not emulated
    const { op, field } = splitFilterKey(key);
    const actual = get(field);
    const list = Array.isArray(expected) ? expected : null;
    let ok: boolean;
    switch (op) {
      case '':
      case '=':
        ok = list ? list.some((v) => eq(actual, v)) : eq(actual, expected);
        break;
      case '@':
        ok = (list ?? [expected]).some((v) => eq(actual, v));
        break;
      case '!':
      case '!=':
        ok = list ? !list.some((v) => eq(actual, v)) : !eq(actual, expected);
        break;
      case '!@':
        ok = !(list ?? [expected]).some((v) => eq(actual, v));
        break;
      case '>': ok = cmp(actual, expected) > 0 && actual !== null && actual !== undefined; break;
      case '>=': ok = cmp(actual, expected) >= 0 && actual !== null && actual !== undefined; break;
      case '<': ok = cmp(actual, expected) < 0; break;
      case '<=': ok = cmp(actual, expected) <= 0; break;
      case '%':
      case '=%':
      case '%=':
        ok = String(actual ?? '').toLowerCase().includes(String(expected ?? '').toLowerCase().replace(/%/g, ''));
        break;
      default: ok = true;
    }
    if (!ok) return false;
  }
  return true;
}

/** Sorts by an `order` object (`{ID: 'ASC'}`); default ascending id. */
export function sortRows<T>(rows: T[], order: unknown, get: (row: T, field: string) => unknown, idField: string): T[] {
  const entries: Array<[string, string]> =
    order && typeof order === 'object' && !Array.isArray(order)
      ? Object.entries(order as Record<string, unknown>).map(([k, v]) => [k, String(v).toUpperCase()])
      : [];
  if (entries.length === 0) entries.push([idField, 'ASC']);
  return [...rows].sort((a, b) => {
    for (const [field, dir] of entries) {
      const c = cmp(get(a, field), get(b, field));
      if (c !== 0) return dir === 'DESC' ? -c : c;
    }
    return 0;
  });
}

export function toInt(v: unknown, fallback = 0): number {
  const n = Number.parseInt(String(v ?? ''), 10);
  return Number.isFinite(n) ? n : fallback;
}

export function isYes(v: unknown): boolean {
  return v === true || v === 'Y' || v === 'y' || v === 1 || v === '1' || v === 'true';
}

export function randomToken(len = 32): string {
  const chars = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < len; i++) s += chars[Math.floor(Math.random() * chars.length)];
  return s;
}

export function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
