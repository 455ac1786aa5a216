import Type from 'typebox';
import { Email, Login, NewPassword, OAuthParameter, OpaqueToken, PresentedSecret, Username } from './common.js';
import { RecoveryCode } from './mfa.js';
import { OtpOrMailedCode } from './passwordless.js';

export const PublicUser = Type.Object({
  username: Type.String(),
  email: Type.String(),
  id: Type.Integer(),
  email_verified: Type.Boolean({ description: 'Whether the owner of the address confirmed it (a mailed link)' }),
});

/** `GET /user/user`: the public fields and the account's security settings. */
export const Profile = Type.Object({
  ...PublicUser.properties,
  mfa_enabled: Type.Boolean({ description: 'Logins ask for a second factor (TOTP)' }),
});

export const RegisterBody = Type.Object({ username: Username, email: Email, password: NewPassword });

/** OAuth2 token request (RFC 6749 §4.3 and §6): which fields are required depends on `grant_type`. */
export const TokenBody = Type.Object({
  grant_type: Type.Optional(
    OAuthParameter(
      64,
      '`password` (the default, also when empty), `refresh_token`, or the second step of a login with a second factor: ' +
        '`mfa_otp` (with `mfa_token`, `otp`) or `mfa_recovery_code` (with `mfa_token`, `recovery_code`); Auth0\'s names ' +
        '`http://auth0.com/oauth/grant-type/mfa-otp` and `http://auth0.com/oauth/grant-type/mfa-recovery-code` work too; ' +
        '`email_otp` (with `email`, `otp`: the 8-digit code mailed by `POST /user/passwordless/start`), or Auth0\'s ' +
        '`http://auth0.com/oauth/grant-type/passwordless/otp` (with `username`, `otp`, `realm=email`)',
    ),
  ),
  username: Type.Optional(Login),
  password: Type.Optional(PresentedSecret),
  refresh_token: Type.Optional(OpaqueToken),
  mfa_token: Type.Optional({ ...OpaqueToken, description: 'From the `403 mfa_required` answer to the password grant' }),
  otp: Type.Optional(OtpOrMailedCode),
  // Not checked as an address here: a malformed one simply has no code (401), and a client of another grant
  // that happens to send an `email` field is not refused for it.
  email: Type.Optional({ ...Login, description: 'The address a sign-in code was mailed to (`email_otp`)' }),
  realm: Type.Optional(OAuthParameter(16, '`email`, with Auth0\'s passwordless grant')),
  recovery_code: Type.Optional(RecoveryCode),
  scope: Type.Optional(OAuthParameter(1024, 'Ignored for now')),
  client_id: Type.Optional(OAuthParameter(256)),
  client_secret: Type.Optional(OAuthParameter(256)),
});

export const RefreshBody = Type.Object({ refresh_token: OpaqueToken });

export const TokenResponse = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('bearer'),
  expires_in: Type.Integer({ description: 'Seconds until the access token expires' }),
  refresh_token: Type.String({ description: 'Opaque, single use: each refresh returns a new one' }),
});

export const LoginTokenResponse = Type.Object({
  ...TokenResponse.properties,
  weak_password: Type.Optional(
    Type.Object(
      { msg: Type.String(), type: Type.String({ examples: ['password_breached'] }) },
      {
        description:
          'Only when the password just used breaks the current rules (e.g. it has become a known breached password, ' +
          'or is shorter than PASSWORD_MIN_LENGTH): the login succeeded; ask the user for a new password.',
      },
    ),
  ),
});

export const UpdatePasswordBody = Type.Object({ current_password: PresentedSecret, new_password: NewPassword });
