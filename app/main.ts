/**
 * Process entry: config → store → server → schedules, and a graceful shutdown on SIGTERM/SIGINT:
 * stop intake, let in-flight work finish or return to the queue, close the database, all within 10 s.
 */
import type { AddressInfo } from 'node:net';
import { createServer as createHttpServer, type Server } from 'node:http';
import { ConfigError, parseConfig, prepareDataDir, resolveAppSecret, type Config } from './config.js';
import { isEntryPoint } from './entry-point.js';
import { createLogger, type Logger } from './log.js';
import { createServer } from './server.js';
import type { Services } from './services.js';
import { openConfiguredStore, Store, StoreError } from './store/index.js';
import { storeFaultCode } from './store/faults.js';

/** Longest a shutdown may take before the process exits anyway. */
export const SHUTDOWN_DEADLINE_MS = 10_000;

export interface Runtime {
  config: Config;
  store: Store;
  logger: Logger;
  url: string;
  /** The connector's parts (outbox, schedules, …), for the demo and tests that work them directly. */
  services: Services;
  /** Graceful stop; resolves when everything is closed. */
  stop(): Promise<void>;
}

export interface StartOptions {
  env?: Record<string, string | undefined>;
  logger?: Logger;
}

export async function start(options: StartOptions = {}): Promise<Runtime> {
  const config = parseConfig(options.env ?? process.env);
  const logger = options.logger ?? createLogger(config.logLevel);
  prepareDataDir(config.dataDir);
  const appSecret = resolveAppSecret(config);
  const store = await openConfiguredStore(config, appSecret).catch((err: unknown) => {
    throw explainedStoreFault(err);
  });
  const released = await releaseInterrupted(store);
  if (released) logger.warn({ released }, 'jobs interrupted by an earlier stop were returned to the queue');

  const server = createServer({ config, store, logger, appSecret });
  const http = createHttpServer({ requestTimeout: 30_000, headersTimeout: 15_000, keepAliveTimeout: 5_000 }, server.app);
  await listen(http, config.port);
  server.services.outbox.start();
  await server.services.intakeSchedule.start();
  server.services.statusPoll.start();
  if (config.xero.grantType === 'client_credentials') void server.services.installPortal.connectCustomWhereMissing();
  const port = (http.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  logger.info({ port, url, publicUrl: config.publicUrl, dataDir: config.dataDir }, 'connector listening');

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      logger.info('shutting down: intake stopped');
      server.beginDrain();
      server.services.intakeSchedule.stop();
      await Promise.all([
        closeHttp(http, SHUTDOWN_DEADLINE_MS - 3_000),
        server.services.outbox.stop(SHUTDOWN_DEADLINE_MS - 3_000),
        server.services.statusPoll.stop(),
      ]);
      const returned = await store.jobs.releaseRunning();
      if (returned) logger.info({ returned }, 'unfinished jobs returned to the queue');
      await store.close();
      logger.info('shutdown complete');
    })());
  return { config, store, logger, url, services: server.services, stop };
}

/** Returns jobs a crash left running to the queue: the first write of a start, so a locked or full store stops it here, saying why. */
async function releaseInterrupted(store: Store): Promise<number> {
  try {
    return await store.jobs.releaseRunning();
  } catch (err) {
    await store.close();
    throw explainedStoreFault(err);
  }
}

/** A start refused by a locked database or a full disk, in words that say what to do; other errors as they are. */
function explainedStoreFault(err: unknown): unknown {
  const fault = storeFaultCode(err);
  if (!fault) return err;
  return new StoreError(fault, fault === 'STORE.LOCKED'
    ? 'The database is locked by another process (an open sqlite3 shell, a second connector on the same DATA_DIR?). Stop it and start the connector again.'
    : 'The disk holding DATA_DIR is full. Free space and start the connector again.');
}

function listen(http: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    http.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new ConfigError([`PORT ${port} is already in use; stop the other process or choose another PORT`])
          : err,
      ),
    );
    http.listen(port, () => resolve());
  });
}

/** Stops accepting connections, lets in-flight requests finish, then cuts what is left at the deadline. */
function closeHttp(http: Server, deadlineMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      http.closeAllConnections();
      resolve();
    }, deadlineMs);
    timer.unref();
    http.close(() => {
      clearTimeout(timer);
      resolve();
    });
    http.closeIdleConnections();
  });
}

/** Runs the connector until SIGTERM/SIGINT (`node dist/app/main.js`, or scripts/start.mjs after building). */
export async function main(): Promise<void> {
  let runtime: Runtime;
  try {
    runtime = await start();
  } catch (err) {
    if (err instanceof ConfigError || err instanceof StoreError) {
      process.stderr.write(`The connector cannot start.\n${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const shutdown = (signal: string) => {
    runtime.logger.info({ signal }, 'signal received');
    const force = setTimeout(() => {
      runtime.logger.error('shutdown took longer than 10 s; exiting anyway');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    force.unref();
    runtime.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        runtime.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.on('unhandledRejection', (err) => runtime.logger.error({ err }, 'unhandled promise rejection'));
}

if (isEntryPoint(import.meta.url)) {
  void main();
}
