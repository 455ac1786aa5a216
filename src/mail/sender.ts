import type { Clock } from '../clock.js';
import type { Database } from '../db/client.js';
import type { MailOutboxRow } from '../db/schema.js';
import { claimDueMails, markMailAttemptFailed, markMailSent } from '../repositories/account/mail-outbox.js';
import type { Log } from '../logging.js';
import type { MailTransport } from './transport.js';

/** First retry after 30 s, doubling, at most every 15 minutes. */
const RETRY_BASE_MS = 30_000;
const RETRY_MAX_MS = 15 * 60_000;
/** A mail still undelivered a day after it was written is given up: every token it could carry has expired. */
const GIVE_UP_AFTER_MS = 24 * 3600_000;
/** How long a claimed mail is held by its sender; if the process dies mid-send, it is tried again after. */
const LEASE_MS = 5 * 60_000;
const BATCH = 20;

export interface MailSender {
  /** Delivers the mail that is due now; resolves when done. Tests call it by hand. */
  runOnce(): Promise<{ sent: number; failed: number }>;
  /** Polls every `intervalMs` (server.ts). */
  start(intervalMs: number): void;
  /** Stops polling and waits for a run under way. */
  stop(): Promise<void>;
}

export function retryDelayMs(attempts: number): number {
  return Math.min(RETRY_BASE_MS * 2 ** Math.max(0, attempts - 1), RETRY_MAX_MS);
}

/**
 * The background sender of the outbox. HTTP requests only write rows; this loop hands them to the
 * transport, marks them sent (clearing their bodies), or schedules another attempt with backoff.
 */
export function createMailSender(deps: { db: Database; clock: Clock; log: Log }, transport: MailTransport): MailSender {
  let running: Promise<{ sent: number; failed: number }> | undefined;
  let timer: NodeJS.Timeout | undefined;

  const deliver = async (mail: MailOutboxRow): Promise<boolean> => {
    const entry = { outboxId: mail.id, kind: mail.kind };
    try {
      const { file } = await transport.send({ id: mail.id, to: mail.recipient, subject: mail.subject, text: mail.textBody ?? '', html: mail.htmlBody ?? '' });
      await markMailSent(deps.db, mail.id, deps.clock.now());
      // The path only: the link inside the file carries a live token, which stays out of logs.
      if (file) deps.log.info({ ...entry, file }, `mail written to ${file} (no SMTP_URL); its text, with the link, is in ${file.replace(/\.eml$/, '.txt')}`);
      else deps.log.info(entry, 'mail sent');
      return true;
    } catch (error) {
      const now = deps.clock.now();
      const message = error instanceof Error ? error.message : String(error);
      const giveUp = now.getTime() - mail.createdAt.getTime() >= GIVE_UP_AFTER_MS;
      const retryAt = new Date(now.getTime() + retryDelayMs(mail.attempts));
      await markMailAttemptFailed(deps.db, mail.id, message, giveUp ? { gaveUpAt: now } : { retryAt });
      deps.log.warn({ ...entry, attempts: mail.attempts, error: message, ...(giveUp ? {} : { retryAt: retryAt.toISOString() }) },
        giveUp ? 'mail delivery failed; giving up' : 'mail delivery failed; will retry');
      return false;
    }
  };

  const run = async () => {
    let sent = 0;
    let failed = 0;
    for (;;) {
      const now = deps.clock.now();
      const batch = await claimDueMails(deps.db, now, new Date(now.getTime() + LEASE_MS), BATCH);
      for (const mail of batch) (await deliver(mail)) ? sent++ : failed++;
      if (batch.length < BATCH) return { sent, failed };
    }
  };

  const runOnce = () => {
    // One run at a time: the timer and a test (or a slow previous run) never overlap.
    running ??= run().finally(() => (running = undefined));
    return running;
  };

  return {
    runOnce,
    start(intervalMs) {
      timer ??= setInterval(() => {
        runOnce().catch((error) => deps.log.warn({ err: error }, 'mail sender run failed'));
      }, intervalMs).unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await running?.catch(() => undefined);
      transport.close();
    },
  };
}
