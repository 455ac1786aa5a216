import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { DomainError, InvalidInputError } from '../../errors.js';
import { confirmEmailChange } from '../../services/account/email-change.js';
import { verifyEmail } from '../../services/account/email-verification.js';
import { resetPassword } from '../../services/account/password-reset.js';
import { clientInfo } from '../auth-guard.js';
import { statusOf } from '../errors.js';
import { PageForm, TokenQuery } from '../schemas/account.js';
import { confirmForm, message, page } from './views.js';

const FORM_LIMIT_BYTES = 16 * 1024;
const EXPIRED = 'This link is invalid, used or expired. Ask for a new one.';

interface Flow {
  /** Under `/user`, as in services/account/account-mail.ts CONFIRM_PAGES. */
  path: string;
  title: string;
  intro: string;
  button: string;
  newPassword?: boolean;
  done: string;
  /** The same service call as the API route: one behaviour, two doors. */
  spend(token: string, password: string, client: ReturnType<typeof clientInfo>): Promise<unknown>;
}

/**
 * The pages mailed links open (not part of the API document: they are for people). GET shows a button;
 * POST, sent by that button as a plain form, spends the token through the same service as the API.
 */
export const accountPages: FastifyPluginAsyncTypebox<{ appName: string }> = async (app, { appName }) => {
  const flows: Flow[] = [
    {
      path: '/reset-password/confirm',
      title: 'Choose a new password',
      intro: 'Type the new password for your account. Every device signed in to it will be signed out.',
      button: 'Set the new password',
      newPassword: true,
      done: 'Your password has been changed. Sign in with the new one.',
      spend: (token, password, client) => resetPassword(app.deps, token, password, client),
    },
    {
      path: '/verify/confirm',
      title: 'Confirm your e-mail address',
      intro: 'Press the button to confirm that this address is yours.',
      button: 'Confirm my address',
      done: 'Thank you: your e-mail address is confirmed.',
      spend: (token, _password, client) => verifyEmail(app.deps, token, client),
    },
    {
      path: '/change-email/confirm',
      title: 'Confirm your new e-mail address',
      intro: 'Press the button to move your account to this address.',
      button: 'Use this address',
      done: 'Your account now uses this e-mail address.',
      spend: (token, _password, client) => confirmEmailChange(app.deps, token, client),
    },
  ];

  const html = (reply: FastifyReply, status: number, title: string, body: string) =>
    reply.code(status).header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').send(page(appName, title, body));

  for (const flow of flows) {
    app.get(flow.path, {
      schema: { hide: true, querystring: TokenQuery },
      handler: async (request, reply) => {
        const token = request.query.token ?? '';
        if (token === '') return html(reply, 400, flow.title, message(EXPIRED));
        return html(reply, 200, flow.title, confirmForm({ ...flow, token }));
      },
    });

    app.post(flow.path, {
      schema: { hide: true, body: PageForm },
      bodyLimit: FORM_LIMIT_BYTES,
      handler: async (request, reply) => {
        const { token, password = '' } = request.body;
        try {
          await flow.spend(token, password, clientInfo(request));
          return html(reply, 200, flow.title, message(flow.done));
        } catch (error) {
          // A refused new password keeps the form (the token is not spent until a password is accepted).
          if (error instanceof InvalidInputError) {
            return html(reply, 422, flow.title, confirmForm({ ...flow, token, error: error.errors.map((e) => e.msg).join(' ') }));
          }
          if (error instanceof DomainError) {
            const text = error.code === 'INVALID_MAIL_TOKEN' ? EXPIRED : error.message;
            return html(reply, statusOf(error.code), flow.title, message(text));
          }
          throw error;
        }
      },
    });
  }
};
