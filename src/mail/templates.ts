/**
 * The mails the service sends, as text and HTML. Each mail that carries a token gives both the link (to a
 * page whose button spends the token: a scanner following the link spends nothing) and the bare token,
 * for API clients.
 */

/** Mails a person asks for; these count against the per-address sending limit. */
export type RequestedMailKind = 'reset_password' | 'verify_email' | 'change_email';
/** Notices of changes to an account (ASVS 5.0 6.3.7); `second_factor_*` are for the TOTP work (issue 14). */
export const NOTICE_KINDS = [
  'password_changed',
  'username_changed',
  'email_change_requested',
  'email_changed',
  'account_deleted',
  'second_factor_enabled',
  'second_factor_disabled',
  'recovery_codes_regenerated',
  'passkey_added',
  'passkey_removed',
  'identity_linked',
  'identity_unlinked',
  'email_verified',
] as const;
export type NoticeKind = (typeof NOTICE_KINDS)[number];

export interface ComposedMail {
  subject: string;
  text: string;
  html: string;
}

export interface MailContext {
  appName: string;
  /** The account's username, to greet. */
  username: string;
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function compose(subject: string, paragraphs: string[], link?: { url: string; label: string; token: string }): ComposedMail {
  const text = [...paragraphs, ...(link ? [`${link.label}: ${link.url}`, `Or give this code to the app: ${link.token}`] : [])].join('\n\n');
  const html = [
    '<!doctype html><html><body>',
    ...paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`),
    ...(link
      ? [`<p><a href="${escapeHtml(link.url)}">${escapeHtml(link.label)}</a></p>`, `<p>Or give this code to the app: <code>${escapeHtml(link.token)}</code></p>`]
      : []),
    '</body></html>',
  ].join('\n');
  return { subject, text: `${text}\n`, html };
}

export function requestedMail(kind: RequestedMailKind, ctx: MailContext, link: { url: string; token: string; validFor: string }): ComposedMail {
  const ignore = 'If you did not ask for this, ignore this message: nothing changes.';
  switch (kind) {
    case 'reset_password':
      return compose(
        `${ctx.appName}: reset your password`,
        [`Hello ${ctx.username},`, `Someone asked to reset the password of your ${ctx.appName} account. The link works once, for ${link.validFor}.`, ignore],
        { url: link.url, label: 'Choose a new password', token: link.token },
      );
    case 'verify_email':
      return compose(
        `${ctx.appName}: confirm your e-mail address`,
        [`Hello ${ctx.username},`, `Please confirm that this address belongs to your ${ctx.appName} account. The link works once, for ${link.validFor}.`, ignore],
        { url: link.url, label: 'Confirm this address', token: link.token },
      );
    case 'change_email':
      return compose(
        `${ctx.appName}: confirm your new e-mail address`,
        [`Hello ${ctx.username},`, `Your ${ctx.appName} account asked to use this address from now on. The link works once, for ${link.validFor}.`, ignore],
        { url: link.url, label: 'Use this address', token: link.token },
      );
  }
}

/**
 * The passwordless sign-in mail (issue 25): the 8-digit code first (typed where the person asked), then the
 * link (its page has a button: a scanner following it spends nothing). `username` is absent for an address
 * that has no account yet (PASSWORDLESS_SIGNUP): the mail then says an account will be made.
 */
export function signInMail(appName: string, username: string | undefined, sent: { code: string; url: string; validFor: string }): ComposedMail {
  return compose(
    `${appName}: your sign-in code`,
    [
      username ? `Hello ${username},` : 'Hello,',
      `Someone asked to sign in to ${appName} with this address${username ? '' : '; no account uses it yet, and one will be made when the code is used'}.`,
      `Your sign-in code: ${sent.code}`,
      `Type it where you asked for it. The code and the link below work once, for ${sent.validFor}. Nobody from ${appName} will ever ask you for this code.`,
      'If you did not ask for this, ignore this message: nobody can sign in without the code.',
    ],
    { url: sent.url, label: 'Sign in', token: sent.code },
  );
}

const NOTICES: Record<NoticeKind, (ctx: MailContext) => [string, string]> = {
  password_changed: (c) => ['your password was changed', `The password of your ${c.appName} account was changed, and every session was ended.`],
  username_changed: (c) => ['your username was changed', `Your ${c.appName} account has a new username: ${c.username}.`],
  email_change_requested: (c) => ['a change of e-mail address was requested', `Your ${c.appName} account asked to move to another e-mail address. It moves only once the new address is confirmed.`],
  email_changed: (c) => ['your e-mail address was changed', `Your ${c.appName} account now uses another e-mail address; this one will receive nothing more.`],
  account_deleted: (c) => ['your account was deleted', `Your ${c.appName} account and everything it held has been deleted.`],
  second_factor_enabled: (c) => ['a second factor was turned on', `A second sign-in factor was turned on for your ${c.appName} account.`],
  second_factor_disabled: (c) => ['a second factor was turned off', `The second sign-in factor of your ${c.appName} account was turned off.`],
  passkey_added: (c) => ['a passkey was added', `A passkey was added to your ${c.appName} account; it can now sign in with it.`],
  passkey_removed: (c) => ['a passkey was removed', `A passkey was removed from your ${c.appName} account.`],
  recovery_codes_regenerated: (c) => ['new recovery codes were made', `New recovery codes were made for your ${c.appName} account; the earlier ones no longer work.`],
  identity_linked: (c) => ['a sign-in provider was linked', `Another identity provider was linked to your ${c.appName} account; it can now sign in with it.`],
  identity_unlinked: (c) => ['a sign-in provider was unlinked', `An identity provider was unlinked from your ${c.appName} account.`],
  email_verified: (c) => ['your e-mail address was confirmed', `The e-mail address of your ${c.appName} account was confirmed, and every other session was ended.`],
};

/** `extra`: sentences of the service's own about this change (what a reset removed). */
export function noticeMail(kind: NoticeKind, ctx: MailContext, extra: string[] = []): ComposedMail {
  const [what, sentence] = NOTICES[kind](ctx);
  return compose(`${ctx.appName}: ${what}`, [
    `Hello ${ctx.username},`,
    sentence,
    ...extra,
    'If this was not you, reset your password at once and contact support.',
  ]);
}
