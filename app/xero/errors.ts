/**
 * The one adapter from xero-node's rejections to typed errors. xero-node rejects API calls with a JSON
 * *string* ({response:{statusCode, body, headers}, body}); token and connection paths reject with errors.
 * Source: docs/reference/xero.md#xero-node (issues #741, #500) and docs/reference/xero.md#errors (error bodies).
 */
import { AppError } from '../errors.js';

export type XeroErrorKind =
  | 'network' // no answer (status 0): timeout, refused, reset
  | 'rate_limited' // 429
  | 'unauthorized' // 401: the access token expired or was revoked
  | 'forbidden' // 403: scope or tenant not authorised
  | 'validation' // 400 ValidationException
  | 'not_found' // 404
  | 'server' // 5xx
  | 'other';

export class XeroApiError extends AppError {
  constructor(
    readonly kind: XeroErrorKind,
    readonly httpStatus: number,
    message: string,
    readonly validationMessages: string[] = [],
    readonly retryAfterSeconds: number | null = null,
    readonly limitProblem: string | null = null,
    /** The raw PascalCase body, for per-element results of a rejected batch. */
    readonly body: unknown = null,
  ) {
    super(`XERO.${kind.toUpperCase()}`, message, 502);
    this.name = 'XeroApiError';
  }

  /** Worth retrying later with the same Idempotency-Key. */
  get transient(): boolean {
    return this.kind === 'network' || this.kind === 'rate_limited' || this.kind === 'server';
  }
}

interface Parsed {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

function parse(e: unknown): Parsed {
  if (typeof e === 'string') {
    try {
      const p = JSON.parse(e) as { response?: { statusCode?: number; headers?: Record<string, string> }; body?: unknown };
      return { status: p.response?.statusCode ?? 0, headers: lower(p.response?.headers ?? {}), body: p.body };
    } catch {
      return { status: 0, headers: {}, body: e };
    }
  }
  const a = e as { response?: { status?: number; statusCode?: number; headers?: Record<string, string>; data?: unknown }; body?: unknown; message?: string };
  if (a?.response && (a.response.status !== undefined || a.response.statusCode !== undefined)) {
    return { status: a.response.status ?? a.response.statusCode ?? 0, headers: lower(a.response.headers ?? {}), body: a.response.data ?? a.body };
  }
  return { status: 0, headers: {}, body: String(a?.message ?? e) };
}

function lower(h: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), String(v)]));
}

/** Every `ValidationErrors[].Message` in a Xero error body (summarised 400 or per element). */
export function validationMessages(body: unknown): string[] {
  const out: string[] = [];
  const visit = (node: unknown) => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) return node.forEach(visit);
    const o = node as Record<string, unknown>;
    const v = o.ValidationErrors ?? o.validationErrors;
    if (Array.isArray(v)) for (const m of v) out.push(String((m as { Message?: string; message?: string }).Message ?? (m as { message?: string }).message ?? ''));
    for (const [k, child] of Object.entries(o)) if (k !== 'ValidationErrors' && k !== 'validationErrors') visit(child);
  };
  visit(body);
  return [...new Set(out.filter(Boolean))];
}

export function toXeroError(e: unknown, what: string): XeroApiError {
  if (e instanceof XeroApiError) return e;
  const p = parse(e);
  const detail = typeof p.body === 'object' && p.body ? ((p.body as { Message?: string; Detail?: string }).Detail ?? (p.body as { Message?: string }).Message) : undefined;
  switch (true) {
    case p.status === 0:
      return new XeroApiError('network', 0, `Xero could not be reached for ${what} (${typeof p.body === 'string' ? p.body.slice(0, 120) : 'no answer'}).`);
    case p.status === 429: {
      const retry = Number(p.headers['retry-after']);
      const problem = p.headers['x-rate-limit-problem'] ?? null;
      return new XeroApiError('rate_limited', 429, `Xero's ${problem ?? 'rate'} limit was reached during ${what}.`, [], Number.isFinite(retry) ? retry : 60, problem);
    }
    case p.status === 401:
      return new XeroApiError('unauthorized', 401, `Xero did not accept the access token for ${what}.`);
    case p.status === 403:
      return new XeroApiError('forbidden', 403, `Xero refused ${what}: the connection lacks the permission (${detail ?? 'forbidden'}). Reconnect Xero with all requested permissions.`);
    case p.status === 404:
      return new XeroApiError('not_found', 404, `Xero has no such record (${what}).`);
    case p.status === 400: {
      const messages = validationMessages(p.body);
      return new XeroApiError('validation', 400, messages.length ? `Xero rejected ${what}: ${messages.join(' ')}` : `Xero rejected ${what}: ${detail ?? 'bad request'}.`, messages, null, null, p.body);
    }
    case p.status >= 500:
      return new XeroApiError('server', p.status, `Xero had a problem (HTTP ${p.status}) during ${what}; it will be tried again.`);
    default:
      return new XeroApiError('other', p.status, `Xero answered HTTP ${p.status} to ${what}${detail ? `: ${detail}` : ''}.`);
  }
}
