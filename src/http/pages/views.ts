/**
 * The few HTML pages a mailed link opens. Plain HTML: no script, no inline style, so the strict CSP
 * stays as it is. Every value is escaped.
 */
export const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function page(appName: string, title: string, body: string): string {
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="robots" content="noindex">',
    `<title>${escapeHtml(title)} · ${escapeHtml(appName)}</title>`,
    '</head><body><main>',
    `<h1>${escapeHtml(title)}</h1>`,
    body,
    '</main></body></html>',
  ].join('\n');
}

export interface ConfirmForm {
  intro: string;
  token: string;
  button: string;
  /** Asks for a new password (the reset page). */
  newPassword?: boolean;
  error?: string;
}

/**
 * The page behind a link: opening it (GET) spends nothing; only the button (a POST of this form, to the
 * same path) does. A mail scanner that follows every link therefore cannot use the token up.
 */
export function confirmForm(form: ConfirmForm): string {
  return [
    ...(form.error ? [`<p role="alert"><strong>${escapeHtml(form.error)}</strong></p>`] : []),
    `<p>${escapeHtml(form.intro)}</p>`,
    '<form method="post" action="confirm">',
    `<input type="hidden" name="token" value="${escapeHtml(form.token)}">`,
    ...(form.newPassword
      ? [
          '<p><label for="password">New password</label><br>',
          '<input id="password" type="password" name="password" autocomplete="new-password" required minlength="8" maxlength="128"></p>',
        ]
      : []),
    `<p><button type="submit">${escapeHtml(form.button)}</button></p>`,
    '</form>',
  ].join('\n');
}

export function message(text: string): string {
  return `<p>${escapeHtml(text)}</p>`;
}
