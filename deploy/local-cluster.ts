/**
 * N instances of the service behind nginx on one machine, against a PostgreSQL and a Redis you give: for a
 * trial, and for the fault test (test/e2e/faults.test.ts), which drives the same code.
 *
 *   npx tsx deploy/local-cluster.ts --instances 3 --port 8080 \
 *       --database-url postgresql://user:pass@127.0.0.1:5432/users --redis-url redis://127.0.0.1:6379
 *
 * Instance i listens on 127.0.0.1 with a port and a management port of its own (printed); nginx is
 * rendered from deploy/nginx.conf into a temporary directory (config, pid, logs) and listens on --port.
 * Ctrl-C stops everything gracefully. The service's settings are taken from the environment (SECRET_KEY is
 * generated for the run when unset); each instance's ports, DATA_DIR and TRUST_PROXY are set here.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, statusOf } from '../bench/process.js';
import { EnvSchema } from '../src/config.js';

export { freePort, statusOf };

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TEMPLATE = join(ROOT, 'deploy', 'nginx.conf');

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, log?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} not ready within ${timeoutMs} ms${log ? `:\n${log().slice(-3000)}` : ''}`);
}

/**
 * deploy/nginx.conf for this machine: the given upstream ports, listen port and a private directory for
 * pid, logs and temporary files. As root, the workers run as root too (the directory is root's); otherwise
 * the `user` line is dropped (nginx keeps the caller's user).
 */
