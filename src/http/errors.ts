import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { DomainError, type ErrorCode, type FieldError, InvalidInputError, MfaRequiredError } from '../errors.js';
import { isDatabaseUnavailable } from '../db/unavailable.js';
import { PATTERN_MESSAGES } from './schemas/common.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route is an OAuth 2.0 endpoint: its 4xx bodies carry RFC 6749 `error`, and its response schemas
     * require it — so a body Fastify itself refuses (malformed JSON, a `__proto__` key) must carry it too,
     * or the refusal cannot be serialised and turns into a 500.
     * @see RFC 6749 §5.2
     */
    oauthErrors?: boolean;
    /**
     * A body that fails validation is RFC 6749 §5.2's `400 invalid_request`, not FastAPI's 422. For the
     * endpoints only RFCs define; the seed's token endpoints keep the 422 their clients know.
     */
    invalidBodyIs400?: boolean;
  }
}

interface Mapping {
  status: number;
  /** RFC 6749 §5.2 `error`, for failures of the token endpoints. */
  oauthError?: string;
  /** RFC 6750 §3: challenge sent with 401s of bearer-protected resources. */
  challenge?: string;
}

const BY_CODE: Record<ErrorCode, Mapping> = {
  USER_ALREADY_EXISTS: { status: 409 },
  INVALID_CREDENTIALS: { status: 401, oauthError: 'invalid_grant', challenge: 'Bearer' },
  INVALID_TOKEN: { status: 401, challenge: 'Bearer error="invalid_token"' },
  USER_NOT_FOUND: { status: 404 },
  INVALID_REFRESH_TOKEN: { status: 401, oauthError: 'invalid_grant', challenge: 'Bearer' },
  INCORRECT_PASSWORD: { status: 400 },
  UNSUPPORTED_GRANT_TYPE: { status: 400, oauthError: 'unsupported_grant_type' },
  SESSION_NOT_FOUND: { status: 404 },
  INVALID_CLIENT: { status: 401, oauthError: 'invalid_client', challenge: 'Basic realm="introspection"' },
  INTROSPECTION_DISABLED: { status: 401, oauthError: 'invalid_client', challenge: 'Basic realm="introspection"' },
  MISSING_TOKEN: { status: 400, oauthError: 'invalid_request' },
  TOO_MANY_LOGIN_ATTEMPTS: { status: 429 },
  TOO_MANY_PASSWORD_ATTEMPTS: { status: 429 },
  RATE_LIMITED: { status: 429 },
  /** Too many password hashes already queued (crypto/hash-queue.ts); Retry-After says when to come back. */
  SERVICE_BUSY: { status: 503 },
  /** Not a failure: the body carries the `mfa_token` that continues the login (see MfaRequiredError). */
  MFA_REQUIRED: { status: 403, oauthError: 'mfa_required' },
  INVALID_MFA_TOKEN: { status: 401, oauthError: 'invalid_grant', challenge: 'Bearer' },
  INVALID_OTP: { status: 401, oauthError: 'invalid_grant', challenge: 'Bearer' },
  /** A wrong code where the caller is already signed in: 400, like a wrong current password (401 would end the client's session). */
  INCORRECT_CODE: { status: 400 },
  TOO_MANY_CODE_ATTEMPTS: { status: 429 },
  MFA_ALREADY_ENABLED: { status: 409 },
  MFA_NOT_ENABLED: { status: 409 },
  MFA_NOT_PENDING: { status: 409 },
  /** A mailed token that is unknown, spent, expired, malformed or of another purpose: one answer for all. */
  INVALID_MAIL_TOKEN: { status: 400 },
  /** Only after the password was right (REQUIRE_VERIFIED_EMAIL), so it tells a guesser nothing. */
  EMAIL_NOT_VERIFIED: { status: 403 },
  /** A disabled or banned account gave its right password (a wrong one is the plain 401). */
  ACCOUNT_DISABLED: { status: 403 },
  ADMIN_ROLE_REQUIRED: { status: 403 },
  LAST_ADMIN: { status: 409 },
  /** The database is down or unreachable (db/unavailable.ts): the request may succeed once it is back. */
  DATABASE_UNAVAILABLE: { status: 503 },
  /** A WebAuthn answer that does not verify, or whose challenge is unknown, spent or expired (issue 15). */
  PASSKEY_REJECTED: { status: 400 },
  PASSKEY_NOT_FOUND: { status: 404 },
  OIDC_PROVIDER_NOT_FOUND: { status: 404 },
  /** Not discovered yet (down at start-up): Retry-After says when the next attempt is due (issue 17). */
  OIDC_PROVIDER_UNAVAILABLE: { status: 503 },
  /** A state not of this browser, a spent or replayed code, an ID token that does not verify: one answer. */
  OIDC_SIGN_IN_FAILED: { status: 400 },
  OIDC_LINK_REQUIRED: { status: 409 },
  /** No account is made on an address the provider has not verified (it would hold someone else's address). */
  OIDC_EMAIL_NOT_VERIFIED: { status: 403 },
  OIDC_IDENTITY_IN_USE: { status: 409 },
  OIDC_IDENTITY_NOT_FOUND: { status: 404 },
  CLIENT_NOT_FOUND: { status: 404 },
  PUBLIC_CLIENT_HAS_NO_SECRET: { status: 409 },
  LAST_SIGN_IN_METHOD: { status: 409 },
  /** A mailed sign-in code (or the code shown on the asking screen) that is wrong, spent, expired or dead (issue 25). */
  INVALID_SIGN_IN_CODE: { status: 401, oauthError: 'invalid_grant', challenge: 'Bearer' },
  /** Issue 21: a change to the second factor, or a new way in, while the factor is on and this session did not prove it. */
  SECOND_FACTOR_PROOF_REQUIRED: { status: 403 },
  /** Issue 21: no passkey or linked identity on an address nobody has proved (pre-account hijacking). */
  EMAIL_VERIFICATION_REQUIRED: { status: 403 },
  /** Issue 21: linking a provider asks who you are first (password, second factor, or a sign-in just now). */
  REAUTHENTICATION_REQUIRED: { status: 403 },
};

