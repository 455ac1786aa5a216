import Type from 'typebox';
import { PresentedSecret } from './common.js';

/** Six digits, as the authenticator app shows them (without the space some apps put in the middle). */
export const Otp = Type.String({ pattern: '^[0-9]{6}$', description: 'the 6-digit code the authenticator app shows now', examples: ['123456'] });

/** As printed; letter case, hyphens and spaces do not matter. */
export const RecoveryCode = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[\\x20-\\x7E]*$',
  description: 'one of the recovery codes, e.g. `7k2q-m9xd-4hfp`; each works once',
});

export const CurrentPasswordBody = Type.Object({ current_password: PresentedSecret });

/**
 * The password, and — while the second factor is on and the session did not sign in with it — a code of
 * the app or a recovery code (issue 21).
 */
export const RecoveryCodesBody = Type.Object({
  current_password: PresentedSecret,
  otp: Type.Optional(Otp),
  recovery_code: Type.Optional(RecoveryCode),
});

export const TotpEnrolmentResponse = Type.Object({
  secret: Type.String({ description: 'The new secret (160 bits, base32), for typing into an app by hand' }),
  otpauth_uri: Type.String({ description: 'otpauth://totp/… (Key URI Format), what the QR code holds' }),
  qr: Type.String({ description: 'The otpauth URI as a QR code: an SVG `data:image/svg+xml;base64,…` URL, drawn by this service' }),
});

export const ConfirmTotpBody = Type.Object({ otp: Otp });

export const RecoveryCodesResponse = Type.Object({
  recovery_codes: Type.Array(Type.String(), {
    minItems: 10,
    maxItems: 10,
    description: 'Shown this once (only hashes are kept); each logs in once in place of a code, with grant_type=mfa_recovery_code',
  }),
});

/** Both the password and a proof of the second factor: a code of the app, or a recovery code. */
export const DisableTotpBody = Type.Object({
  current_password: PresentedSecret,
  otp: Type.Optional(Otp),
  recovery_code: Type.Optional(RecoveryCode),
});

/** `POST /user/token` for an account with a second factor: the password was right; the login goes on. */
export const MfaRequiredBody = Type.Object(
  {
    detail: Type.String(),
    error: Type.Literal('mfa_required'),
    error_description: Type.String(),
    mfa_token: Type.String({ description: 'Single use, valid 5 minutes: send it back with grant_type=mfa_otp or mfa_recovery_code' }),
  },
  { description: 'The password was right and the account has a second factor (no token is issued yet)' },
);

/**
 * The token endpoint's 403: the second factor is asked for (issue 14), or, with REQUIRE_VERIFIED_EMAIL,
 * the address is not verified yet (issue 11). One schema each made the other's body fail to serialise (500).
 */
export const TokenForbiddenBody = Type.Union([MfaRequiredBody, Type.Object({ detail: Type.String() })]);
