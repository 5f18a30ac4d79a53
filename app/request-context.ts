/**
 * The request id that follows work through the process: set per HTTP request (from a valid `X-Request-Id`
 * header, else a new UUID), stored on the jobs the request enqueues, and set again while the worker runs them,
 * so every log line written on their behalf carries `reqId` (see log.ts `mixin`).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

export interface RequestContext {
  /** The request (or, for a group of jobs from several requests, the requests) the current work is for. */
  requestId: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** A caller-supplied id is kept only when it is short and plain (it is logged and echoed). */
const VALID_ID = /^[A-Za-z0-9._:-]{1,64}$/;

export function requestIdFrom(header: string | undefined): string {
  return header && VALID_ID.test(header) ? header : randomUUID();
}

export function currentRequestId(): string | undefined {
  return storage.getStore()?.requestId;
}

/** Runs `fn` with `requestId` as the current request id (none at all when undefined). */
export function withRequestId<T>(requestId: string | undefined, fn: () => T): T {
  return requestId ? storage.run({ requestId }, fn) : storage.exit(fn);
}