/** What a client does with an `mfa_required` answer, in RFC 6749's `error_description`. */
export const MFA_REQUIRED_DESCRIPTION =
  'Send mfa_token to this endpoint within 5 minutes with a code of the authenticator app (grant_type=mfa_otp, otp) ' +
  'or a recovery code (grant_type=mfa_recovery_code, recovery_code)';

/** The HTTP status of a domain error, for the HTML pages that render their own bodies. */
export function statusOf(code: ErrorCode): number {
  return BY_CODE[code].status;
}

/** FastAPI-style `{loc, msg, type}` from one Ajv error. */
function toFieldError(context: string, error: NonNullable<FastifyError['validation']>[number]): FieldError {
  const path = error.instancePath.split('/').filter(Boolean);
  const params = error.params as Record<string, unknown>;
  const loc = [context, ...path];
  switch (error.keyword) {
    case 'required':
      return { loc: [...loc, String(params['missingProperty'])], msg: 'Field required', type: 'missing' };
    case 'minLength':
      return { loc, msg: `String should have at least ${params['limit']} characters`, type: 'string_too_short' };
    case 'maxLength':
      return { loc, msg: `String should have at most ${params['limit']} characters`, type: 'string_too_long' };
    case 'format':
      return { loc, msg: `Value is not a valid ${params['format']}`, type: 'value_error' };
    case 'pattern': {
      // The shared character rules have their own words; otherwise the field's description is the rule.
      const shared = PATTERN_MESSAGES[String(params['pattern'])];
      if (shared) return { loc, msg: shared, type: 'string_pattern_mismatch' };
      const described = (error as { parentSchema?: { description?: string } }).parentSchema?.description;
      return { loc, msg: described ? `String should be ${described}` : 'String contains characters that are not allowed', type: 'string_pattern_mismatch' };
    }
    case 'not':
      // `additionalProperties: Type.Never()` (`not: {}`): pydantic's words for a field the model forbids.
      return { loc, msg: 'Extra inputs are not permitted', type: 'extra_forbidden' };
    case 'type':
      if (path.length === 0) return { loc, msg: 'Input should be a valid object', type: 'model_attributes_type' };
      return { loc, msg: `Input should be a valid ${params['type']}`, type: `${params['type']}_type` };
    default:
      return { loc, msg: error.message ?? 'Invalid value', type: 'value_error' };
  }
}

