import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * The headers helmet's middleware sets for these options. Without CSP nonces they are the same for every
 * response, so they are worked out once, by running helmet itself against a response that only records.
 */
export function helmetHeaders(options: HelmetOptions): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, (error?: unknown) => {
    if (error) throw error;
  });
  return Object.freeze(headers);
}

/**
 * Security headers (helmet's) and the request id on every response, set by one synchronous hook.
 * @fastify/helmet builds helmet's middleware anew for every request; on `GET /user/user` that was 6% of
 * the CPU time (docs/PERFORMANCE.md), for headers that never change.
 */
export function registerSecurityHeaders(app: FastifyInstance, headers: Readonly<Record<string, string>>): void {
  app.addHook('onRequest', (request, reply, done) => {
    setSecurityHeaders(request, reply, headers);
    done();
  });
}

/** What the hook sets; also called where no hook runs (the router's own refusals). */
export function setSecurityHeaders(request: FastifyRequest, reply: FastifyReply, headers: Readonly<Record<string, string>>): FastifyReply {
  return reply.headers(headers).header('x-request-id', request.id);
}
