import Type from 'typebox';
import { Email, NewPassword, PresentedSecret, Username } from './common.js';

/**
 * A mailed token as presented. Any shape up to 512 characters is accepted here, so that a malformed token
 * gets the same 400 as an unknown, spent or expired one.
 */
export const MailToken = Type.String({ maxLength: 512, description: 'The token from the mail (also in its link)' });

export const EmailBody = Type.Object({ email: Email });
export const ResetPasswordBody = Type.Object({ token: MailToken, password: NewPassword });
export const TokenBody = Type.Object({ token: MailToken });
export const ChangeEmailBody = Type.Object({ new_email: Email, current_password: PresentedSecret });
export const UpdateProfileBody = Type.Object({ username: Type.Optional(Username) });
export const DeleteAccountBody = Type.Object({ current_password: PresentedSecret });

/** The links' pages: `?token=` (absent or odd values still get the page; the POST decides). */
export const TokenQuery = Type.Object({ token: Type.Optional(Type.String({ maxLength: 512 })) });
/** The pages' forms, checked by the service (a browser must get a page back, not a 422 in JSON). */
export const PageForm = Type.Object({
  token: Type.String({ maxLength: 512 }),
  password: Type.Optional(Type.String({ maxLength: 1024 })),
});
