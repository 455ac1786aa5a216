import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { startPasswordless } from '../../services/passwordless/request.js';
import { clientInfo } from '../auth-guard.js';
import { EmailBody } from '../schemas/account.js';
import { Detail, ValidationErrorBody } from '../schemas/common.js';

const FORM_OR_JSON = ['application/x-www-form-urlencoded', 'application/json'];
/** One body for every address, known or not: the answer must not tell which addresses have accounts. */
const ACCEPTED = { detail: 'If this address may sign in, a message with a sign-in code is on its way' };

/** Passwordless sign-in (issue 25), under `/user/passwordless`; the code is then spent at `POST /user/token`. */
export const passwordlessRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/start', {
    schema: {
      summary: 'Mail a one-time sign-in code and link (same answer whether or not the address has an account)',
      description: 'Then `POST /user/token` with `grant_type=email_otp`, `email` and `otp` (the 8-digit code). See docs/PASSWORDLESS.md.',
      tags: ['user'],
      consumes: FORM_OR_JSON,
      body: EmailBody,
      response: { 202: Detail, 422: ValidationErrorBody, 429: Detail },
    },
    // Per client address, never per e-mail address (that would answer differently for some addresses).
    onRequest: app.throttles.registerPerIp,
    handler: async (request, reply) => {
      startPasswordless(app.deps, request.body.email, clientInfo(request));
      return reply.code(202).send(ACCEPTED);
    },
  });
};
