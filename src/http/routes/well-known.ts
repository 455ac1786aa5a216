import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { JwtKeys } from '../../crypto/jwt.js';

const Jwk = Type.Object(
  {
    kty: Type.String(),
    kid: Type.String(),
    alg: Type.String(),
    use: Type.String(),
    crv: Type.Optional(Type.String()),
    x: Type.Optional(Type.String()),
    y: Type.Optional(Type.String()),
    n: Type.Optional(Type.String()),
    e: Type.Optional(Type.String()),
  },
  { description: 'A public signing key (RFC 7517)' },
);

const ServerMetadata = Type.Object({
  issuer: Type.String(),
  token_endpoint: Type.String(),
  revocation_endpoint: Type.String(),
  introspection_endpoint: Type.String(),
  jwks_uri: Type.String(),
  grant_types_supported: Type.Array(Type.String()),
  response_types_supported: Type.Array(Type.String()),
  token_endpoint_auth_methods_supported: Type.Array(Type.String()),
  revocation_endpoint_auth_methods_supported: Type.Array(Type.String()),
  introspection_endpoint_auth_methods_supported: Type.Array(Type.String()),
  service_documentation: Type.String(),
});

/** Public keys and metadata change rarely; verifiers re-fetch on an unknown `kid` anyway. */
const CACHE_CONTROL = 'public, max-age=300';

/**
 * Discovery for other services: the JWKS to verify our access tokens offline (asymmetric JWT_ALGORITHM),
 * and the endpoints. The endpoints are at the configured PUBLIC_URL and the issuer is JWT_ISSUER (else the
 * same URL): never the request's Host header, since the document is cached publicly and a forged Host
 * would send every client's passwords elsewhere.
 * @see RFC 8414 §3.3 (the issuer must be the configured one); issue 12, point 6
 */
export const wellKnownRoutes: FastifyPluginAsyncTypebox<{ keys: JwtKeys; issuer: string | undefined; publicUrl: string }> = async (
  app,
  options,
) => {
  const base = options.publicUrl;
  const issuer = options.issuer ?? base;

  app.get('/jwks.json', {
    schema: {
      summary: 'Public keys that verify our access tokens (empty with HS256)',
      tags: ['discovery'],
      response: { 200: Type.Object({ keys: Type.Array(Jwk) }) },
    },
    handler: async (_request, reply) => {
      reply.header('cache-control', CACHE_CONTROL);
      return options.keys.jwks();
    },
  });

  // RFC 8414's name, and OpenID Connect Discovery's, which most client libraries look for.
  for (const url of ['/oauth-authorization-server', '/openid-configuration']) {
    app.get(url, {
      schema: { summary: 'Authorization server metadata (RFC 8414)', tags: ['discovery'], response: { 200: ServerMetadata } },
      handler: async (_request, reply) => {
        reply.header('cache-control', CACHE_CONTROL);
        return {
          issuer,
          token_endpoint: `${base}/user/token`,
          revocation_endpoint: `${base}/oauth/revoke`,
          introspection_endpoint: `${base}/oauth/introspect`,
          jwks_uri: `${base}/.well-known/jwks.json`,
          grant_types_supported: ['password', 'refresh_token'],
          // No authorization endpoint: the password and refresh grants need none (RFC 8414 §2 asks for the list).
          response_types_supported: [],
          token_endpoint_auth_methods_supported: ['none'],
          revocation_endpoint_auth_methods_supported: ['none'],
          introspection_endpoint_auth_methods_supported: ['client_secret_basic'],
          service_documentation: `${base}/docs`,
        };
      },
    });
  }
};
