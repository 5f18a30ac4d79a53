/**
 * Prometheus metrics (prom-client), one registry per connector instance, served by GET /metrics
 * (http/metrics-routes.ts). Counters are incremented where things happen; figures the store or the gateways
 * already keep (jobs by state, Xero calls, budget, poll lag) are read when scraped.
 * Names follow https://prometheus.io/docs/practices/naming/ (unit suffixes, `_total` for counters).
 */
import { clock } from './clock.js';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Store } from './store/index.js';
import type { XeroGateways } from './xero/gateway.js';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const DELAY_BUCKETS = [0.5, 1, 2, 5, 10, 30, 60, 300, 1800];

export class Metrics {
  readonly registry = new Registry();
  readonly #jobOutcomes: Counter<'kind' | 'outcome'>;
  readonly #bitrixCalls: Counter<'outcome'>;
  readonly #webhookDelay: Histogram<'source'>;
  readonly #intakeLatency: Histogram<'source'>;
  readonly #requests: Histogram<'method' | 'route' | 'status'>;
  readonly #eventsDropped: Counter<'reason'>;
  #gateways: XeroGateways | undefined;

  constructor(private readonly store: Store, options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'connector_' });
    this.#jobOutcomes = new Counter({
      name: 'connector_sync_outcomes_total', help: 'Job runs by kind and outcome (done, retry, attention, paused, wait).',
      labelNames: ['kind', 'outcome'], registers,
    });
    this.#bitrixCalls = new Counter({
      name: 'connector_bitrix24_calls_total',
      help: 'Bitrix24 HTTP calls by outcome: ok, rate_limited (503 QUERY_LIMIT_EXCEEDED or 429 OPERATION_TIME_LIMIT), error, network.',
      labelNames: ['outcome'], registers,
    });
    this.#webhookDelay = new Histogram({
      name: 'connector_webhook_delay_seconds', help: 'Time from the event (Xero eventDateUtc) to its arrival at the connector.',
      labelNames: ['source'], buckets: DELAY_BUCKETS, registers,
    });
    this.#intakeLatency = new Histogram({
      name: 'connector_intake_latency_seconds', help: 'Time to verify and store an incoming event before answering.',
      labelNames: ['source'], buckets: LATENCY_BUCKETS, registers,
    });
    this.#requests = new Histogram({
      name: 'connector_http_request_duration_seconds', help: 'HTTP requests served, by route and status.',
      labelNames: ['method', 'route', 'status'], buckets: LATENCY_BUCKETS, registers,
    });

    this.#eventsDropped = new Counter({
      name: 'connector_events_dropped_total',
      help: 'Bitrix24 events answered and dropped, by reason: before_install, not_found, not_linked, over_limit.',
      labelNames: ['reason'], registers,
    });

    const { store: s } = this;
    new Gauge({
      name: 'connector_jobs', help: 'Jobs in the outbox by kind and state.', labelNames: ['kind', 'state'], registers,
      async collect() {
        this.reset();
        for (const r of await s.jobs.countByKindAndState()) this.set({ kind: r.kind, state: r.state }, r.count);
      },
    });
    new Gauge({
      name: 'connector_poll_lag_seconds', help: 'Seconds since the Xero status poll last moved its watermark, by connection and kind.',
      labelNames: ['connection', 'kind'], registers,
      async collect() {
        this.reset();
        for (const r of await s.watermarks.listByPrefix('connection:', 'xero.')) {
          this.set({ connection: r.scope.slice('connection:'.length), kind: r.name.slice('xero.'.length) }, Math.max(0, (clock.now() - r.updatedAt) / 1000));
        }
      },
    });
    new Gauge({
      name: 'connector_store_fault', help: 'Whether the database refuses writes now (1), by reason: STORE.LOCKED, STORE.DISK_FULL.',
      labelNames: ['code'], registers,
      collect() {
        const now = s.faults.current()?.code;
        for (const code of ['STORE.LOCKED', 'STORE.DISK_FULL']) this.set({ code }, now === code ? 1 : 0);
      },
    });
    new Gauge({
      name: 'connector_store_refused_writes_total', help: 'Writes the database refused (locked, disk full), by reason (since the process started).',
      labelNames: ['code'], registers,
      collect() {
        this.reset();
        for (const [code, n] of s.faults.refused()) this.set({ code }, n);
      },
    });
    const gateways = () => this.#gateways?.all() ?? [];
    const perGateway = (name: string, help: string, pick: (g: ReturnType<typeof gateways>[number]) => number | null, kind: 'counter' | 'gauge') => {
      const collect = function (this: Gauge<'connection'>) {
        this.reset();
        for (const g of gateways()) {
          const v = pick(g);
          if (v !== null) this.set({ connection: String(g.connectionId) }, v);
        }
      };
      // Counters read from the gateways' own tallies are exposed as gauges named _total (monotonic per process).
      new Gauge({ name, help: kind === 'counter' ? `${help} (since the process started)` : help, labelNames: ['connection'], registers, collect });
    };
    perGateway('connector_xero_calls_total', 'Xero API calls made, by connection', (g) => g.stats.calls, 'counter');
    perGateway('connector_xero_rate_limited_total', 'Xero 429 answers received, by connection', (g) => g.stats.received429, 'counter');
    perGateway('connector_xero_retries_total', 'Xero calls retried after a 429, 5xx or network error, by connection', (g) => g.stats.retries, 'counter');
    perGateway('connector_xero_day_budget_remaining', "Calls left in the organisation's day (X-DayLimit-Remaining of the last answer)", (g) => g.stats.dayRemaining, 'gauge');
    perGateway('connector_xero_minute_budget_remaining', 'Calls left in the current minute (X-MinLimit-Remaining of the last answer)', (g) => g.stats.minuteRemaining, 'gauge');
  }

  /** The Xero gateways, once built (they need the connections, which need the store). */
  watchGateways(gateways: XeroGateways): void {
    this.#gateways = gateways;
  }

  jobOutcome(kind: string, outcome: string): void {
    this.#jobOutcomes.inc({ kind, outcome });
  }

  bitrixCall(outcome: 'ok' | 'rate_limited' | 'error' | 'network'): void {
    this.#bitrixCalls.inc({ outcome });
  }

  webhookDelay(source: 'xero' | 'bitrix24', seconds: number): void {
    if (Number.isFinite(seconds)) this.#webhookDelay.observe({ source }, Math.max(0, seconds));
  }

  intake(source: 'xero' | 'bitrix24', seconds: number): void {
    this.#intakeLatency.observe({ source }, seconds);
  }

  eventDropped(reason: string, n = 1): void {
    this.#eventsDropped.inc({ reason }, n);
  }

  request(method: string, route: string, status: number, seconds: number): void {
    this.#requests.observe({ method, route, status: String(status) }, seconds);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
