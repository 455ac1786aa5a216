import type { ReceivedMail } from './smtp.js';

/** The 8-digit code of a sign-in mail (issue 25), from its text part. */
export function codeIn(mail: ReceivedMail): string {
  const match = /Your sign-in code: (\d{8})/.exec(mail.decoded);
  if (!match) throw new Error(`no sign-in code in "${mail.subject}"`);
  return match[1]!;
}

/** The newest sign-in mail to `address` (registration's verification mail may arrive after it). */
export const newestSignInMail = (messages: ReceivedMail[]) => messages.filter((m) => /sign-in code/.test(m.subject)).at(-1);
