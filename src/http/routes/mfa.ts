import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import { InvalidInputError } from '../../errors.js';
import { confirmTotpEnrolment, disableTotp, regenerateRecoveryCodes, startTotpEnrolment } from '../../services/second-factor/totp-enrolment.js';
import type { SecondFactorProof } from '../../services/second-factor/proofs.js';
import { clientInfo, requireUser } from '../auth-guard.js';
import { Detail, ValidationErrorBody } from '../schemas/common.js';
import { ConfirmTotpBody, CurrentPasswordBody, DisableTotpBody, RecoveryCodesBody, RecoveryCodesResponse, TotpEnrolmentResponse } from '../schemas/mfa.js';
import type { StepUp } from '../../services/second-factor/step-up.js';
import { BEARER_AUTH } from './user.js';

const FORM_OR_JSON = ['application/x-www-form-urlencoded', 'application/json'];
const REFUSALS = { 401: Detail, 404: Detail, 409: Detail, 422: ValidationErrorBody, 429: Detail };

/** Exactly one of `otp` and `recovery_code` (a schema cannot say "one of" in FastAPI's 422 words). */
function proofOf(body: { otp?: string | undefined; recovery_code?: string | undefined }): SecondFactorProof {
  if ((body.otp === undefined) === (body.recovery_code === undefined)) {
    throw new InvalidInputError([{ loc: ['body', 'otp'], msg: 'Send either otp or recovery_code', type: 'missing' }]);
  }
  return body.otp !== undefined ? { otp: body.otp } : { recoveryCode: body.recovery_code! };
}

/** The caller's session (`amr` of its token; none means the password) and an optional proof of the second factor. */
function stepUpOf(request: FastifyRequest, body: { otp?: string | undefined; recovery_code?: string | undefined }): StepUp {
  const proof = body.otp === undefined && body.recovery_code === undefined ? undefined : proofOf(body);
  return { amr: request.claims?.amr ?? ['pwd'], proof };
}

/** The second factor of the signed-in user: TOTP enrolment, recovery codes, removal (issue 14). */
export const mfaRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/totp', {
    schema: {
      summary: 'Start TOTP enrolment: a new secret, its otpauth URI and QR code (not active until confirmed)',
      tags: ['mfa'],
      security: BEARER_AUTH,
      consumes: FORM_OR_JSON,
      body: CurrentPasswordBody,
      response: { 200: TotpEnrolmentResponse, 400: Detail, ...REFUSALS },
    },
    onRequest: [app.throttles.passwordPerIp, requireUser],
    preHandler: app.throttles.passwordPerAccount,
    handler: async (request, reply) => {
      // The secret must not stay in any cache.
      reply.header('cache-control', 'no-store');
      return startTotpEnrolment(app.deps, request.user!, request.body.current_password, clientInfo(request));
    },
  });

  app.post('/totp/confirm', {
    schema: {
      summary: 'Confirm enrolment with a code of the app: the second factor is on; returns 10 recovery codes, shown once',
      tags: ['mfa'],
      security: BEARER_AUTH,
      consumes: FORM_OR_JSON,
      body: ConfirmTotpBody,
      response: { 200: RecoveryCodesResponse, 400: Detail, ...REFUSALS },
    },
    onRequest: [app.throttles.passwordPerIp, requireUser],
    preHandler: app.throttles.passwordPerAccount,
    handler: async (request, reply) => {
      reply.header('cache-control', 'no-store');
      return confirmTotpEnrolment(app.deps, request.user!, request.body.otp, clientInfo(request), request.claims?.sid);
    },
  });

  app.post('/recovery-codes', {
    schema: {
      summary: 'Make a new set of 10 recovery codes; the earlier ones stop working. Needs the password and, unless this session signed in with the second factor, a code (otp) or a recovery code',
      tags: ['mfa'],
      security: BEARER_AUTH,
      consumes: FORM_OR_JSON,
      body: RecoveryCodesBody,
      response: { 200: RecoveryCodesResponse, 400: Detail, 403: Detail, ...REFUSALS },
    },
    onRequest: [app.throttles.passwordPerIp, requireUser],
    preHandler: app.throttles.passwordPerAccount,
    handler: async (request, reply) => {
      reply.header('cache-control', 'no-store');
      return regenerateRecoveryCodes(app.deps, request.user!, request.body.current_password, clientInfo(request), stepUpOf(request, request.body));
    },
  });

  app.delete('/totp', {
    schema: {
      summary: 'Turn the second factor off: needs the password and a code of the app (or a recovery code)',
      tags: ['mfa'],
      security: BEARER_AUTH,
      consumes: FORM_OR_JSON,
      body: DisableTotpBody,
      response: { 204: Type.Null({ description: 'Removed' }), 400: Detail, ...REFUSALS },
    },
    onRequest: [app.throttles.passwordPerIp, requireUser],
    preHandler: app.throttles.passwordPerAccount,
    handler: async (request, reply) => {
      const { current_password: currentPassword } = request.body;
      await disableTotp(app.deps, request.user!, { currentPassword, proof: proofOf(request.body) }, clientInfo(request));
      return reply.code(204).send(null);
    },
  });
};
