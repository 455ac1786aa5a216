import { deleteAuditEventsBefore } from '../repositories/audit-events.js';
import { deleteLoginFailuresBefore } from '../repositories/login-failures.js';
import { deleteExpiredAccountTokens } from '../repositories/account/account-tokens.js';
import { deleteFinishedMailsBefore } from '../repositories/account/mail-outbox.js';
import { deleteExpiredSignInCodes } from '../repositories/passwordless/sign-in-codes.js';
import { deleteExpiredProviderRecords } from '../repositories/provider/records.js';
import type { ServiceDeps } from './deps.js';

/**
 * Deletes audit events past their retention and failure counters past the lockout reset window (which
 * would be ignored anyway). Safe to run from several instances at once.
 */
export async function pruneSecurityRecords(
  deps: Pick<ServiceDeps, 'db' | 'clock' | 'lockoutPolicy'>,
  auditRetentionDays: number,
): Promise<{ auditEvents: number; loginFailures: number }> {
  const now = deps.clock.now().getTime();
  return {
    auditEvents: await deleteAuditEventsBefore(deps.db, new Date(now - auditRetentionDays * 86400_000)),
    loginFailures: await deleteLoginFailuresBefore(deps.db, new Date(now - deps.lockoutPolicy.resetAfterSeconds * 1000)),
  };
}

/** Expired mailed tokens and sign-in codes, and finished mail older than a day (kept that long for the per-address limit). */
export async function pruneMailRecords(deps: Pick<ServiceDeps, 'db' | 'clock'>): Promise<{ accountTokens: number; signInCodes: number; mails: number }> {
  const now = deps.clock.now().getTime();
  return {
    accountTokens: await deleteExpiredAccountTokens(deps.db, new Date(now)),
    signInCodes: await deleteExpiredSignInCodes(deps.db, new Date(now)),
    mails: await deleteFinishedMailsBefore(deps.db, new Date(now - 86400_000)),
  };
}

/** The OpenID provider's codes, tokens, sessions and grants past their lifetime (issue 23); the adapter already ignores them. */
export async function pruneProviderRecords(deps: Pick<ServiceDeps, 'db' | 'clock'>): Promise<{ providerRecords: number }> {
  return { providerRecords: await deleteExpiredProviderRecords(deps.db, deps.clock.now()) };
}
