/**
 * The fault test's load: a few virtual users, each in a loop registering an account, logging in, reading
 * the profile, refreshing, and sometimes changing the password — through the proxy, bounded in concurrency.
 * Every request is recorded with the phase it began in. What the service acknowledged (a 2xx) is kept, so
 * the test can check afterwards that none of it was lost.
 */
import { randomBytes } from 'node:crypto';

export type Op = 'register' | 'login' | 'profile' | 'refresh' | 'password';
/** An HTTP status, or what happened instead of one. */
export type Outcome = number | 'network error' | 'timeout';

export interface Sample {
  phase: string;
  op: Op;
  outcome: Outcome;
  ms: number;
  /** For a 503: its Retry-After header and whether the body was `{"detail": "..."}`. */
  retryAfter?: string | null;
  detail?: boolean;
}

interface Reply {
  status: number;
  body: Record<string, unknown> | undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ok = (reply: Reply | undefined): reply is Reply => reply !== undefined && reply.status >= 200 && reply.status < 300;

export class LoadGenerator {
  phase = 'warm-up';
  readonly samples: Sample[] = [];
  /** Accounts whose registration got a 2xx, with every password they may now have (one, unless a change's outcome is unknown). */
  readonly accounts = new Map<string, string[]>();
  /** Refresh tokens handed out (in a 2xx) and never presented since, with their account. */
  readonly unspentRefreshTokens = new Map<string, string>();
  private stopped = false;
  private running: Promise<void>[] = [];
  private readonly run = randomBytes(3).toString('hex');

  constructor(
    private readonly base: string,
    readonly users: number,
    private readonly timeoutMs: number,
  ) {}

  start(): void {
    this.running = Array.from({ length: this.users }, (_, vu) => this.virtualUser(vu));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.running);
  }

  /** Status counts of one phase, e.g. {"200": 120, "503": 14}. */
  counts(phase: string): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const s of this.samples) if (s.phase === phase) counts[String(s.outcome)] = (counts[String(s.outcome)] ?? 0) + 1;
    return counts;
  }

  of(phase: string): Sample[] {
    return this.samples.filter((s) => s.phase === phase);
  }

  private async request(op: Op, method: string, path: string, fields: Record<string, string>, token?: string): Promise<Reply | undefined> {
    const phase = this.phase;
    const started = performance.now();
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    if (token) headers['authorization'] = `Bearer ${token}`;
    try {
      const res = await fetch(`${this.base}${path}`, {
        method,
        headers,
        body: method === 'GET' ? undefined : new URLSearchParams(fields).toString(),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const text = await res.text();
      let body: Record<string, unknown> | undefined;
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        body = undefined;
      }
      const sample: Sample = { phase, op, outcome: res.status, ms: performance.now() - started };
      if (res.status === 503) {
        sample.retryAfter = res.headers.get('retry-after');
        sample.detail = typeof body?.['detail'] === 'string';
      }
      this.samples.push(sample);
      // Back off as told (at most a second), so an outage is a trickle of 503s rather than a busy loop.
      if (res.status === 503) await sleep(Math.min(1000, Number(sample.retryAfter ?? 1) * 1000));
      else if (res.status >= 500) await sleep(100);
      return { status: res.status, body };
    } catch (error) {
      const timedOut = (error as Error).name === 'TimeoutError';
      this.samples.push({ phase, op, outcome: timedOut ? 'timeout' : 'network error', ms: performance.now() - started });
      await sleep(100);
      return undefined;
    }
  }

  private async virtualUser(vu: number): Promise<void> {
    for (let n = 0; !this.stopped; n++) await this.iteration(`f${this.run}_${vu}_${n}`, n % 3 === 0);
  }

  /** One account's life; it ends at the first request that does not succeed (its effect is then unknown). */
  private async iteration(username: string, changePassword: boolean): Promise<void> {
    let password = `pw-${randomBytes(6).toString('hex')}`;
    const registered = await this.request('register', 'POST', '/user/register', { username, email: `${username}@example.com`, password });
    if (!ok(registered)) return;
    this.accounts.set(username, [password]);
    let pair = await this.login(username, password);
    if (!pair) return;
    for (let i = 0; i < 3; i++) if (!ok(await this.request('profile', 'GET', '/user/user', {}, pair.access))) return;
    // Presented: spent, or (if the answer is lost) perhaps spent. Either way no longer one to check.
    this.unspentRefreshTokens.delete(pair.refresh);
    const refreshed = await this.request('refresh', 'POST', '/user/token/refresh', { refresh_token: pair.refresh });
    if (!ok(refreshed)) return;
    pair = this.keep(refreshed, username);
    for (let i = 0; i < 2; i++) if (!ok(await this.request('profile', 'GET', '/user/user', {}, pair.access))) return;
    if (!changePassword || this.stopped) return;
    const next = `pw-${randomBytes(6).toString('hex')}`;
    // Whatever the answer, the account's sessions may have ended: its tokens are no longer checked.
    for (const [token, owner] of this.unspentRefreshTokens) if (owner === username) this.unspentRefreshTokens.delete(token);
    const changed = await this.request('password', 'PUT', '/user/update_password', { current_password: password, new_password: next }, pair.access);
    if (!ok(changed)) {
      this.accounts.set(username, [password, next]);
      return;
    }
    password = next;
    this.accounts.set(username, [password]);
    pair = await this.login(username, password);
    if (pair) await this.request('profile', 'GET', '/user/user', {}, pair.access);
  }

  private async login(username: string, password: string): Promise<{ access: string; refresh: string } | undefined> {
    const reply = await this.request('login', 'POST', '/user/token', { username, password });
    return ok(reply) ? this.keep(reply, username) : undefined;
  }

  private keep(reply: Reply, username: string): { access: string; refresh: string } {
    const access = String(reply.body?.['access_token']);
    const refresh = String(reply.body?.['refresh_token']);
    this.unspentRefreshTokens.set(refresh, username);
    return { access, refresh };
  }
}