export function renderNginxConfig(template: string, options: { upstreamPorts: number[]; listenPort: number; dir: string }): string {
  const { upstreamPorts, listenPort, dir } = options;
  const servers = upstreamPorts.map((port) => `        server 127.0.0.1:${port} max_fails=1 fail_timeout=2s;`).join('\n');
  const rendered = template
    .replace(/( *# instances:begin\n)[\s\S]*?( *# instances:end)/, `$1${servers}\n$2`)
    .replace(/^user .*;$/m, process.getuid?.() === 0 ? `user ${userInfo().username};` : '')
    .replace(/^pid .*;$/m, `pid ${join(dir, 'nginx.pid')};`)
    .replace(/^error_log [^;\s]+/m, `error_log ${join(dir, 'error.log')}`)
    .replace(/^(\s*)access_log [^;\s]+/m, `$1access_log ${join(dir, 'access.log')}`)
    .replace(/^(\s*)listen 80;$/m, `$1listen 127.0.0.1:${listenPort};`)
    .replace(
      /^http \{$/m,
      ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].reduce((http, kind) => `${http}\n    ${kind}_temp_path ${join(dir, `${kind}_temp`)};`, 'http {'),
    );
  if (!rendered.includes(`server 127.0.0.1:${upstreamPorts[0]}`)) throw new Error('deploy/nginx.conf has lost its "instances" markers');
  return rendered;
}

export function nginxBinary(): string | undefined {
  for (const candidate of ['nginx', '/usr/sbin/nginx']) {
    if (spawnSync(candidate, ['-v'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  return undefined;
}

export interface TopologyOptions {
  instances: number;
  databaseUrl: string;
  redisUrl?: string;
  secretKey?: string;
  /** nginx's port; a free one when unset. */
  port?: number;
  /** Further settings for every instance (e.g. BCRYPT_ROUNDS, budgets). */
  env?: Record<string, string>;
  /** Where the nginx config and every log go; a new temporary directory when unset. */
  dir?: string;
}

/** One instance: a `user-services serve` process on fixed ports, which can be killed and started again. */
export class Instance {
  child: ChildProcess | undefined;
  exited: Promise<number | null> = Promise.resolve(null);
  constructor(
    readonly index: number,
    readonly port: number,
    readonly managementPort: number,
    private readonly env: NodeJS.ProcessEnv,
    readonly logFile: string,
  ) {}

  /** Starts the process and resolves once its /readyz answers 200. */
  async start(): Promise<void> {
    const fd = openSync(this.logFile, 'a');
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'user-services.js'), 'serve'], { cwd: ROOT, env: this.env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
    await waitFor(`instance ${this.index}`, async () => {
      if (child.exitCode !== null) throw new Error(`instance ${this.index} exited with ${child.exitCode}:\n${this.log().slice(-3000)}`);
      return (await statusOf(this.port, '/readyz', 2000)) === 200;
    }, 60_000, () => this.log());
  }

  signal(signal: NodeJS.Signals): void {
    if (this.child?.exitCode === null) this.child.kill(signal);
  }

  /** SIGTERM, and the exit code once it has stopped (SIGKILL after 30 s). */
  async stop(): Promise<number | null> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), 30_000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }
}

export interface Topology {
  /** nginx's address: where clients go. */
  url: string;
  port: number;
  instances: Instance[];
  dir: string;
  nginxLog(): string;
  stop(): Promise<void>;
}

export async function startTopology(options: TopologyOptions): Promise<Topology> {
  const nginx = nginxBinary();
  if (!nginx) throw new Error('nginx is not installed (Debian: apt-get install nginx)');
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'user-services-topology-'));
  mkdirSync(dir, { recursive: true });
  const secretKey = options.secretKey ?? process.env['SECRET_KEY'] ?? randomBytes(32).toString('hex');
  const instances: Instance[] = [];
  for (let i = 1; i <= options.instances; i++) {
    const [port, managementPort] = [await freePort(), await freePort()];
    const env: NodeJS.ProcessEnv = {
      PATH: process.env['PATH'],
      HOME: process.env['HOME'],
      LOG_LEVEL: 'info',
      ...options.env,
      DATABASE_URL: options.databaseUrl,
      ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
      SECRET_KEY: secretKey,
      HOST: '127.0.0.1',
      PORT: String(port),
      MANAGEMENT_PORT: String(managementPort),
      // nginx connects from loopback and sets X-Forwarded-For to the client's address: believed from it only.
      TRUST_PROXY: '127.0.0.1',
      DATA_DIR: join(dir, `instance-${i}-data`),
    };
    instances.push(new Instance(i, port, managementPort, env, join(dir, `instance-${i}.log`)));
  }
  const started: Instance[] = [];
  let nginxProcess: ChildProcess | undefined;
  const stop = async () => {
    nginxProcess?.kill('SIGQUIT');
    await Promise.all(started.map((instance) => instance.stop()));
  };
  try {
    // The first instance applies the migrations; the others start together once it has.
    await instances[0]!.start();
    started.push(instances[0]!);
    await Promise.all(instances.slice(1).map(async (instance) => {
      await instance.start();
      started.push(instance);
    }));
    const port = options.port ?? (await freePort());
    const config = join(dir, 'nginx.conf');
    writeFileSync(config, renderNginxConfig(readFileSync(TEMPLATE, 'utf8'), { upstreamPorts: instances.map((i) => i.port), listenPort: port, dir }));
    const nginxLog = join(dir, 'nginx.out');
    const fd = openSync(nginxLog, 'a');
    nginxProcess = spawn(nginx, ['-e', join(dir, 'error.log'), '-c', config, '-g', 'daemon off;'], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const log = () => ['nginx.out', 'error.log'].map((f) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : '')).join('');
    const running = nginxProcess;
    await waitFor('nginx', async () => {
      if (running.exitCode !== null) throw new Error(`nginx exited with ${running.exitCode}:\n${log()}`);
      return (await statusOf(port, '/healthz', 2000)) === 200;
    }, 15_000, log);
    return { url: `http://127.0.0.1:${port}`, port, instances, dir, nginxLog: log, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      instances: { type: 'string', default: '3' },
      port: { type: 'string', default: '8080' },
      'database-url': { type: 'string', default: process.env['DATABASE_URL'] },
      'redis-url': { type: 'string', default: process.env['REDIS_URL'] },
    },
  });
  if (!values['database-url']) {
    process.stderr.write('--database-url (or DATABASE_URL) is required: the instances share one PostgreSQL.\n');
    process.exit(2);
  }
  if (!values['redis-url']) process.stderr.write('note: no --redis-url: each instance keeps its own request budgets.\n');
  // The service's own settings (BCRYPT_ROUNDS, JWT_ALGORITHM, …) are passed on from this environment.
  const settings = Object.fromEntries(Object.keys(EnvSchema.properties).flatMap((name) => (process.env[name] === undefined ? [] : [[name, process.env[name]!]])));
  const topology = await startTopology({
    instances: Number(values.instances),
    port: Number(values.port),
    env: settings,
    databaseUrl: values['database-url'],
    redisUrl: values['redis-url'],
  });
  for (const i of topology.instances) {
    process.stdout.write(`instance ${i.index}: http://127.0.0.1:${i.port}  management http://127.0.0.1:${i.managementPort}  log ${i.logFile}\n`);
  }
  process.stdout.write(`nginx: ${topology.url}  (config and logs in ${topology.dir}); Ctrl-C stops everything\n`);
  const stop = () => void topology.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
