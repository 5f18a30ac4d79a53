/**
 * Structured logging (pino). Tokens and secrets are redacted by key wherever they appear in a logged
 * object, and free-text messages are scrubbed of bearer tokens and token-like query parameters.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config.js';
import { currentRequestId } from './request-context.js';

export type { Logger };

/** Keys whose values never reach a log line, at any depth pino can address. */
const SECRET_KEYS = [
  'access_token', 'refresh_token', 'id_token', 'accessToken', 'refreshToken', 'idToken', 'AUTH_ID', 'REFRESH_ID',
  'APPLICATION_TOKEN', 'application_token', 'applicationToken', 'client_secret', 'clientSecret', 'authorization',
  'Authorization', 'password', 'secret', 'appSecret', 'token', 'auth', 'cookie', 'x-xero-signature',
];

const redactPaths = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `*.*.*.${k}`]);

const TOKEN_PATTERNS: RegExp[] = [
  /(bearer\s+)[A-Za-z0-9._~+/=-]+/gi,
  /((?:access_token|refresh_token|auth|AUTH_ID|REFRESH_ID|code|client_secret|application_token)=)[^&\s"]+/gi,
];

/** Removes bearer tokens and token query parameters from free text (error messages, URLs). */
export function scrubText(text: string): string {
  return TOKEN_PATTERNS.reduce((t, re) => t.replace(re, '$1[Redacted]'), text);
}

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      redact: { paths: redactPaths, censor: '[Redacted]' },
      formatters: { level: (label) => ({ level: label }) },
      // Every line written while a request (or a job it caused) is worked carries its id.
      mixin: () => {
        const reqId = currentRequestId();
        return reqId ? { reqId } : {};
      },
      hooks: {
        logMethod(args, method) {
          const scrubbed = args.map((a) => (typeof a === 'string' ? scrubText(a) : a)) as typeof args;
          method.apply(this, scrubbed);
        },
      },
      serializers: {
        err: (err: Error & { code?: unknown }) => ({
          type: err?.name,
          code: err?.code,
          message: scrubText(String(err?.message ?? err)),
          stack: err?.stack ? scrubText(err.stack) : undefined,
        }),
      },
    },
    destination,
  );
}
