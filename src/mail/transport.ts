import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createTransport } from 'nodemailer';

export interface Envelope {
  /** The outbox row's id: names the file in the outbox folder, so the log can point at it. */
  id: number;
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** Hands a mail to the world: an SMTP server, or a folder a developer can open. */
export interface MailTransport {
  readonly kind: 'smtp' | 'folder';
  /** Resolves once the mail is accepted; `file` when it was written to the outbox folder. */
  send(mail: Envelope): Promise<{ file?: string }>;
  close(): void;
}

/**
 * SMTP through nodemailer. Short timeouts: a send that hangs holds up the sender loop, and the outbox
 * retries anyway. One connection per mail (no pool): mail is rare here, and a pool's idle connection
 * would be cut by most servers.
 */
export function smtpTransport(url: string, from: string): MailTransport {
  const transporter = createTransport(
    { url, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000, disableFileAccess: true, disableUrlAccess: true },
    { from },
  );
  return {
    kind: 'smtp',
    async send(mail) {
      await transporter.sendMail({ to: mail.to, subject: mail.subject, text: mail.text, html: mail.html });
      return {};
    },
    close: () => transporter.close(),
  };
}

/**
 * Without SMTP_URL: each mail becomes an `.eml` file (open it in any mail program) under `DATA_DIR/outbox/`,
 * with its text part beside it as `.txt`. Named by time and outbox id, never by anything it contains.
 */
export function folderTransport(dir: string, from: string): MailTransport {
  const composer = createTransport({ streamTransport: true, buffer: true, newline: 'unix' }, { from });
  const folder = resolve(dir);
  return {
    kind: 'folder',
    async send(mail) {
      const info = await composer.sendMail({ to: mail.to, subject: mail.subject, text: mail.text, html: mail.html });
      await mkdir(folder, { recursive: true, mode: 0o700 });
      const file = join(folder, `${new Date().toISOString().replace(/[:.]/g, '-')}-${mail.id}.eml`);
      await writeFile(file, info.message as Buffer, { mode: 0o600 });
      // The .eml's text is quoted-printable (its link line is too long for plain 7-bit), which breaks the
      // link for someone reading the file in a terminal; the text part beside it reads as it is.
      await writeFile(file.replace(/\.eml$/, '.txt'), mail.text, { mode: 0o600 });
      return { file };
    },
    close: () => composer.close(),
  };
}
