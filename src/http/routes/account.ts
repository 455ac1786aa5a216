import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { deleteOwnAccount, updateProfile } from '../../services/account/profile.js';
import { confirmEmailChange, requestEmailChange } from '../../services/account/email-change.js';
import { requestVerifyToken, verifyEmail } from '../../services/account/email-verification.js';
import { forgotPassword, resetPassword } from '../../services/account/password-reset.js';
import { toProfile } from '../../services/account/registration.js';
import { clientInfo, requireUser } from '../auth-guard.js';
import { ChangeEmailBody, DeleteAccountBody, EmailBody, ResetPasswordBody, TokenBody, UpdateProfileBody } from '../schemas/account.js';
import { Detail, ValidationErrorBody } from '../schemas/common.js';
import { Profile } from '../schemas/user.js';
import { BEARER_AUTH } from './user.js';

const FORM_OR_JSON = ['application/x-www-form-urlencoded', 'application/json'];
const NoContent = Type.Null({ description: 'No content' });
/** One body for every address, known or not: the answer must not tell which addresses have accounts. */
const ACCEPTED = { detail: 'If an account has this address, a message is on its way' };

/** The account's lifecycle by e-mail (issue 11), FastAPI-users' names, under `/user`. */
export const accountRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/forgot-password', {
    schema: {
      summary: 'Mail a password-reset link (same answer whether or not the address has an account)',
      tags: ['account'],
      consumes: FORM_OR_JSON,
      body: EmailBody,
      response: { 202: Detail, 422: ValidationErrorBody },
    },
    handler: async (request, reply) => {
      forgotPassword(app.deps, request.body.email, clientInfo(request));
      return reply.code(202).send(ACCEPTED);
    },
  });

  app.post('/reset-password', {
    schema: {
      summary: 'Set a new password with a mailed reset token; every session ends',
      tags: ['account'],
      consumes: FORM_OR_JSON,
      body: ResetPasswordBody,
      response: { 200: Detail, 400: Detail, 422: ValidationErrorBody },
    },
    handler: async (request) => {
      await resetPassword(app.deps, request.body.token, request.body.password, clientInfo(request));
      return { detail: 'Password has been reset; log in with the new password' };
    },
  });

  app.post('/request-verify-token', {
    schema: {
      summary: 'Mail an e-mail verification link (same answer whether or not the address has an account)',
      tags: ['account'],
      consumes: FORM_OR_JSON,
      body: EmailBody,
      response: { 202: Detail, 422: ValidationErrorBody },
    },
    handler: async (request, reply) => {
      requestVerifyToken(app.deps, request.body.email, clientInfo(request));
      return reply.code(202).send(ACCEPTED);
    },
  });

  app.post('/verify', {
    schema: {
      summary: 'Confirm the e-mail address with a mailed verification token',
      tags: ['account'],
      consumes: FORM_OR_JSON,
      body: TokenBody,
      response: { 200: Profile, 400: Detail, 422: ValidationErrorBody },
    },
    handler: async (request) => toProfile(await verifyEmail(app.deps, request.body.token, clientInfo(request))),
  });

  app.post('/change-email', {
    schema: {
      summary: 'Ask to move the account to another address: a confirmation link goes to it, a notice to the current one',
      tags: ['account'],
      security: BEARER_AUTH,
      consumes: FORM_OR_JSON,
      body: ChangeEmailBody,
      response: { 202: Detail, 400: Detail, 401: Detail, 404: Detail, 409: Detail, 422: ValidationErrorBody, 429: Detail },
    },
    onRequest: [app.throttles.passwordPerIp, requireUser],
    preHandler: app.throttles.passwordPerAccount,
    handler: async (request, reply) => {
      const { new_email: newEmail, current_password: currentPassword } = request.body;
      await requestEmailChange(app.deps, request.user!, { newEmail, currentPassword }, clientInfo(request));
      return reply.code(202).send({ detail: 'A confirmation link was mailed to the new address' });
    },
  });

  app.post('/change-email/verify', {
    schema: {
      summary: 'Confirm an e-mail change with the token mailed to the new address',
      tags: ['account'],
      consumes: FORM_OR_JSON,
      body: TokenBody,
      response: { 200: Profile, 400: Detail, 409: Detail, 422: ValidationErrorBody },
    },
    handler: async (request) => toProfile(await confirmEmailChange(app.deps, request.body.token, clientInfo(request))),
  });

  app.patch('/user', {
    schema: {
      summary: 'Update the profile (username); tokens keep working',
      tags: ['account'],
      security: BEARER_AUTH,
      consumes: FORM_OR_JSON,
      body: UpdateProfileBody,
      response: { 200: Profile, 401: Detail, 404: Detail, 409: Detail, 422: ValidationErrorBody, 429: Detail },
    },
    // A rename mails a notice: it spends the password-change budgets, so renames cannot flood an inbox (issue 21, finding 5).
    onRequest: [app.throttles.passwordPerIp, requireUser],
    preHandler: app.throttles.passwordPerAccount,
    handler: async (request) => toProfile(await updateProfile(app.deps, request.user!, request.body, clientInfo(request))),
  });

  app.delete('/user', {
    schema: {
      summary: 'Delete the account, at once, with everything it holds',
      tags: ['account'],
      security: BEARER_AUTH,
      consumes: FORM_OR_JSON,
      body: DeleteAccountBody,
      response: { 204: NoContent, 400: Detail, 401: Detail, 404: Detail, 422: ValidationErrorBody, 429: Detail },
    },
    onRequest: [app.throttles.passwordPerIp, requireUser],
    preHandler: app.throttles.passwordPerAccount,
    handler: async (request, reply) => {
      await deleteOwnAccount(app.deps, request.user!, request.body.current_password, clientInfo(request));
      return reply.code(204).send(null);
    },
  });
};
