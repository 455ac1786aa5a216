import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { sql } from 'drizzle-orm';
import { Detail } from '../schemas/common.js';

const Status = Type.Object({ status: Type.Literal('ok') });

/** Service description and probes: `/healthz` says the process is up, `/readyz` that the database answers. */
export const metaRoutes: FastifyPluginAsyncTypebox<{ version: string }> = async (app, { version }) => {
  app.get('/', {
    schema: {
      summary: 'Service description and links',
      tags: ['meta'],
      response: {
        200: Type.Object({ name: Type.String(), version: Type.String(), docs: Type.String(), openapi: Type.String() }),
      },
    },
    handler: async () => ({ name: 'user-services', version, docs: '/docs', openapi: '/openapi.json' }),
  });

  app.get('/healthz', {
    schema: { summary: 'Liveness: the process is up', tags: ['meta'], response: { 200: Status } },
    config: { exemptFromLoadShedding: true },
    handler: async () => ({ status: 'ok' as const }),
  });

  app.get('/readyz', {
    schema: { summary: 'Readiness: the database answers', tags: ['meta'], response: { 200: Status, 503: Detail } },
    handler: async (request, reply) => {
      try {
        await app.deps.db.execute(sql`select 1`);
        return { status: 'ok' as const };
      } catch (error) {
        request.log.warn({ err: error }, 'readiness check failed');
        return reply.code(503).header('retry-after', '5').send({ detail: 'Database unavailable' });
      }
    },
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
};
