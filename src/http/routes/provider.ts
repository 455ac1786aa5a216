import type { FastifyInstance } from 'fastify';
import type Provider from 'oidc-provider';

/** Where the provider's endpoints live; its issuer is PUBLIC_URL + this path. */
export const PROVIDER_PATH = '/oidc';

/**
 * oidc-provider's own endpoints (authorization, token, userinfo, JWKS, discovery, introspection,
 * revocation, end_session…), served by the library as it is: requests are handed over raw, bodies
 * unread (the library parses them itself, and must see exactly what the client sent).
 * @see issue 23
 */
export async function providerRoutes(app: FastifyInstance, options: { provider: Provider }): Promise<void> {
  const callback = options.provider.callback();
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
  const handOver = async (request: { raw: import('node:http').IncomingMessage & { originalUrl?: string } }, reply: { hijack(): void; raw: import('node:http').ServerResponse }) => {
    reply.hijack();
    const raw = request.raw;
    // The library finds its mount path from originalUrl less url, as under Express or Koa's mount.
    raw.originalUrl = raw.url;
    raw.url = raw.url!.slice(PROVIDER_PATH.length) || '/';
    await callback(raw, reply.raw);
  };
  // The token endpoint spends the per-IP sign-in budget the password grant spends: a client secret or a
  // code is guessed no faster here than a password at /user/token.
  app.post(`${PROVIDER_PATH}/token`, { schema: { hide: true }, onRequest: app.throttles.loginPerIp }, handOver);
  app.all(PROVIDER_PATH, { schema: { hide: true } }, handOver);
  app.all(`${PROVIDER_PATH}/*`, { schema: { hide: true } }, handOver);
}
