// List filters shared by the GET endpoints: where, order, If-Modified-Since, paging.
import { msFromXeroDate, parseClientDate, type XeroObject } from './xero-json.js';

/**
 * The simple `where` expressions a connector uses: clauses joined by AND/&& (and OR/|| between groups), each
 * `Path op value` with op in == != >= <= > < and value a "string", Guid("..."), DateTime(y,m,d), number or boolean;
 * also `Path.Contains("x")`/`StartsWith`/`EndsWith`. Source: developer.xero.com/documentation/api/accounting/requests-and-responses
 * (where filter syntax); docs/reference/xero.md#reads ("Prefer IDs, ... over where ORs"). Anything else → 400, like an unparsable filter.
 */
export function compileWhere(where: string): (o: XeroObject) => boolean {
  const orGroups = where.split(/\s+OR\s+|\|\|/i).map((g) => g.split(/\s+AND\s+|&&/i).map((c) => compileClause(c.trim())));
  return (o) => orGroups.some((and) => and.every((f) => f(o)));
}

function getPath(o: XeroObject, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as XeroObject)[k] : undefined), o);
}

function parseValue(raw: string): unknown {
  const s = raw.trim();
  let m = /^"(.*)"$/.exec(s);
  if (m) return m[1];
  m = /^Guid\("([^"]*)"\)$/i.exec(s);
  if (m) return m[1].toLowerCase();
  m = /^DateTime\((\d+)\s*,\s*(\d+)\s*,\s*(\d+)(?:\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+))?\)$/i.exec(s);
  if (m) return Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0));
  if (/^(true|false)$/i.test(s)) return s.toLowerCase() === 'true';
  if (s !== '' && Number.isFinite(Number(s))) return Number(s);
  throw new WhereError(`Unsupported where value: ${s}`);
}

export class WhereError extends Error {}

function comparable(v: unknown): unknown {
  const ms = msFromXeroDate(v);
  if (ms !== undefined) return ms;
  return typeof v === 'string' ? v.toLowerCase() : v;
}

function compileClause(c: string): (o: XeroObject) => boolean {
  let m = /^([A-Za-z][\w.]*)\.(Contains|StartsWith|EndsWith)\("(.*)"\)$/.exec(c);
  if (m) {
    const [, path, fn, arg] = m;
    const needle = arg.toLowerCase();
    return (o) => {
      const v = String(getPath(o, path) ?? '').toLowerCase();
      return fn === 'Contains' ? v.includes(needle) : fn === 'StartsWith' ? v.startsWith(needle) : v.endsWith(needle);
    };
  }
  m = /^([A-Za-z][\w.]*)\s*(==|!=|>=|<=|>|<)\s*(.+)$/.exec(c);
  if (!m) throw new WhereError(`Unsupported where clause: ${c}`);
  const [, path, op, raw] = m;
  const want = parseValue(raw);
  const wantC = typeof want === 'string' ? want.toLowerCase() : want;
  return (o) => {
    const have = comparable(getPath(o, path));
    switch (op) {
      case '==': return have === wantC;
      case '!=': return have !== wantC;
      case '>=': return (have as number) >= (wantC as number);
      case '<=': return (have as number) <= (wantC as number);
      case '>': return (have as number) > (wantC as number);
      default: return (have as number) < (wantC as number);
    }
  };
}

/** `order=Field [ASC|DESC]`. Source: xero_accounting.yaml components/parameters/order. */
export function applyOrder(list: XeroObject[], order: string | undefined): XeroObject[] {
  if (!order) return list;
  const [field, dir] = order.trim().split(/\s+/);
  const sign = dir?.toUpperCase() === 'DESC' ? -1 : 1;
  return [...list].sort((a, b) => {
    const x = comparable(getPath(a, field)) as any;
    const y = comparable(getPath(b, field)) as any;
    return x === y ? 0 : (x > y ? 1 : -1) * sign;
  });
}

/**
 * If-Modified-Since: "only records created or modified since" the given UTC timestamp.
 * Source: docs/reference/xero.md#reads; xero_accounting.yaml components/parameters/ifModifiedSince (format date-time).
 */
export function modifiedSince(header: string | undefined): ((o: XeroObject) => boolean) | undefined {
  if (!header) return undefined;
  const since = parseClientDate(header) ?? Date.parse(header);
  if (Number.isNaN(since)) return undefined;
  // Xero compares at second precision (the header carries seconds); records updated within the same second pass.
  return (o) => (msFromXeroDate(o.UpdatedDateUTC) ?? 0) >= Math.floor(since / 1000) * 1000;
}

export interface Page { items: XeroObject[]; pagination?: { page: number; pageSize: number; pageCount: number; itemCount: number } }

/**
 * Paging: `page` (1-based) and `pageSize` (1..1000, default 100); without `page` some endpoints return all records.
 * Source: docs/reference/xero.md#reads (paging); xero_accounting.yaml components/schemas/Pagination.
 */
export function paginate(list: XeroObject[], pageRaw: unknown, pageSizeRaw: unknown, pagedByDefault = false): Page {
  if (pageRaw === undefined && !pagedByDefault) return { items: list };
  const page = Math.max(1, Number(pageRaw ?? 1) || 1);
  let pageSize = Number(pageSizeRaw ?? 100) || 100;
  pageSize = Math.min(1000, Math.max(1, pageSize));
  const start = (page - 1) * pageSize;
  return {
    items: list.slice(start, start + pageSize),
    pagination: { page, pageSize, pageCount: Math.ceil(list.length / pageSize), itemCount: list.length },
  };
}

export function csv(v: unknown): string[] | undefined {
  if (typeof v !== 'string' || v === '') return undefined;
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}
