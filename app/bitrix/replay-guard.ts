/**
 * Replays of Bitrix24 events: an event whose `ts` lies far from now, or that repeats one already taken, is ignored.
 * Memory is bounded: only events inside the window are remembered, and at most `capacity` of them.
 * Events are hints anyway (their documents are re-read, deletions and uninstalls confirmed with the portal); this
 * keeps a captured event from being played back at the connector over and over. Source: docs/reference/bitrix24.md#events (`ts`).
 */
import { clock } from '../clock.js';
import { createHash } from 'node:crypto';
import type { B24Event } from './request-auth.js';

/** Seconds an event's `ts` may lie from now (either way). Later events come through the offline queue and sweep. */
export const EVENT_WINDOW_SECONDS = 3600;

export type ReplayVerdict = 'fresh' | 'stale' | 'repeat';

export class ReplayGuard {
  /** Fingerprint → ts (unix s), oldest first (insertion order). */
  readonly #seen = new Map<string, number>();

  constructor(
    private readonly windowSeconds = EVENT_WINDOW_SECONDS,
    private readonly capacity = 20_000,
  ) {}

  /** Whether the event may be taken; does not remember it (see `remember`, once it was verified). */
  check(event: B24Event, nowMs = clock.now()): ReplayVerdict {
    const ts = Number(event.ts);
    if (!event.ts || !Number.isFinite(ts) || Math.abs(nowMs / 1000 - ts) > this.windowSeconds) return 'stale';
    return this.#seen.has(fingerprint(event)) ? 'repeat' : 'fresh';
  }

  /** Remembers a verified event so an identical one is a repeat; forgets what left the window. */
  remember(event: B24Event, nowMs = clock.now()): void {
    const oldest = nowMs / 1000 - this.windowSeconds;
    for (const [key, ts] of this.#seen) {
      if (ts >= oldest && this.#seen.size < this.capacity) break;
      this.#seen.delete(key);
    }
    this.#seen.set(fingerprint(event), Number(event.ts));
  }

  get size(): number {
    return this.#seen.size;
  }
}

/** The whole event, keys sorted, hashed: any difference (another access token, another item) is another event. */
function fingerprint(event: B24Event): string {
  return createHash('sha256').update(canonical(event)).digest('base64url');
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}