/**
 * How long a client is asked to wait while the database is down: a restart or fail-over of PostgreSQL
 * takes seconds, and the pool reconnects on the next request once it is back.
 */
const DATABASE_RETRY_AFTER_SECONDS = 5;

/**
 * One warning every ten seconds while the database is unreachable, with how many requests it failed since
 * the last: during an outage every request fails, and a line each would flood the log.
 */
function databaseOutageReporter(app: FastifyInstance): (error: Error) => void {
  let lastWarning = -Infinity;
  let unreported = 0;
  return (error) => {
    unreported++;
    const now = Date.now();
    if (now - lastWarning < 10_000) return;
    lastWarning = now;
    app.log.warn({ err: error, requests: unreported }, 'database unavailable: requests answered 503');
    unreported = 0;
  };
}

function sendDomainError(reply: FastifyReply, error: DomainError) {
  const mapping = BY_CODE[error.code];
  if (mapping.challenge) reply.header('www-authenticate', mapping.challenge);
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
  const body: Record<string, string> = { detail: error.message };
  if (mapping.oauthError) body['error'] = mapping.oauthError;
  if (error instanceof MfaRequiredError) Object.assign(body, { error_description: MFA_REQUIRED_DESCRIPTION, mfa_token: error.mfaToken });
  return reply.code(mapping.status).send(body);
}

function sendValidation(reply: FastifyReply, errors: FieldError[]) {
  return reply.code(422).send({ detail: errors });
}

/**
 * The one place that turns errors into HTTP. Bodies keep FastAPI's shape; a 5xx never carries the cause.
 */
export function registerErrorHandling(app: FastifyInstance): void {
  const reportOutage = databaseOutageReporter(app);
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof DomainError) return sendDomainError(reply, error);
    if (isDatabaseUnavailable(error)) {
      reportOutage(error);
      return sendDomainError(reply, new DomainError('DATABASE_UNAVAILABLE', { cause: error, retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS }));
    }
    if (error instanceof InvalidInputError) return sendValidation(reply, error.errors);
    if (error.validation) {
      const context = error.validationContext ?? 'body';
      const errors = error.validation.map((e) => toFieldError(context, e));
      if (request.routeOptions.config.invalidBodyIs400) {
        const detail = errors.map((e) => `${e.loc.join('.')}: ${e.msg}`).join('; ');
        return reply.code(400).send({ detail, error: 'invalid_request' });
      }
      return sendValidation(reply, errors);
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const body: Record<string, string> = { detail: clientErrorDetail(error) };
      if (request.routeOptions.config.oauthErrors) body['error'] = 'invalid_request';
      return reply.code(status).send(body);
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send({ detail: 'Internal Server Error' });
  });

  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ detail: 'Not Found' }));
}

/** Fastify's own 4xx messages are safe but sometimes name internals; give fixed texts for the common ones. */
function clientErrorDetail(error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'Request body is too large';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'Unsupported media type';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'Body cannot be empty when content-type is set to application/json';
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return 'Malformed JSON body';
    default:
      // JSON.parse messages quote the input back; everything else Fastify raises as 4xx is fixed text.
      return error instanceof SyntaxError ? 'Malformed JSON body' : error.message || 'Bad Request';
  }
}
