import rateLimit, { type FastifyRateLimitStore, type FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import RedisStore from '@fastify/rate-limit/store/RedisStore.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import { DomainError } from '../../errors.js';
import { foldLoginName } from '../../services/sign-in/lockout.js';
import { addressBudgetKey } from '../client-address.js';

type Hook = (request: FastifyRequest) => Promise<void>;

export interface Throttles {
  loginPerIp: Hook;
  /** Keyed by the submitted username/e-mail: runs after the body is parsed (preHandler). */
  loginPerAccount: Hook;
  registerPerIp: Hook;
  refreshPerIp: Hook;
  passwordPerIp: Hook;
  /** Keyed by the authenticated user: runs after the auth guard. */
  passwordPerAccount: Hook;
}

declare module 'fastify' {
  interface FastifyInstance {
    throttles: Throttles;
  }
}

/**
 * The Redis store of @fastify/rate-limit, observed: a failing Redis is logged and counted, then the request
 * is let through (`skipOnError`). Failing open is right for rate limits only — authentication itself never
 * depends on Redis.
 */
function observedRedisStore(redis: Redis, prefix: string, onError: (error: Error) => void): FastifyRateLimitStoreCtor {
  const observe = (inner: FastifyRateLimitStore): FastifyRateLimitStore => ({
    incr(key, callback, timeWindow, max) {
      inner.incr(key, (error, result) => {
        if (error) onError(error);
        callback(error, result);
      }, timeWindow, max);
    },
    child: (routeOptions) => observe(inner.child(routeOptions)),
  });
  return class {
    constructor() {
      return observe(new RedisStore(false, false, redis, prefix));
    }
  } as unknown as FastifyRateLimitStoreCtor;
}

/**
 * Counts every failed store call and logs a line a minute with how many requests it let through: while
 * Redis is down every request fails, and a line each would flood the log.
 */
function storeErrorReporter(app: FastifyInstance, clock: Clock): (error: Error) => void {
  let lastWarning = -Infinity;
  let unreported = 0;
  return (error) => {
    app.metrics.rateLimitStoreErrors.inc();
    unreported++;
    const now = clock.now().getTime();
    if (now - lastWarning < 60_000) return;
    lastWarning = now;
    app.log.warn({ err: error, requests: unreported }, 'rate-limit store unavailable: requests let through');
    unreported = 0;
  };
}

const noop: Hook = async () => {};

/**
 * Per-IP and per-account request budgets on the endpoints that check secrets or create rows. Over budget
 * → 429 with Retry-After. Counters are shared through Redis when REDIS_URL is set (several instances, one
 * budget), in memory otherwise.
 */
export async function registerThrottling(
  app: FastifyInstance,
  config: Config,
  redis: Redis | undefined,
  clock: Clock,
): Promise<void> {
  const limits = config.rateLimits;
  if (!limits.enabled) {
    const off: Throttles = { loginPerIp: noop, loginPerAccount: noop, registerPerIp: noop, refreshPerIp: noop, passwordPerIp: noop, passwordPerAccount: noop };
    app.decorate('throttles', off);
    return;
  }
  await app.register(rateLimit, {
    global: false,
    skipOnError: true,
    ...(redis ? { store: observedRedisStore(redis, config.redisPrefix, storeErrorReporter(app, clock)) } : {}),
  });

  const limiter = (scope: string, max: number, key: (request: FastifyRequest) => string | undefined): Hook => {
    const check = app.createRateLimit({
      max,
      timeWindow: limits.windowSeconds * 1000,
      keyGenerator: (request) => `${scope}:${key(request)}`,
    });
    return async (request) => {
      if (key(request) === undefined) return;
      const result = await check(request);
      if (!result.isAllowed && result.isExceeded) {
        throw new DomainError('RATE_LIMITED', { retryAfterSeconds: Math.max(1, result.ttlInSeconds) });
      }
    };
  };
  // One budget per client, however its address is written, and per IPv6 network (see client-address.ts).
  const ip = (request: FastifyRequest) => addressBudgetKey(request.ip, limits.ipv6Prefix);
  const submittedLogin = (request: FastifyRequest) => {
    // The passwordless grant names the account by `email` (issue 25).
    const body = request.body as { username?: unknown; email?: unknown } | undefined;
    const username = body?.username ?? body?.email;
    return typeof username === 'string' ? foldLoginName(username) : undefined;
  };
  const userId = (request: FastifyRequest) => (request.user ? String(request.user.id) : undefined);

  app.decorate('throttles', {
    loginPerIp: limiter('login-ip', limits.loginPerIp, ip),
    loginPerAccount: limiter('login-account', limits.loginPerAccount, submittedLogin),
    registerPerIp: limiter('register-ip', limits.registerPerIp, ip),
    refreshPerIp: limiter('refresh-ip', limits.refreshPerIp, ip),
    passwordPerIp: limiter('password-ip', limits.passwordPerIp, ip),
    passwordPerAccount: limiter('password-account', limits.passwordPerAccount, userId),
  } satisfies Throttles);
}
