import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  rateLimitStoreErrors: Counter;
  loadShed: Counter<'reason'>;
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics;
  }
}

/**
 * Prometheus metrics: request latency by route and status, process metrics, and the counters operators alert
 * on. One registry per app, so several apps in one process (tests) do not clash. They are served by the
 * management listener (http/management.ts), never on the public port.
 */
export async function registerMetrics(app: FastifyInstance): Promise<void> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const rateLimitStoreErrors = new Counter({
    name: 'rate_limit_store_errors_total',
    help: 'Rate-limit checks let through because the shared store (Redis) failed',
    registers: [registry],
  });
  const loadShed = new Counter({
    name: 'load_shed_total',
    help: 'Requests refused with 503 because the service was overloaded, by what was over its limit',
    labelNames: ['reason'],
    registers: [registry],
  });
  app.decorate('metrics', { registry, rateLimitStoreErrors, loadShed });

  // A callback hook, not an async one: it runs on every response, and needs no promise.
  app.addHook('onResponse', (request, reply, done) => {
    // The route pattern, not the URL: unknown paths must not create unbounded label values.
    const route = request.routeOptions.url ?? 'unmatched';
    duration.observe({ method: request.method, route, status_code: reply.statusCode }, reply.elapsedTime / 1000);
    done();
  });
}
