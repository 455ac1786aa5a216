import { SMTPServer } from 'smtp-server';
import { freePort } from '../../bench/process.js';

export interface ReceivedMail {
  to: string[];
  subject: string;
  /** The whole message, transfer encoding (quoted-printable) undone: headers, text and HTML parts. */
  decoded: string;
  raw: string;
}

/** Undoes quoted-printable: soft line breaks, then `=XX` escapes (our mail is ASCII apart from these). */
function decodeQuotedPrintable(raw: string): string {
  return raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/**
 * A real SMTP server, in-process, on a port of its own: what the service delivers to in the tests. It can
 * be stopped and started again on the same port (an SMTP outage).
 */
export class TestSmtpServer {
  readonly messages: ReceivedMail[] = [];
  private server: SMTPServer | undefined;
  private constructor(readonly port: number) {}

  static async start(): Promise<TestSmtpServer> {
    const smtp = new TestSmtpServer(await freePort());
    await smtp.resume();
    return smtp;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  async resume(): Promise<void> {
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onData: (stream, session, callback) => {
        let raw = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => (raw += chunk));
        stream.on('end', () => {
          const decoded = decodeQuotedPrintable(raw);
          const subject = /^Subject: (.*)$/m.exec(decoded)?.[1]?.trim() ?? '';
          this.messages.push({ to: session.envelope.rcptTo.map((r) => r.address), subject, decoded, raw });
          callback();
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  /** Stops listening (the service's next delivery fails, as in an outage). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Mails to `address` (any letter case). */
  to(address: string): ReceivedMail[] {
    return this.messages.filter((m) => m.to.some((t) => t.toLowerCase() === address.toLowerCase()));
  }

  /** Resolves with the first mail `match` accepts, polling until `timeoutMs` (for the real process). */
  async waitFor(match: (mail: ReceivedMail) => boolean, timeoutMs = 20_000): Promise<ReceivedMail> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no such mail among ${this.messages.length}: ${this.messages.map((m) => m.subject).join('; ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** The link a mail carries (`PUBLIC_URL/account/…?token=…`) and its token. */
export function linkIn(mail: ReceivedMail): { url: string; token: string } {
  const match = /(https?:\/\/[^\s"<>]+\?token=([A-Za-z0-9_-]+))/.exec(mail.decoded);
  if (!match) throw new Error(`no link in the mail "${mail.subject}"`);
  return { url: match[1]!, token: match[2]! };
}
