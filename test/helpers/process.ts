import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface RunningConnector {
  child: ChildProcess;
  url: string;
  output: string[];
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
}

/** How the connector is started: from its TypeScript by default; tests of the build start the built files. */
export interface ConnectorCommand {
  cwd: string;
  args: string[];
}

/** Starts the connector as its own process (`app/main.ts`) and waits for its "listening" line. */
export async function spawnConnector(
  env: Record<string, string>,
  timeoutMs = 60_000,
  command: ConnectorCommand = { cwd: ROOT, args: ['--import', 'tsx', 'app/main.ts'] },
): Promise<RunningConnector> {
  const child = spawn(process.execPath, command.args, {
    cwd: command.cwd,
    // The emulators listen on plain http on loopback.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: '0', LOG_LEVEL: 'info', ALLOW_INSECURE_LOOPBACK: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string);
  const url = await new Promise<string>((resolve, reject) => {
    // A start slower than the limit (a machine busy with the other lanes) is killed, so no connector outlives its test.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`connector did not start within ${timeoutMs} ms:\n${output.join('\n')}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        output.push(line);
        if (line.includes('connector listening')) {
          clearTimeout(timer);
          resolve((JSON.parse(line) as { url: string }).url);
        }
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`connector exited (${code}) before listening:\n${output.join('\n')}`));
    });
  });
  return { child, url, output, exited };
}

/** Runs the connector expecting it to refuse to start; returns its exit code and everything it printed. */
export async function runFailingStart(env: Record<string, string>): Promise<{ code: number | string; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'app/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString('utf8')));
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  return { code: code ?? signal ?? 'unknown', output };
}

/** A TCP port free on loopback right now (for a connector that must know its URL before it starts). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
