import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { endSession, listSessions, logout, logoutEverywhere } from '../../services/sessions/sessions.js';
import { clientInfo, requireUser } from '../auth-guard.js';
import { Detail, ValidationErrorBody } from '../schemas/common.js';
import { Session, SessionIdParams } from '../schemas/sessions.js';
import { BEARER_AUTH } from './user.js';

const NoContent = Type.Null({ description: 'No content' });

/** A user's own sessions: list them, end one, end the current one, end them all. */
export const sessionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', requireUser);

  app.post('/logout', {
    schema: {
      summary: 'End the current session (its refresh and access tokens stop working)',
      tags: ['sessions'],
      security: BEARER_AUTH,
      response: { 204: NoContent, 401: Detail },
    },
    handler: async (request, reply) => {
      await logout(app.deps, request.user!.id, request.claims!.sid, clientInfo(request));
      return reply.code(204).send(null);
    },
  });

  app.post('/logout-all', {
    schema: {
      summary: 'End every session of the user',
      tags: ['sessions'],
      security: BEARER_AUTH,
      response: { 204: NoContent, 401: Detail },
    },
    handler: async (request, reply) => {
      await logoutEverywhere(app.deps, request.user!.id, clientInfo(request));
      return reply.code(204).send(null);
    },
  });

  app.get('/sessions', {
    schema: {
      summary: 'The user’s active sessions',
      tags: ['sessions'],
      security: BEARER_AUTH,
      response: { 200: Type.Array(Session), 401: Detail },
    },
    handler: async (request) => listSessions(app.deps, request.user!.id, request.claims!.sid),
  });

  app.delete('/sessions/:id', {
    schema: {
      summary: 'End one of the user’s own sessions',
      tags: ['sessions'],
      security: BEARER_AUTH,
      params: SessionIdParams,
      response: { 204: NoContent, 401: Detail, 404: Detail, 422: ValidationErrorBody },
    },
    handler: async (request, reply) => {
      await endSession(app.deps, request.user!.id, request.params.id, clientInfo(request), 'session_revoked');
      return reply.code(204).send(null);
    },
  });
};
