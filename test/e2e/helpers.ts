import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

// The benchmark harness starts services on free ports too: one helper serves both.
export { freePort } from '../../bench/process.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const run = promisify(execFile);

/** The environment of a child process: ours minus anything that would point it at another database. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const { DATABASE_URL: _db, SECRET_KEY: _key, ...rest } = process.env;
  // MANAGEMENT_PORT=0: the system picks a free port, so servers of parallel test runs never collide on 9000.
  return { ...rest, LOG_LEVEL: 'info', MANAGEMENT_PORT: '0', ...extra };
}

export interface RunningServer {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  /** Signals npm and everything it started (its own process group). */
  signal(signal: NodeJS.Signals): void;
}

/**
 * GET /healthz on a connection of its own, closed after: an idle keep-alive connection left behind (as
 * fetch's would be) holds a server's graceful shutdown up until SHUTDOWN_TIMEOUT_SECONDS.
 */
function healthStatus(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/healthz', agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** Starts `npm start` and resolves once /healthz answers. */
export async function startServer(env: NodeJS.ProcessEnv, port: number): Promise<RunningServer> {
  const child = spawn('npm', ['start', '--silent'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, name);
    } catch {
      // already gone
    }
  };
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if ((await healthStatus(port)) === 200) return { child, output: () => out, exited, signal };
    await new Promise((r) => setTimeout(r, 100));
    if (child.exitCode !== null) break;
  }
  signal('SIGKILL');
  throw new Error(`server did not start:\n${out}`);
}

export async function curl(...args: string[]): Promise<{ status: number; body: string }> {
  const { stdout } = await run('curl', ['-s', '-w', '\n%{http_code}', ...args]);
  const at = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(at + 1)), body: stdout.slice(0, at) };
}
