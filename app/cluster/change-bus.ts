/**
 * The change bus (issue 23: any instance answers anything): `publish(memberId, what)` tells every instance that
 * something of a portal changed (a push done, a job's state, a setting), `subscribe(memberId, cb)` hears it — so a
 * live page (app/http/live.ts) served by one instance can show a push done by another within a second, instead of
 * only what its own process did.
 *
 * Embedded: `InProcessChangeBus`, an EventEmitter. PostgreSQL: `PgChangeBus`, NOTIFY on one channel and one
 * listening connection per instance (docs/reference/postgresql-coordination.md#listen-notify). Notifications are
 * not stored: one sent while an instance's listener is away is lost to it, so after the listener reconnects (a
 * PostgreSQL restart, a terminated backend) every subscriber hears `RESYNC` and reads afresh.
 */
import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { ClusterPoolOptions } from './pg-pool.js';

/** What subscribers hear after a gap in which changes may have been missed: read everything again. */
export const RESYNC = 'resync';

export interface ChangeBus {
  /** Tells every subscriber of the portal, on every instance, that `what` changed (a short word: at most 200 characters). */
  publish(memberId: string, what: string): Promise<void>;
  /** Calls `cb(what)` for each change of the portal (and `RESYNC` after a gap); returns the unsubscribe. */
  subscribe(memberId: string, cb: (what: string) => void): () => void;
  close(): Promise<void>;
}

/** Delivers to the subscribers of one process; a subscriber that throws does not stop the others. */
class Subscribers {
  readonly #emitter = new EventEmitter().setMaxListeners(0);

  constructor(private readonly onError: (err: unknown) => void) {}

  add(memberId: string, cb: (what: string) => void): () => void {
    const safe = (what: string) => {
      try {
        cb(what);
      } catch (err) {
        this.onError(err);
      }
    };
    this.#emitter.on(memberId, safe);
    return () => void this.#emitter.off(memberId, safe);
  }

  deliver(memberId: string, what: string): void {
    this.#emitter.emit(memberId, what);
  }

  everyone(what: string): void {
    for (const name of this.#emitter.eventNames()) this.#emitter.emit(name, what);
  }

  clear(): void {
    this.#emitter.removeAllListeners();
  }
}

function checkWhat(what: string): void {
  if (what.length === 0 || what.length > 200) throw new Error('A change is named in 1 to 200 characters.');
}

export class InProcessChangeBus implements ChangeBus {
  readonly #subs: Subscribers;

  constructor(onError: (err: unknown) => void = () => undefined) {
    this.#subs = new Subscribers(onError);
  }

  async publish(memberId: string, what: string): Promise<void> {
    checkWhat(what);
    // Asynchronous like the cluster's, so a publisher never runs its subscribers inside its own work.
    setImmediate(() => this.#subs.deliver(memberId, what));
  }

  subscribe(memberId: string, cb: (what: string) => void): () => void {
    return this.#subs.add(memberId, cb);
  }

  async close(): Promise<void> {
    this.#subs.clear();
  }
}

export interface PgChangeBusOptions extends ClusterPoolOptions {
  /** Publishes go through this pool (the instance's own); the listener is a connection of its own. */
  pool: pg.Pool;
  /** The NOTIFY channel. (Default: connector_changes) */
  channel?: string;
  /** First wait before reconnecting the listener, doubled up to 5 s. (Default: 100 ms) */
  reconnectMs?: number;
}

const MAX_RECONNECT_MS = 5000;

export class PgChangeBus implements ChangeBus {
  readonly #o: PgChangeBusOptions;
  readonly #channel: string;
  readonly #subs: Subscribers;
  readonly #onError: (err: unknown) => void;
  #listener: pg.Client | undefined;
  #closed = false;
  #retry: NodeJS.Timeout | undefined;
  /** Times the listener connected again after losing its connection. */
  reconnects = 0;

  private constructor(o: PgChangeBusOptions) {
    this.#o = o;
    this.#channel = o.channel ?? 'connector_changes';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(this.#channel)) throw new Error('channel: lower-case letters, digits and _');
    this.#onError = o.onError ?? (() => undefined);
    this.#subs = new Subscribers(this.#onError);
  }

  /** Opens the bus with its listener listening (so a publish after this resolves is heard). */
  static async open(o: PgChangeBusOptions): Promise<PgChangeBus> {
    const bus = new PgChangeBus(o);
    await bus.#listen();
    return bus;
  }

  async publish(memberId: string, what: string): Promise<void> {
    checkWhat(what);
    // NOTIFY's payload is at most 8000 bytes; a member id and a short word fit. pg_notify takes the channel as a value.
    // https://www.postgresql.org/docs/15/sql-notify.html
    await this.#o.pool.query('SELECT pg_notify($1, $2)', [this.#channel, JSON.stringify({ m: memberId, w: what })]);
  }

  subscribe(memberId: string, cb: (what: string) => void): () => void {
    return this.#subs.add(memberId, cb);
  }

  /** The listener's backend pid (for /health and tests), or undefined while it reconnects. */
  get listenerPid(): number | undefined {
    return (this.#listener as unknown as { processID?: number } | undefined)?.processID;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#subs.clear();
    const l = this.#listener;
    this.#listener = undefined;
    await l?.end().catch(() => undefined);
  }

  async #listen(): Promise<void> {
    // One connection, outside the pool: LISTEN belongs to its session. keepAlive notices a vanished host.
    const client = new pg.Client({
      connectionString: this.#o.connectionString, connectionTimeoutMillis: 5000, keepAlive: true,
      application_name: `${this.#o.name ?? 'cluster'}-bus`.slice(0, 60),
    });
    let lost = false;
    let ready = false;
    const onLost = (err?: unknown) => {
      if (lost || !ready) return; // a failed connect is the caller's to retry
      lost = true;
      if (err) this.#onError(err);
      if (this.#listener === client) this.#listener = undefined;
      void client.end().catch(() => undefined);
      this.#reconnectSoon(this.#o.reconnectMs ?? 100);
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (n) => {
      if (n.channel !== this.#channel || !n.payload) return;
      try {
        const { m, w } = JSON.parse(n.payload) as { m: string; w: string };
        this.#subs.deliver(m, w);
      } catch (err) {
        this.#onError(err);
      }
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.#channel}`);
    } catch (err) {
      lost = true;
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#listener = client;
    ready = true;
  }

  #reconnectSoon(waitMs: number): void {
    if (this.#closed || this.#retry) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#listen().then(
        () => {
          if (this.#closed) return;
          this.reconnects += 1;
          // Whatever was published while the listener was away is lost: everyone reads afresh.
          this.#subs.everyone(RESYNC);
        },
        (err) => {
          this.#onError(err);
          this.#reconnectSoon(Math.min(MAX_RECONNECT_MS, waitMs * 2));
        },
      );
    }, waitMs);
    this.#retry.unref();
  }
}
