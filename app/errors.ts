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
