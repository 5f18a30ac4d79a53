/**
 * One error class for the whole connector: a stable machine `code` (e.g. `XERO.VALIDATION`,
 * `SYNC.MISSING_ACCOUNT_CODE`), a message a person can act on, and the HTTP status where it crosses HTTP.
 * Never put tokens or secrets in `message` or `details`: both may reach logs and screens.
 */
export class AppError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 500,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const notFound = (what: string) => new AppError('HTTP.NOT_FOUND', `${what} was not found.`, 404);
export const badRequest = (message: string, details?: Record<string, unknown>) =>
  new AppError('HTTP.BAD_REQUEST', message, 400, details);
export const unauthorized = (message: string) => new AppError('AUTH.UNAUTHORIZED', message, 401);
export const forbidden = (message: string) => new AppError('AUTH.FORBIDDEN', message, 403);
export const notImplemented = (feature: string) =>
  new AppError('HTTP.NOT_IMPLEMENTED', `${feature} is not available in this version of the connector yet.`, 501);

/**
 * A limit of the other side is reached (Xero's daily limit, a Bitrix24 method's operating time): the work is not
 * failing, it waits. The job goes back to the queue until `retryAt` (epoch ms) with this message as its visible
 * reason, and the attempt is not counted against it.
 */
export class LimitReached extends AppError {
  readonly transient = true;
  constructor(code: string, message: string, readonly retryAt: number, status = 503) {
    super(code, message, status, { retryAt });
    this.name = 'LimitReached';
  }
}

/** A moment for people: "2026-12-01 15:04:05 UTC". */
export function utcTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}
