import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import { deleteUserAsAdmin, resetSecondFactorAsAdmin, sendPasswordResetAsAdmin } from '../../services/admin/actions.js';
import { endUserSessions, listUserEvents, listUserSessions } from '../../services/admin/activity.js';
import { getUser, listUsers, updateUserAsAdmin, type Actor } from '../../services/admin/users.js';
import { queryNumber, requireAdmin, userIdParam } from '../admin-guard.js';
import { clientInfo, requireUser } from '../auth-guard.js';
import { Detail, ValidationErrorBody } from '../schemas/common.js';
import { AdminUserDetail, EndedSessions, EventPage, EventQuery, UserChanges, UserIdParams, UserListQuery, UserPage } from '../schemas/admin.js';
import { Session } from '../schemas/sessions.js';
import { BEARER_AUTH } from './user.js';

const DEFAULT_PAGE = 50;
const MAX_PAGE = 200;
const MAX_USER_ID = 2 ** 31 - 1;

/** 401 without a valid token, 403 without the admin role: both before the input is even read. */
const REFUSALS = { 401: Detail, 403: Detail };
const FOR_ONE_USER = { ...REFUSALS, 404: Detail, 422: ValidationErrorBody };
const common = { tags: ['admin'], security: BEARER_AUTH };

const actorOf = (request: FastifyRequest): Actor => ({ id: request.user!.id, client: clientInfo(request) });
const limitOf = (limit: string | undefined) => queryNumber('limit', limit, MAX_PAGE) ?? DEFAULT_PAGE;

/** The admin API: every route needs a user with the `admin` role, and every call is a security event. */
export const adminRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', requireUser);
  app.addHook('onRequest', requireAdmin);

  app.get('/users', {
    schema: {
      ...common,
      summary: 'List users, in id order, keyset-paginated; search by username or e-mail prefix, filter by status or role',
      querystring: UserListQuery,
      response: { 200: UserPage, ...REFUSALS, 422: ValidationErrorBody },
    },
    handler: async (request) => {
      const { q, status, role, after, limit } = request.query;
      const filter = { q, status, role, after: queryNumber('after', after, MAX_USER_ID), limit: limitOf(limit) };
      return listUsers(app.deps, actorOf(request), filter);
    },
  });

  app.get('/users/:id', {
    schema: {
      ...common,
      summary: 'One user: profile, roles, status, times, active session count',
      params: UserIdParams,
      response: { 200: AdminUserDetail, ...FOR_ONE_USER },
    },
    handler: async (request) => getUser(app.deps, actorOf(request), userIdParam(request.params.id)),
  });

  app.patch('/users/:id', {
    schema: {
      ...common,
      summary: 'Change a user: username, e-mail, e-mail verified, roles (the whole list), is_active, banned_until',
      consumes: ['application/json'],
      params: UserIdParams,
      body: UserChanges,
      response: { 200: AdminUserDetail, ...FOR_ONE_USER, 409: Detail },
    },
    handler: async (request) => updateUserAsAdmin(app.deps, actorOf(request), userIdParam(request.params.id), request.body),
  });

  app.delete('/users/:id', {
    schema: {
      ...common,
      summary: 'Delete a user, with every effect of self-deletion (sessions, tokens, mailed tokens gone at once)',
      params: UserIdParams,
      response: { 204: Type.Null({ description: 'Deleted' }), ...FOR_ONE_USER, 409: Detail },
    },
    handler: async (request, reply) => {
      await deleteUserAsAdmin(app.deps, actorOf(request), userIdParam(request.params.id));
      return reply.code(204).send(null);
    },
  });

  app.post('/users/:id/password-reset', {
    schema: {
      ...common,
      summary: 'Mail the user a password-reset link on their behalf (the admin never sees or sets the password)',
      params: UserIdParams,
      response: { 202: Detail, ...FOR_ONE_USER },
    },
    handler: async (request, reply) => {
      await sendPasswordResetAsAdmin(app.deps, actorOf(request), userIdParam(request.params.id));
      return reply.code(202).send({ detail: 'A password-reset link was mailed to the user' });
    },
  });

  app.delete('/users/:id/mfa', {
    schema: {
      ...common,
      summary: 'Reset the user’s second factor (lost authenticator and recovery codes); the user is mailed a notice',
      params: UserIdParams,
      response: { 204: Type.Null({ description: 'Removed' }), ...FOR_ONE_USER, 409: Detail },
    },
    handler: async (request, reply) => {
      await resetSecondFactorAsAdmin(app.deps, actorOf(request), userIdParam(request.params.id));
      return reply.code(204).send(null);
    },
  });

  app.get('/users/:id/sessions', {
    schema: { ...common, summary: 'A user’s active sessions', params: UserIdParams, response: { 200: Type.Array(Session), ...FOR_ONE_USER } },
    handler: async (request) => listUserSessions(app.deps, actorOf(request), userIdParam(request.params.id)),
  });

  app.delete('/users/:id/sessions', {
    schema: {
      ...common,
      summary: 'End every session of a user, and every access token issued before now',
      params: UserIdParams,
      response: { 200: EndedSessions, ...FOR_ONE_USER },
    },
    handler: async (request) => endUserSessions(app.deps, actorOf(request), userIdParam(request.params.id)),
  });

  app.get('/users/:id/events', {
    schema: {
      ...common,
      summary: 'A user’s security events, newest first, keyset-paginated; filter by type and time',
      params: UserIdParams,
      querystring: EventQuery,
      response: { 200: EventPage, ...FOR_ONE_USER },
    },
    handler: async (request) => {
      const { type, since, until, before, limit } = request.query;
      const filter = { type, since, until, before: queryNumber('before', before, Number.MAX_SAFE_INTEGER), limit: limitOf(limit) };
      return listUserEvents(app.deps, actorOf(request), userIdParam(request.params.id), filter);
    },
  });
};
