/**
 * Bracket-notation form/query encoding as PHP (and therefore Bitrix24) speaks it.
 * Source: docs/reference/bitrix24.md#events ("express.urlencoded({ extended: true }) yields nested objects; all values are
 * strings"); docs/reference/bitrix24.md#batch (batch commands are `method?query` strings built with
 * http_build_query / qs.stringify).
 */

export type FormValue = string | FormObject | FormValue[];
export interface FormObject { [key: string]: FormValue }

/** Flattens a nested object into `[key, value]` pairs with `a[b][c]` keys; every value becomes a string. */
export function flattenForm(value: unknown, prefix = ''): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (value === null || value === undefined) {
    if (prefix) out.push([prefix, '']);
    return out;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => out.push(...flattenForm(v, `${prefix}[${i}]`)));
    return out;
  }
  if (typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out.push(...flattenForm(v, prefix ? `${prefix}[${k}]` : k));
    }
    return out;
  }
  if (typeof value === 'boolean') {
    // PHP http_build_query writes booleans as 1/0.
    out.push([prefix, value ? '1' : '0']);
    return out;
  }
  out.push([prefix, String(value)]);
  return out;
}

/** `application/x-www-form-urlencoded` body with bracketed keys (brackets percent-encoded, like PHP). */
export function encodeForm(value: Record<string, unknown>): string {
  return flattenForm(value)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
}

/** Parses a query string with bracketed keys into nested objects (PHP `parse_str` semantics, lists as arrays). */
export function parseQuery(query: string): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  if (!query) return root;
  for (const part of query.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const rawKey = eq === -1 ? part : part.slice(0, eq);
    const rawVal = eq === -1 ? '' : part.slice(eq + 1);
    const key = decodePart(rawKey);
    const val = decodePart(rawVal);
    const open = key.indexOf('[');
    if (open === -1) { root[key] = val; continue; }
    const m = /^([^[]+)((?:\[[^\]]*\])*)$/.exec(key);
    if (!m) { root[key] = val; continue; }
    const path = [m[1]!, ...Array.from(m[2]!.matchAll(/\[([^\]]*)\]/g), (x) => x[1]!)];
    let node: Record<string, unknown> = root;
    for (let i = 0; i < path.length; i++) {
      let seg = path[i]!;
      const last = i === path.length - 1;
      if (seg === '') seg = String(Object.keys(node).length);
      if (last) node[seg] = val;
      else {
        if (typeof node[seg] !== 'object' || node[seg] === null) node[seg] = {};
        node = node[seg] as Record<string, unknown>;
      }
    }
  }
  return listify(root) as Record<string, unknown>;
}

/** One form-encoded key or value decoded (`+` is a space); most parts need no decoding at all. */
function decodePart(raw: string): string {
  const spaced = raw.includes('+') ? raw.replace(/\+/g, ' ') : raw;
  return spaced.includes('%') ? decodeURIComponent(spaced) : spaced;
}

/** Objects whose keys are exactly 0..n-1 become arrays (what qs/PHP clients expect for lists). */
function listify(v: unknown): unknown {
  if (!v || typeof v !== 'object') return v;
  const obj = v as Record<string, unknown>;
  for (const k of Object.keys(obj)) obj[k] = listify(obj[k]);
  const keys = Object.keys(obj);
  if (keys.length > 0 && keys.every((k, i) => k === String(i))) return keys.map((k) => obj[k]);
  return obj;
}
