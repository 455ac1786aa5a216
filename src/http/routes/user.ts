import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { exchangeGrant } from '../../services/sign-in/grants.js';
import { refreshTokens } from '../../services/sessions/token-pairs.js';
import { changePassword } from '../../services/account/password-change.js';
import { registerUser, toProfile } from '../../services/account/registration.js';
import { clientInfo, requireUser } from '../auth-guard.js';
import { Detail, OAuthErrorBody, ValidationErrorBody } from '../schemas/common.js';
import { TokenForbiddenBody } from '../schemas/mfa.js';
import { LoginTokenResponse, Profile, PublicUser, RefreshBody, RegisterBody, TokenBody, TokenResponse, UpdatePasswordBody } from '../schemas/user.js';

const FORM_OR_JSON = ['application/x-www-form-urlencoded', 'application/json'];
export const BEARER_AUTH = [{ OAuth2PasswordBearer: [] }];

/** The Python service's routes, same paths and bodies, under the `/user` prefix. */
export const userRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/register', {
    schema: {
      summary: 'Create an account',
      tags: ['user'],
      consumes: FORM_OR_JSON,
      body: RegisterBody,
      response: { 201: PublicUser, 409: Detail, 422: ValidationErrorBody, 429: Detail, 503: Detail },
    },
    onRequest: app.throttles.registerPerIp,
    handler: async (request, reply) => reply.code(201).send(await registerUser(app.deps, request.body)),
  });

  app.post('/token', {
    schema: {
      summary: 'OAuth2 token endpoint: password, refresh_token, mfa_otp, mfa_recovery_code and email_otp grants',
      tags: ['user'],
      consumes: FORM_OR_JSON,
      body: TokenBody,
      response: {
        200: LoginTokenResponse,
        400: OAuthErrorBody,
        401: OAuthErrorBody,
        // The password was right but the login cannot finish here: a second factor is due, or the account
        // is disabled or its address unverified (REQUIRE_VERIFIED_EMAIL).
        403: TokenForbiddenBody,
        422: ValidationErrorBody,
        429: Detail,
        503: Detail,
      },
    },
    config: { oauthErrors: true },
    onRequest: app.throttles.loginPerIp,
    preHandler: app.throttles.loginPerAccount,
    handler: async (request, reply) => {
      // Responses carrying tokens must not be cached (RFC 6749 §5.1).
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
      return exchangeGrant(app.deps, request.body, clientInfo(request));
    },
  });

  app.post('/token/refresh', {
    schema: {
      summary: 'Exchange a refresh token for a new token pair (the old refresh token is spent)',
      tags: ['user'],
      consumes: FORM_OR_JSON,
      body: RefreshBody,
      response: { 200: TokenResponse, 401: OAuthErrorBody, 422: ValidationErrorBody, 429: Detail },
    },
    config: { oauthErrors: true },
    onRequest: app.throttles.refreshPerIp,
    handler: async (request, reply) => {
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
      return refreshTokens(app.deps, request.body.refresh_token, clientInfo(request));
    },
  });

  app.get('/user', {
    schema: {
      summary: 'The authenticated user’s profile',
      tags: ['user'],
      security: BEARER_AUTH,
      response: { 200: Profile, 401: Detail, 404: Detail },
    },
    onRequest: requireUser,
    handler: async (request) => toProfile(request.user!),
  });

  app.put('/update_password', {
    schema: {
      summary: 'Change the password; every session and token issued before is revoked',
      tags: ['user'],
      security: BEARER_AUTH,
      consumes: FORM_OR_JSON,
      body: UpdatePasswordBody,
      response: { 200: Detail, 400: Detail, 401: Detail, 404: Detail, 422: ValidationErrorBody, 429: Detail, 503: Detail },
    },
    onRequest: [app.throttles.passwordPerIp, requireUser],
    preHandler: app.throttles.passwordPerAccount,
    handler: async (request) => {
      const { current_password: currentPassword, new_password: newPassword } = request.body;
      await changePassword(app.deps, request.user!, { currentPassword, newPassword }, clientInfo(request));
      return { detail: 'Password updated successfully' };
    },
  });
};
