import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * One access line per request, when it is answered. Fastify's default writes two (one on arrival, one
 * on completion), which cost about a fifth of the CPU time of `GET /user/user` (docs/PERFORMANCE.md).
 * The path is logged without its query string, so nothing a client puts there (a token, say) reaches
 * the log. Failed requests are still logged as errors, with the error, by Fastify.
 */
export class AccessLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) return super.requestCompleted(error, request, reply);
    const query = request.url.indexOf('?');
    reply.log.info(
      {
        method: request.method,
        path: query === -1 ? request.url : request.url.slice(0, query),
        statusCode: reply.statusCode,
        responseTime: Math.round(reply.elapsedTime * 100) / 100,
        ip: request.ip,
      },
      'request completed',
    );
  }
}
