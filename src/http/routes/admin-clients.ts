import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import { recordAdminEvent, type Actor } from '../../services/admin/users.js';
import { createClient, deleteClient, getClient, listClients, rotateClientSecret, updateClient, type ClientDeps } from '../../services/provider/clients.js';
import { requireAdmin } from '../admin-guard.js';
import { clientInfo, requireUser } from '../auth-guard.js';
import { Detail, ValidationErrorBody } from '../schemas/common.js';
import { ClientChanges, ClientCreated, ClientIdParams, ClientInput, ClientView, RotatedSecret } from '../schemas/provider-clients.js';
import { BEARER_AUTH } from './user.js';

const REFUSALS = { 401: Detail, 403: Detail };
const common = { tags: ['admin'], security: BEARER_AUTH };
const actorOf = (request: FastifyRequest): Actor => ({ id: request.user!.id, client: clientInfo(request) });

/** Applications that sign their users in through us (issue 23): registered by an admin, each call audited. */
export const adminClientRoutes: FastifyPluginAsyncTypebox<{ clientSecretKey: Buffer }> = async (app, options) => {
  app.addHook('onRequest', requireUser);
  app.addHook('onRequest', requireAdmin);
  const deps = (): ClientDeps => ({ db: app.deps.db, clock: app.deps.clock, clientSecretKey: options.clientSecretKey });

  app.post('/clients', {
    schema: { ...common, summary: 'Register an application (its secret is in this answer only)', body: ClientInput, response: { 201: ClientCreated, ...REFUSALS, 422: ValidationErrorBody } },
    handler: async (request, reply) => {
      const body = request.body;
      const created = await createClient(deps(), {
        name: body.name,
        redirectUris: body.redirect_uris,
        postLogoutRedirectUris: body.post_logout_redirect_uris,
        grantTypes: body.grant_types,
        public: body.public,
        firstParty: body.first_party,
      });
      await recordAdminEvent(app.deps, actorOf(request), 'admin_client_registered', null, { clientId: created.client.client_id });
      return reply.code(201).send({ client: created.client, ...(created.clientSecret !== undefined && { client_secret: created.clientSecret }) });
    },
  });

  app.get('/clients', {
    schema: { ...common, summary: 'Registered applications', response: { 200: Type.Array(ClientView), ...REFUSALS } },
    handler: async () => listClients(app.deps),
  });

  app.get('/clients/:id', {
    schema: { ...common, summary: 'One application', params: ClientIdParams, response: { 200: ClientView, ...REFUSALS, 404: Detail, 422: ValidationErrorBody } },
    handler: async (request) => getClient(app.deps, request.params.id),
  });

  app.patch('/clients/:id', {
    schema: { ...common, summary: 'Change an application (public or not is fixed at registration)', params: ClientIdParams, body: ClientChanges, response: { 200: ClientView, ...REFUSALS, 404: Detail, 422: ValidationErrorBody } },
    handler: async (request) => {
      const { name, redirect_uris, post_logout_redirect_uris, grant_types, first_party } = request.body;
      const client = await updateClient(deps(), request.params.id, {
        ...(name !== undefined && { name }),
        ...(redirect_uris !== undefined && { redirectUris: redirect_uris }),
        ...(post_logout_redirect_uris !== undefined && { postLogoutRedirectUris: post_logout_redirect_uris }),
        ...(grant_types !== undefined && { grantTypes: grant_types }),
        ...(first_party !== undefined && { firstParty: first_party }),
      });
      await recordAdminEvent(app.deps, actorOf(request), 'admin_client_updated', null, { clientId: client.client_id });
      return client;
    },
  });

  app.delete('/clients/:id', {
    schema: { ...common, summary: 'Remove an application: its tokens stop working', params: ClientIdParams, response: { 204: Type.Null(), ...REFUSALS, 404: Detail, 422: ValidationErrorBody } },
    handler: async (request, reply) => {
      await deleteClient(app.deps, request.params.id);
      await recordAdminEvent(app.deps, actorOf(request), 'admin_client_deleted', null, { clientId: request.params.id });
      return reply.code(204).send(null);
    },
  });

  app.post('/clients/:id/rotate-secret', {
    schema: { ...common, summary: 'A new secret for a confidential application; the old one stops working at once', params: ClientIdParams, response: { 200: RotatedSecret, ...REFUSALS, 404: Detail, 409: Detail, 422: ValidationErrorBody } },
    handler: async (request) => {
      const rotated = await rotateClientSecret(deps(), request.params.id);
      await recordAdminEvent(app.deps, actorOf(request), 'admin_client_secret_rotated', null, { clientId: rotated.client_id });
      return rotated;
    },
  });
};
