import Type from 'typebox';

/**
 * The token endpoint's `otp`: 6 digits of an authenticator app (`mfa_otp`) or the 8 digits of a mailed
 * sign-in code (`email_otp`, issue 25). Either grant refuses the other's length as a wrong code.
 */
export const OtpOrMailedCode = Type.String({
  pattern: '^[0-9]{6}([0-9]{2})?$',
  description: 'the 6-digit code the authenticator app shows now (`mfa_otp`), or the 8-digit code of the sign-in mail (`email_otp`)',
  examples: ['123456', '12345678'],
});
