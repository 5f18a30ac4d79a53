/**
 * The one place where errors become HTTP answers: a stable `code`, a message a person can act on, and
 * nothing else. Unknown errors are logged (scrubbed) and answered with a generic message, so a token
 * inside an exception can never reach the client.
 */
import { clock } from '../clock.js';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { ZodError } from 'zod';
import { AppError, LimitReached } from '../errors.js';
import type { Logger } from '../log.js';
import { storeFaultCode, storeFaultError, type StoreFaults } from '../store/faults.js';
import { errorText, windowLanguage } from './i18n.js';
import { pageCsp, renderView } from './pages.js';

/**
 * The portals that may frame an error page: a refused card tab or slider shows its message inside Bitrix24 instead of
 * the browser's "refused to connect". Error pages hold no action, so any installed portal may show them. Read from the
 * store (asynchronous): when the read fails, the page is framed by none.
 */
export type ErrorFramers = () => Promise<string[]> | string[];

interface Answer {
  status: number;
  code: string;
  message: string;
  /** `key` and `vars` of the page's words (views/i18n), when they differ from `error.<code>`. */
  details?: Record<string, unknown>;
}

function toAnswer(err: unknown): Answer {
  // The database refused the write (locked, disk full): 503, so the sender tries again; nothing was stored.
  const fault = storeFaultCode(err);
  if (fault) err = storeFaultError(fault);
  if (err instanceof AppError) return { status: err.status, code: err.code, message: err.message, details: err.details };
  // A request that failed a schema check at a route's edge: 400 naming the fields, never their values.
  if (err instanceof ZodError) {
    const fields = [...new Set(err.issues.map((i) => i.path.join('.') || 'request'))].slice(0, 5).join(', ');
    return { status: 400, code: 'HTTP.BAD_REQUEST', message: `The request is not valid (${fields}).` };
  }
  const e = err as { type?: string; status?: number; limit?: number };
  // body-parser errors: https://github.com/expressjs/body-parser#errors
  if (e?.type === 'entity.too.large') {
    return { status: 413, code: 'HTTP.PAYLOAD_TOO_LARGE', message: `The request body is larger than the ${e.limit ?? ''} bytes allowed.`.replace('  ', ' ') };
  }
  if (e?.type === 'entity.parse.failed') {
    return { status: 400, code: 'HTTP.MALFORMED_BODY', message: 'The request body is not valid JSON.' };
  }
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') {
    return { status: 415, code: 'HTTP.UNSUPPORTED_ENCODING', message: 'The request body uses an unsupported encoding.' };
  }
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
    return { status: e.status, code: 'HTTP.BAD_REQUEST', message: 'The request could not be read.' };
  }
  return {
    status: 500,
    code: 'INTERNAL',
    message: 'Something went wrong inside the connector. The error was logged; please try again or contact your administrator.',
  };
}

export function errorHandler(logger: Logger, framers: ErrorFramers = () => [], faults?: StoreFaults): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) return next(err);
    const answer = toAnswer(err);
    if (faults?.note(err)) res.set('Retry-After', '30');
    // A limit that frees at a known moment (Xero's calls kept for the pushes, the day spent) says when.
    if (err instanceof LimitReached) res.set('Retry-After', String(Math.max(1, Math.ceil((err.retryAt - clock.now()) / 1000))));
    const log = { err, code: answer.code, method: req.method, path: req.path, status: answer.status };
    if (answer.status >= 500 && answer.status !== 501) logger.error(log, 'request failed');
    else logger.warn(log, 'request refused');
    sendError(req, res, answer, framers);
  };
}

/** Paths nobody serves: 404 with the same shape as every other error. */
export function notFoundHandler(framers: ErrorFramers = () => []): RequestHandler {
  return (req, res) =>
    sendError(req, res, {
      status: 404, code: 'HTTP.NOT_FOUND', message: `Nothing is served at ${req.method} ${req.path}.`,
      details: { key: 'error.notFound', vars: { method: req.method, path: req.path } },
    }, framers);
}

function sendError(req: Parameters<RequestHandler>[0], res: Parameters<RequestHandler>[1], a: Answer, framers: ErrorFramers): void {
  res.status(a.status);
  if (req.accepts(['json', 'html']) === 'html') {
    // In the portal user's language when Bitrix24 framed the page (LANG), else the browser's (views/error.ejs).
    const lang = windowLanguage(req.query.LANG, req.get('accept-language'));
    Promise.resolve()
      .then(framers)
      .catch((): string[] => [])
      .then((origins) => {
        if (origins.length) res.set('Content-Security-Policy', pageCsp({ portalOrigins: origins }));
        return renderView('error', { lang, message: errorText(lang, a), code: a.code });
      })
      .then(
        (html) => res.type('html').send(html),
        () => res.type('text').send(`${a.message} (${a.code})`),
      );
  } else {
    res.json({ error: { code: a.code, message: a.message } });
  }
}
