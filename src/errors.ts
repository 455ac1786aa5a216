/**
 * The catalogue of domain error codes and their public messages. Services throw `DomainError(code)`;
 * `http/plugins/errors.ts` alone decides the HTTP status. Branch on `code`, never on `message`.
 */
export const ERROR_MESSAGES = {
  USER_ALREADY_EXISTS: 'User already exists',
  INVALID_CREDENTIALS: 'Incorrect username or password',
  INVALID_TOKEN: 'Could not validate credentials',
  USER_NOT_FOUND: 'User not found',
  INVALID_REFRESH_TOKEN: 'Invalid refresh token',
  INCORRECT_PASSWORD: 'Incorrect password',
  UNSUPPORTED_GRANT_TYPE: 'Unsupported grant type',
  SESSION_NOT_FOUND: 'Session not found',
  INVALID_CLIENT: 'Invalid client credentials',
  INTROSPECTION_DISABLED: 'Introspection is disabled: set INTROSPECTION_SECRET to enable it',
  MISSING_TOKEN: 'The token parameter is required',
  TOO_MANY_LOGIN_ATTEMPTS: 'Too many login attempts; try again later',
  TOO_MANY_PASSWORD_ATTEMPTS: 'Too many incorrect passwords; try again later',
  RATE_LIMITED: 'Too many requests; try again later',
  SERVICE_BUSY: 'The service is busy; try again shortly',
  MFA_REQUIRED: 'Multi-factor authentication required',
  INVALID_MFA_TOKEN: 'Invalid or expired mfa_token',
  INVALID_OTP: 'Invalid or already used one-time code or recovery code',
  INCORRECT_CODE: 'Incorrect or already used code',
  TOO_MANY_CODE_ATTEMPTS: 'Too many incorrect codes; try again later',
  MFA_ALREADY_ENABLED: 'Second factor is already enabled; disable it first to enrol another',
  MFA_NOT_ENABLED: 'Second factor is not enabled',
  MFA_NOT_PENDING: 'No second factor enrolment to confirm: start one with POST /user/mfa/totp',
  INVALID_MAIL_TOKEN: 'Invalid or expired token',
  EMAIL_NOT_VERIFIED: 'Email not verified',
  ACCOUNT_DISABLED: 'Account disabled',
  ADMIN_ROLE_REQUIRED: 'The admin role is required',
  LAST_ADMIN: 'This would leave no active admin: make another admin first',
  DATABASE_UNAVAILABLE: 'The database is unavailable; try again shortly',
  PASSKEY_REJECTED: 'The passkey could not be verified; try again',
  PASSKEY_NOT_FOUND: 'Passkey not found',
  OIDC_PROVIDER_NOT_FOUND: 'No such sign-in provider',
  OIDC_PROVIDER_UNAVAILABLE: 'This sign-in provider cannot be reached right now; try again shortly',
  OIDC_SIGN_IN_FAILED: 'The sign-in with the provider did not succeed; start again',
  OIDC_LINK_REQUIRED: 'An account with this e-mail address already exists: sign in to it, then link this provider from your account page',
  OIDC_EMAIL_NOT_VERIFIED: 'The provider has not confirmed an e-mail address for you: confirm it there, or create an account here and link the provider from your account page',
  OIDC_IDENTITY_IN_USE: 'This identity is already linked to another account',
  OIDC_IDENTITY_NOT_FOUND: 'Linked identity not found',
  INVALID_SIGN_IN_CODE: 'Invalid, used or expired sign-in code',
  LAST_SIGN_IN_METHOD: 'This is the last way to sign in to the account: set a password or link another provider first',
  SECOND_FACTOR_PROOF_REQUIRED: 'The second factor is on: give a current code of your authenticator app (otp) or one of your recovery codes (recovery_code)',
  EMAIL_VERIFICATION_REQUIRED: 'Confirm your e-mail address first: a passkey or another sign-in provider can be added only to an account whose address is confirmed',
  REAUTHENTICATION_REQUIRED: 'Confirm it is you first: give your current password, or a code of your authenticator app',
  CLIENT_NOT_FOUND: 'Client not found',
  PUBLIC_CLIENT_HAS_NO_SECRET: 'A public client has no secret to rotate',
} as const;

export type ErrorCode = keyof typeof ERROR_MESSAGES;

export class DomainError extends Error {
  readonly code: ErrorCode;
  /** For throttling errors: when the client may try again. */
  readonly retryAfterSeconds: number | undefined;
  constructor(code: ErrorCode, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(ERROR_MESSAGES[code], options);
    this.name = 'DomainError';
    this.code = code;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

/**
 * The password of a login was right and the account has a second factor: the login goes on at the token
 * endpoint with this `mfa_token` and a code (issue 14; the shape of Auth0's MFA API).
 */
export class MfaRequiredError extends DomainError {
  readonly mfaToken: string;
  constructor(mfaToken: string) {
    super('MFA_REQUIRED');
    this.name = 'MfaRequiredError';
    this.mfaToken = mfaToken;
  }
}

/** One field that failed validation, in FastAPI's `{"loc","msg","type"}` shape. */
export interface FieldError {
  loc: (string | number)[];
  msg: string;
  type: string;
}

/** Input that passed the schema but broke a rule the schema cannot express (answered 422). */
export class InvalidInputError extends Error {
  readonly errors: FieldError[];
  constructor(errors: FieldError[]) {
    super(errors.map((e) => e.msg).join('; '));
    this.name = 'InvalidInputError';
    this.errors = errors;
  }
}

/**
 * A problem only the operator can fix (the database cannot be reached, the data directory is in use, rows a
 * migration cannot accept...). Its message says what and how to fix it; the CLI prints it alone and exits 1.
 */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}

/** The database holds rows that a migration cannot accept; nothing was changed. */
export class MigrationConflictError extends StartupError {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationConflictError';
  }
}
