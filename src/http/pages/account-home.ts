import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { deleteOwnAccount, updateProfile } from '../../services/account/profile.js';
import { requestEmailChange } from '../../services/account/email-change.js';
import { requestVerifyToken } from '../../services/account/email-verification.js';
import { confirmTotpEnrolment, disableTotp, regenerateRecoveryCodes, startTotpEnrolment } from '../../services/second-factor/totp-enrolment.js';
import { hasUsablePassword, listIdentities } from '../../services/federation/linked-identities.js';
import { sessionHasSecondFactor } from '../../services/second-factor/step-up.js';
import { listAppsWithAccess, revokeAppAccess } from '../../services/provider/grants.js';
import { listPasskeys, removePasskey, renameOwnPasskey } from '../../services/second-factor/passkeys.js';
import { endSession, listSessions, logoutEverywhere } from '../../services/sessions/sessions.js';
import { changePassword } from '../../services/account/password-change.js';
import { clientInfo } from '../auth-guard.js';
import { ChangeEmailBody, UpdateProfileBody } from '../schemas/account.js';
import { UpdatePasswordBody } from '../schemas/user.js';
import { clearSessionCookie, emptyForm, refusal, render, requirePage, schemaErrors, type FormState, type PageSettings } from './page-kit.js';
import { PageBody } from './sign-in-pages.js';
import { pageStepUp } from './step-up-fields.js';

type Body = Record<string, string>;

/** What a finished change says on the account page it redirects to (post/redirect/get: a reload posts nothing again). */
const NOTICES: Record<string, string> = {
  profile: 'Your username has been changed.',
  email: 'A confirmation link is on its way to the new address; the address changes when you open it.',
  verification: 'A confirmation link is on its way to your address.',
  session: 'The session has been ended.',
  totp_disabled: 'The second factor is off: sign-ins ask for the password alone.',
  passkey_added: 'The passkey has been added.',
  passkey_renamed: 'The passkey has been renamed.',
  passkey_removed: 'The passkey has been removed.',
  app_revoked: 'The app no longer has access to your account.',
  identity_linked: 'The provider has been linked: you can sign in with it.',
  identity_unlinked: 'The provider has been unlinked.',
};

const IdParams = Type.Object({ id: Type.String({ pattern: '^[0-9a-f-]{1,64}$' }) });
const NoticeQuery = Type.Object({ notice: Type.Optional(Type.String({ maxLength: 32 })) });

