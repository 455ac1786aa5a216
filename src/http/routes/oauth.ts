import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { DomainError } from '../../errors.js';
import { assertIntrospectionClient, introspectToken, revokeToken } from '../../services/sessions/revocation-and-introspection.js';
import { clientInfo } from '../auth-guard.js';
import { OAuthErrorBody } from '../schemas/common.js';
import { IntrospectionResponse, TokenParam } from '../schemas/sessions.js';

const FORM_OR_JSON = ['application/x-www-form-urlencoded', 'application/json'];

/** RFC 7009 revocation and RFC 7662 introspection, for clients and resource servers. */
export const oauthRoutes: FastifyPluginAsyncTypebox<{ introspectionSecret: string | undefined }> = async (app, options) => {
  app.post('/revoke', {
    schema: {
      summary: 'Revoke a refresh or access token (RFC 7009); ends the session it belongs to',
      tags: ['oauth'],
      consumes: FORM_OR_JSON,
      body: TokenParam,
      response: { 200: Type.Object({}, { description: 'Always, for a well-formed request' }), 400: OAuthErrorBody },
    },
    config: { oauthErrors: true, invalidBodyIs400: true },
    handler: async (request) => {
      if (!request.body.token) throw new DomainError('MISSING_TOKEN');
      await revokeToken(app.deps, request.body.token, clientInfo(request));
      return {};
    },
  });

  app.post('/introspect', {
    schema: {
      summary: 'Introspect a token (RFC 7662); authenticate with INTROSPECTION_SECRET (Basic or Bearer)',
      tags: ['oauth'],
      security: [{ IntrospectionBasic: [] }, { IntrospectionBearer: [] }],
      consumes: FORM_OR_JSON,
      body: TokenParam,
      response: { 200: IntrospectionResponse, 400: OAuthErrorBody, 401: OAuthErrorBody },
    },
    config: { oauthErrors: true, invalidBodyIs400: true },
    // Client authentication first: strangers learn nothing, not even how their body would be judged.
    onRequest: async (request) => assertIntrospectionClient(options.introspectionSecret, request.headers.authorization),
    handler: async (request, reply) => {
      reply.header('cache-control', 'no-store');
      if (!request.body.token) throw new DomainError('MISSING_TOKEN');
      return introspectToken(app.deps, request.body.token);
    },
  });
};
