import Fastify, { type FastifyInstance } from 'fastify';

export interface ManagementSources {
  /** The Prometheus exposition text and its content type. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Whether the service can take traffic (the database answers). */
  ready(): Promise<boolean>;
}

/**
 * The management listener's app (as Keycloak's port 9000): `/metrics` for the operator's scraper, and the
 * probes `/healthz` and `/readyz`, which the public port answers too. It is a separate listener, bound to
 * loopback by default, because route latencies and process figures are not for the internet; the proxy
 * (deploy/nginx.conf) never forwards to it. Built by the process edge (server.ts, cluster.ts), never by
 * buildApp, so several apps in one process (tests) need no port of their own.
 */
export async function buildManagementApp(sources: ManagementSources): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  app.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await sources.metrics();
    return reply.header('content-type', contentType).send(body);
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (await sources.ready().catch(() => false)) return { status: 'ok' };
    return reply.code(503).header('retry-after', '5').send({ detail: 'Not ready' });
  });
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ detail: 'Not Found' }));
  return app;
}

/** The sources of one service app: its own metrics registry, and its public `/readyz` (same answer on both ports). */
export function appManagementSources(app: FastifyInstance): ManagementSources {
  return {
    metrics: async () => ({ contentType: app.metrics.registry.contentType, body: await app.metrics.registry.metrics() }),
    ready: async () => (await app.inject({ url: '/readyz' })).statusCode === 200,
  };
}
