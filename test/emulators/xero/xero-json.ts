// Xero JSON conventions shared by every Accounting API handler.
import { randomUUID } from 'node:crypto';

/** Loose record type for Xero-shaped objects (PascalCase keys, as on the wire). */
export type XeroObject = Record<string, any>;

// Source: docs/reference/xero.md#writes (failed elements come back with the zero GUID).
export const ZERO_GUID = '00000000-0000-0000-0000-000000000000';

export const newId = (): string => randomUUID();

// Source: docs/reference/xero.md#requests ("Responses use MS-JSON dates /Date(1539993600000+0000)/").
export function msDate(ms: number): string {
  return `/Date(${ms}+0000)/`;
}

/** ISO-style companion field (`DateString`), e.g. "2018-10-20T00:00:00". Source: docs/reference/xero.md#requests. */
export function isoDateString(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19);
}

/** Milliseconds from a MS-JSON date. */
export function msFromXeroDate(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const m = /^\/Date\((-?\d+)([+-]\d{4})?\)\/$/.exec(v);
  return m ? Number(m[1]) : undefined;
}

/**
 * Parses a date written by a client. Xero accepts `YYYY-MM-DD` (recommended), ISO date-times and MS-JSON dates.
 * Source: docs/reference/xero.md#requests ("Write dates as YYYY-MM-DD").
 */
export function parseClientDate(v: unknown): number | undefined {
  if (v instanceof Date) return v.getTime();
  if (typeof v !== 'string' || v === '') return undefined;
  const ms = msFromXeroDate(v);
  if (ms !== undefined) return ms;
  const d = /^\d{4}-\d{2}-\d{2}$/.test(v) ? Date.parse(`${v}T00:00:00Z`) : Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(v) ? v : `${v}Z`);
  return Number.isNaN(d) ? undefined : d;
}

/** UTC midnight of the day containing `ms`. */
export function dayStart(ms: number): number {
  return Math.floor(ms / 86_400_000) * 86_400_000;
}

/**
 * Half away from zero at `dp`, on the decimal value the double stands for (Xero computes in decimal: 0.5 × 70.07 is
 * 35.035 and rounds to 35.04, although the double product is 35.03499…). 15 significant digits drop the float noise.
 */
export function round(n: number, dp: number): number {
  const text = Math.abs(n).toPrecision(15);
  if (/e/i.test(text)) {
    const f = 10 ** dp;
    return Math.round((n + Number.EPSILON * Math.sign(n)) * f) / f;
  }
  const r = Number(`${Math.round(Number(`${text}e${dp}`))}e-${dp}`);
  return n < 0 ? -r : r;
}
export const round2 = (n: number): number => round(n, 2);

// Source: xero_accounting.yaml (every response schema, e.g. components/schemas/Invoices, is wrapped by the
// Id/Status/ProviderName/DateTimeUTC envelope shown in the spec's response examples).
export function envelope(providerName: string, key: string, items: unknown[], extra: XeroObject = {}): XeroObject {
  return { Id: newId(), Status: 'OK', ProviderName: providerName, DateTimeUTC: msDate(Date.now()), ...extra, [key]: items };
}

// Source: docs/reference/xero.md#errors; xero_accounting.yaml 400 examples (ErrorNumber 10, ValidationException).
export function validationException(elements: XeroObject[]): XeroObject {
  return { ErrorNumber: 10, Type: 'ValidationException', Message: 'A validation exception occurred', Elements: elements };
}

/** A single-message validation exception (element without an echo of the request). */
export function validationMessage(message: string): XeroObject {
  return validationException([{ ValidationErrors: [{ Message: message }] }]);
}

/** Drops keys whose value is undefined, so responses look like Xero's (absent rather than null). */
export function compact<T extends XeroObject>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

export function deepClone<T>(v: T): T {
  return structuredClone(v);
}

/** Number from a client value (xero-node sends numbers; hand-written clients may send numeric strings). */
export function num(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}
