import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../app/log.js';

/** A logger whose lines are kept in memory, for assertions on what was (not) logged. */
export function captureLogger(level: 'info' | 'debug' | 'trace' = 'debug'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: createLogger(level, sink), lines };
}