/** `/account` itself and the forms on it: one service call each, the same as the API's. */
export async function accountHomePages(app: FastifyInstance, settings: PageSettings): Promise<void> {
  const form = { schema: { hide: true, body: PageBody }, bodyLimit: 16 * 1024, preHandler: requirePage } as const;
  const withId = { ...form, schema: { ...form.schema, params: IdParams } } as const;
  /** Forms that check the current password or a code: the API's password-change budgets apply. */
  const guarded = { ...form, onRequest: app.throttles.passwordPerIp, preHandler: [requirePage, app.throttles.passwordPerAccount] };
  const user = (request: FastifyRequest) => request.page!.user;
  const sessionId = (request: FastifyRequest) => request.page!.session.id;
  const body = (request: FastifyRequest) => request.body as Body;
  /** This browser's session `amr`, and a code typed in the form, for a change that needs the second factor (issue 21). */
  const stepUp = (request: FastifyRequest) => pageStepUp(request.page!.session.amr, body(request));

  async function home(request: FastifyRequest, reply: FastifyReply, state: FormState = emptyForm(), status = 200, notice?: string) {
    const { id } = user(request);
    const [sessions, passkeys, identities, apps] = await Promise.all([
      listSessions(app.deps, id, sessionId(request)),
      listPasskeys(app.deps, id),
      listIdentities(app.deps, id),
      settings.provider ? listAppsWithAccess(app.deps.db, id, app.deps.clock.now()) : [],
    ]);
    // Forms that change the second factor or add a way in ask for a code when this session did not sign in with it (issue 21).
    const stepUpNeeded = user(request).mfaEnabled && !sessionHasSecondFactor(request.page!.session.amr);
    const hasPassword = hasUsablePassword(user(request));
    return render(request, reply, settings, 'account', { sessions, passkeys, identities, apps, state, notice, stepUpNeeded, hasPassword }, status);
  }

  /** Runs a change; a refusal shows the account page again, with the error beside the field of form `name`. */
  async function change(request: FastifyRequest, reply: FastifyReply, name: string, order: string[], run: () => Promise<FastifyReply>) {
    try {
      return await run();
    } catch (error) {
      const { status, state } = refusal(error, name, body(request), order);
      return home(request, reply, { ...state, focus: state.focus ?? order[0] }, status);
    }
  }
  const done = (reply: FastifyReply, notice: string) => reply.redirect(`/account?notice=${notice}`, 303);
  /** A change that ended this browser's own session too: it signs in again. */
  const signedOut = (request: FastifyRequest, reply: FastifyReply, title: string, text: string) => {
    clearSessionCookie(reply, settings);
    request.page = null;
    return render(request, reply, settings, 'message', { title, text, signIn: true });
  };

  // '/' under the prefix: both /account and /account/.
  app.get('/', { schema: { hide: true, querystring: NoticeQuery }, preHandler: requirePage }, async (request, reply) => {
    const { notice } = request.query as { notice?: string };
    return home(request, reply, emptyForm(), 200, notice === undefined ? undefined : NOTICES[notice]);
  });

  // A rename mails a notice: on the password-change budgets, so a burst cannot flood an inbox (issue 21, finding 5).
  app.post('/profile', guarded, (request, reply) =>
    change(request, reply, 'profile', ['username'], async () => {
      const input = { username: body(request)['username'] ?? '' };
      const invalid = schemaErrors(UpdateProfileBody, input);
      if (invalid) throw invalid;
      await updateProfile(app.deps, user(request), input, clientInfo(request));
      return done(reply, 'profile');
    }),
  );

  app.post('/password', guarded, (request, reply) =>
    change(request, reply, 'password', ['current_password', 'new_password'], async () => {
      const input = { current_password: body(request)['current_password'] ?? '', new_password: body(request)['new_password'] ?? '' };
      const invalid = schemaErrors(UpdatePasswordBody, input);
      if (invalid) throw invalid;
      await changePassword(app.deps, user(request), { currentPassword: input.current_password, newPassword: input.new_password }, clientInfo(request));
      return signedOut(request, reply, 'Password changed', 'Your password has been changed and every device was signed out. Sign in with the new one.');
    }),
  );

  app.post('/email', guarded, (request, reply) =>
    change(request, reply, 'email', ['new_email', 'current_password'], async () => {
      const input = { new_email: body(request)['new_email'] ?? '', current_password: body(request)['current_password'] ?? '' };
      const invalid = schemaErrors(ChangeEmailBody, input);
      if (invalid) throw invalid;
      await requestEmailChange(app.deps, user(request), { newEmail: input.new_email, currentPassword: input.current_password }, clientInfo(request));
      return done(reply, 'email');
    }),
  );

  app.post('/verify/request', form, async (request, reply) => {
    requestVerifyToken(app.deps, user(request).email, clientInfo(request));
    return done(reply, 'verification');
  });

  app.post('/sessions/:id/end', withId, async (request, reply) => {
    const { id } = request.params as { id: string };
    await endSession(app.deps, user(request).id, id, clientInfo(request), id === sessionId(request) ? 'logout' : 'session_revoked');
    if (id === sessionId(request)) return signedOut(request, reply, 'Signed out', 'This browser is signed out.');
    return done(reply, 'session');
  });

  app.post('/sessions/end-all', form, async (request, reply) => {
    await logoutEverywhere(app.deps, user(request).id, clientInfo(request));
    return signedOut(request, reply, 'Signed out everywhere', 'Every session of your account has ended, this one too.');
  });

  app.post('/totp', guarded, (request, reply) =>
    change(request, reply, 'totp', ['current_password'], async () => {
      const enrolment = await startTotpEnrolment(app.deps, user(request), body(request)['current_password'] ?? '', clientInfo(request));
      return render(request, reply, settings, 'totp-enrol', { enrolment, state: { ...emptyForm(), focus: 'otp' } });
    }),
  );

  app.post('/totp/confirm', guarded, async (request, reply) => {
    try {
      const { recovery_codes: codes } = await confirmTotpEnrolment(app.deps, user(request), body(request)['otp'] ?? '', clientInfo(request), sessionId(request));
      return render(request, reply, settings, 'recovery-codes', { codes, enabled: true });
    } catch (error) {
      // The secret is not shown again (it was on the previous page): a wrong code means starting over.
      const { status, state } = refusal(error, 'totp', body(request), ['current_password']);
      return home(request, reply, { ...state, alert: `${state.alert ?? Object.values(state.errors)[0]}: set up the second factor again.`, errors: {}, focus: 'current_password' }, status);
    }
  });

  app.post('/totp/recovery-codes', guarded, (request, reply) =>
    change(request, reply, 'codes', ['current_password'], async () => {
      const { recovery_codes: codes } = await regenerateRecoveryCodes(app.deps, user(request), body(request)['current_password'] ?? '', clientInfo(request), stepUp(request));
      return render(request, reply, settings, 'recovery-codes', { codes, enabled: false });
    }),
  );

  app.post('/totp/disable', guarded, (request, reply) =>
    change(request, reply, 'totp_disable', ['current_password', 'otp'], async () => {
      const fields = body(request);
      const proof = fields['recovery_code'] ? { recoveryCode: fields['recovery_code'] } : { otp: fields['otp'] ?? '' };
      await disableTotp(app.deps, user(request), { currentPassword: fields['current_password'] ?? '', proof }, clientInfo(request));
      return done(reply, 'totp_disabled');
    }),
  );

  if (settings.provider) {
    const AppParams = Type.Object({ clientId: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }) });
    // Taking an app's access back ends its grant and every token it holds at once (issue 23).
    app.post('/apps/:clientId/revoke', { ...form, schema: { ...form.schema, params: AppParams } }, async (request, reply) => {
      const { clientId } = request.params as { clientId: string };
      if (!(await revokeAppAccess(app.deps.db, user(request).id, clientId))) return home(request, reply, emptyForm(), 404);
      return done(reply, 'app_revoked');
    });
  }

  app.post('/passkeys/:id/name', withId, (request, reply) =>
    change(request, reply, `passkey_${(request.params as { id: string }).id}`, ['name'], async () => {
      await renameOwnPasskey(app.deps, user(request), Number((request.params as { id: string }).id), body(request)['name'] ?? '');
      return done(reply, 'passkey_renamed');
    }),
  );

  app.post('/passkeys/:id/delete', { ...withId, onRequest: guarded.onRequest, preHandler: guarded.preHandler }, (request, reply) =>
    change(request, reply, `passkey_delete_${(request.params as { id: string }).id}`, ['current_password', 'otp'], async () => {
      const reauth = { currentPassword: body(request)['current_password'] ?? '', stepUp: stepUp(request) };
      await removePasskey(app.deps, user(request), Number((request.params as { id: string }).id), reauth, clientInfo(request));
      return done(reply, 'passkey_removed');
    }),
  );

  app.post('/delete', guarded, (request, reply) =>
    change(request, reply, 'delete', ['current_password'], async () => {
      await deleteOwnAccount(app.deps, user(request), body(request)['current_password'] ?? '', clientInfo(request));
      clearSessionCookie(reply, settings);
      request.page = null;
      return render(request, reply, settings, 'message', { title: 'Account deleted', text: 'Your account and everything it held have been deleted.' });
    }),
  );
}
