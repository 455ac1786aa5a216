// Sign-in: the token endpoint's grants (password, refresh, the second step's), the login session they open,
// the lockout that budgets every guess, re-authentication before sensitive changes, and hash upgrades at login.
import { DomainError, InvalidInputError } from '../../errors.js';
import type { ClientInfo, ServiceDeps } from '../deps.js';
import { assertMaySignIn, openLoginSession, type LoginTokens } from './login-session.js';
import { loginWithSecondFactor, requireSecondFactor } from '../second-factor/second-step.js';
import { refreshTokens } from '../sessions/token-pairs.js';
import { passwordWeakness } from '../account/password-policy.js';
import { authenticate } from './password-check.js';
import { loginWithEmailCode } from '../passwordless/sign-in.js';

export interface TokenRequest {
  grant_type?: string;
  username?: string;
  password?: string;
  refresh_token?: string;
  mfa_token?: string;
  otp?: string;
  recovery_code?: string;
  /** Passwordless (issue 25): the address of `email_otp`; Auth0's grant names it `username`, with `realm=email`. */
  email?: string;
  realm?: string;
}

function required<K extends keyof TokenRequest>(request: TokenRequest, fields: K[]): void {
  const missing = fields.filter((f) => request[f] === undefined);
  if (missing.length > 0) {
    throw new InvalidInputError(missing.map((f) => ({ loc: ['body', f], msg: 'Field required', type: 'missing' })));
  }
}

/** A password login: checks the credentials, opens a session and issues its first tokens. */
export async function loginWithPassword(deps: ServiceDeps, login: string, password: string, client: ClientInfo): Promise<LoginTokens> {
  const user = await authenticate(deps, login, password, client);
  await assertMaySignIn(deps, user, client);
  const weakness = passwordWeakness(deps, password, user);
  await requireSecondFactor(deps, user, weakness, client);
  return openLoginSession(deps, user, { amr: ['pwd'], weakness }, client);
}

/** Auth0's names for the second step of a login, so clients written for its MFA API work unchanged. */
const AUTH0_MFA_OTP = 'http://auth0.com/oauth/grant-type/mfa-otp';
const AUTH0_MFA_RECOVERY_CODE = 'http://auth0.com/oauth/grant-type/mfa-recovery-code';
/** Auth0's passwordless grant, for clients written for it (issue 25): `username`, `otp`, `realm=email`. */
const AUTH0_PASSWORDLESS_OTP = 'http://auth0.com/oauth/grant-type/passwordless/otp';

/**
 * The token endpoint's grants. `grant_type` may be omitted or empty (the Python service's clients never
 * needed it) and then means `password`.
 * @see RFC 6749 §4.3 (password), §6 (refresh_token), §5.2 (unsupported_grant_type); issue 14 (mfa_otp, mfa_recovery_code)
 */
export async function exchangeGrant(deps: ServiceDeps, request: TokenRequest, client: ClientInfo): Promise<LoginTokens> {
  // An empty field counts as absent, as FastAPI reads forms: its clients often send `grant_type=`.
  switch (request.grant_type || 'password') {
    case 'password':
      required(request, ['username', 'password']);
      return loginWithPassword(deps, request.username!, request.password!, client);
    case 'refresh_token':
      required(request, ['refresh_token']);
      return refreshTokens(deps, request.refresh_token!, client);
    case 'mfa_otp':
    case AUTH0_MFA_OTP:
      required(request, ['mfa_token', 'otp']);
      return loginWithSecondFactor(deps, request.mfa_token!, { otp: request.otp! }, client);
    case 'mfa_recovery_code':
    case AUTH0_MFA_RECOVERY_CODE:
      required(request, ['mfa_token', 'recovery_code']);
      return loginWithSecondFactor(deps, request.mfa_token!, { recoveryCode: request.recovery_code! }, client);
    case 'email_otp':
      required(request, ['email', 'otp']);
      return loginWithEmailCode(deps, request.email!, request.otp!, client);
    case AUTH0_PASSWORDLESS_OTP:
      required(request, ['username', 'otp', 'realm']);
      if (request.realm !== 'email') throw new InvalidInputError([{ loc: ['body', 'realm'], msg: "Only 'email' is supported", type: 'value_error' }]);
      return loginWithEmailCode(deps, request.username!, request.otp!, client);
    default:
      throw new DomainError('UNSUPPORTED_GRANT_TYPE');
  }
}
