import Type from 'typebox';
import { PASSWORD_MAX_CHARACTERS } from '../../services/account/password-policy.js';

/**
 * No control characters, C0 (NUL included), DEL or C1: they have no place in names, e-mails or passwords.
 * No lone UTF-16 surrogates either (Ajv matches patterns per code point, so pairs pass): they are not text,
 * they would be stored as U+FFFD, and PostgreSQL refuses their JSON escapes in the audit log's details.
 */
const NO_CONTROL_CHARS = '^[^\\u0000-\\u001F\\u007F-\\u009F\\uD800-\\uDFFF]*$';

/** Printable ASCII, as RFC 6749 allows in `grant_type`, `scope`, `client_id` and `client_secret` (§A). */
const PRINTABLE_ASCII = '^[\\x20-\\x7E]*$';

/** What a 422 says when one of the shared character rules above is broken. */
export const PATTERN_MESSAGES: Readonly<Record<string, string>> = {
  [NO_CONTROL_CHARS]: 'String should not contain control characters',
  [PRINTABLE_ASCII]: 'String should contain only printable ASCII characters',
};

/** An optional OAuth 2.0 parameter; empty means absent, as in a form FastAPI reads. */
export const OAuthParameter = (maxLength: number, description?: string) =>
  Type.String({ maxLength, pattern: PRINTABLE_ASCII, ...(description && { description }) });

export const Username = Type.String({
  minLength: 3,
  maxLength: 32,
  pattern: '^[A-Za-z0-9_.-]+$',
  description: "3–32 letters, digits, '_', '.' or '-'",
  examples: ['testuser'],
});

export const Email = Type.String({ format: 'email', maxLength: 254, examples: ['test@example.com'] });

/**
 * The floor and ceiling every deployment shares; services/account/password-policy.ts applies the rest (PASSWORD_MIN_LENGTH,
 * the blocklist) to the NFKC form.
 */
export const NewPassword = Type.String({
  minLength: 8,
  maxLength: PASSWORD_MAX_CHARACTERS,
  pattern: NO_CONTROL_CHARS,
  description:
    `At least 8 characters (PASSWORD_MIN_LENGTH), at most ${PASSWORD_MAX_CHARACTERS}, in any script. ` +
    'Not the username or e-mail, not a common or breached password.',
});

/** A secret presented for checking: lenient length (existing users), still bounded and printable. */
export const PresentedSecret = Type.String({ minLength: 1, maxLength: 1024, pattern: NO_CONTROL_CHARS });

/** A username or an e-mail, as typed at login. */
export const Login = Type.String({ minLength: 1, maxLength: 254, pattern: NO_CONTROL_CHARS, description: 'A username or an e-mail address' });

export const OpaqueToken = Type.String({ minLength: 1, maxLength: 512, pattern: '^[\\x21-\\x7E]+$' });

export const Detail = Type.Object({ detail: Type.String() }, { additionalProperties: true });

export const ValidationErrorBody = Type.Object({
  detail: Type.Array(
    Type.Object({
      loc: Type.Array(Type.Union([Type.String(), Type.Integer()])),
      msg: Type.String(),
      type: Type.String(),
    }),
  ),
});

export const OAuthErrorBody = Type.Object({
  detail: Type.String(),
  error: Type.String({ description: 'RFC 6749 §5.2 error code' }),
  error_description: Type.Optional(Type.String()),
});
