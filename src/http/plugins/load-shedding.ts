import { getHeapStatistics } from 'node:v8';
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import { DomainError } from '../../errors.js';

/** How long an overloaded service asks clients to wait: about the time a sample of the load takes. */
const RETRY_AFTER_SECONDS = 2;

/** Share of V8's heap limit past which new requests are refused rather than risking an out-of-memory crash. */
const HEAP_SHARE = 0.9;

/**
 * Overload protection (@fastify/under-pressure): once a second it samples the event loop's mean delay and
 * the heap. Past `maxEventLoopDelayMs`, or past 90% of the heap limit, every new request gets
 * `503 {"detail": ...}` with Retry-After as soon as its headers arrive, before its body is read, instead of
 * waiting behind a backlog that only grows. Liveness (`/healthz`) is exempt: an overloaded process is alive
 * (and `/metrics`, on the management listener, is never shed: operators need to see it). Readiness is not:
 * a load balancer should route around it.
 */
export async function registerLoadShedding(
  app: FastifyInstance,
  options: { maxEventLoopDelayMs: number; onShed: (reason: string) => void },
): Promise<void> {
  await app.register(underPressure, {
    maxEventLoopDelay: options.maxEventLoopDelayMs,
    maxHeapUsedBytes: Math.floor(getHeapStatistics().heap_size_limit * HEAP_SHARE),
    pressureHandler: async (request, _reply, type) => {
      if (request.routeOptions.config.exemptFromLoadShedding) return;
      options.onShed(type);
      throw new DomainError('SERVICE_BUSY', { retryAfterSeconds: RETRY_AFTER_SECONDS });
    },
  });
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Answered even when the service is overloaded (see registerLoadShedding). */
    exemptFromLoadShedding?: boolean;
  }
}
