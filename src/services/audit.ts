import { insertAuditEvent, listAuditEvents, type AuditEventRow } from '../repositories/audit-events.js';
import { findUserByLogin } from '../repositories/users.js';
import { storedIp, storedUserAgent } from './client-info.js';
import type { ClientInfo, ServiceDeps } from './deps.js';

export type SecurityEventType =
  | 'login_succeeded'
  | 'login_failed'
  | 'login_locked'
  | 'refresh_token_reused'
  | 'password_changed'
  | 'password_change_failed'
  | 'logout'
  | 'logout_all'
  | 'session_revoked'
  | 'token_revoked'
  | 'lockout_cleared'
  // Second factor (issue 14)
  | 'mfa_required'
  | 'mfa_failed'
  | 'mfa_enrolment_started'
  | 'mfa_enabled'
  | 'mfa_disabled'
  | 'mfa_reset'
  | 'recovery_codes_regenerated'
  | 'recovery_code_used'
  | 'reauthentication_failed'
  // The mailed flows (issue 11).
  | 'password_reset_requested'
  | 'password_reset'
  | 'verification_requested'
  | 'email_verified'
  | 'email_change_requested'
  | 'email_changed'
  | 'profile_updated'
  | 'account_deleted'
  | 'login_unverified'
  | 'login_refused'
  | 'roles_changed'
  | 'account_disabled'
  | 'account_enabled'
  | 'account_banned'
  | 'account_unbanned'
  | 'admin_user_updated'
  | 'admin_client_registered'
  | 'admin_client_updated'
  | 'admin_client_deleted'
  | 'admin_client_secret_rotated'
  | 'admin_users_listed'
  | 'admin_user_viewed'
  | 'admin_sessions_viewed'
  | 'admin_sessions_ended'
  | 'admin_events_viewed'
  // issue 15: passkeys
  | 'passkey_added'
  | 'passkey_removed'
  | 'passkey_failed'
  // issue 17: other identity providers
  | 'identity_linked'
  | 'identity_unlinked'
  | 'federated_login_failed'
  // issue 25: sign-in by a mailed code or link
  | 'sign_in_code_requested'
  | 'passwordless_account_created';

/** Events that suggest an attack are logged at warn, the rest at info. */
const ALARMING: ReadonlySet<SecurityEventType> = new Set([
  'refresh_token_reused',
  'login_failed',
  'login_locked',
  'password_change_failed',
  'mfa_failed',
  'reauthentication_failed',
  'login_refused',
  'federated_login_failed',
]);

/** Writes a security event to the audit table and to the log. Never carries secrets. */
export async function recordSecurityEvent(
  deps: Pick<ServiceDeps, 'db' | 'clock' | 'log'>,
  event: { type: SecurityEventType; userId?: number | null; client?: ClientInfo; details?: Record<string, unknown> },
): Promise<void> {
  await insertAuditEvent(deps.db, {
    occurredAt: deps.clock.now(),
    type: event.type,
    userId: event.userId ?? null,
    ip: storedIp(event.client),
    userAgent: storedUserAgent(event.client),
    details: event.details ?? null,
  });
  const entry = { reqId: event.client?.requestId, securityEvent: event.type, userId: event.userId, ip: event.client?.ip, ...event.details };
  if (ALARMING.has(event.type)) deps.log.warn(entry, `security event: ${event.type}`);
  else deps.log.info(entry, `security event: ${event.type}`);
}

/**
 * The newest security events, for an operator: of the account `login` names (username or e-mail) and of one
 * type when given. A login that names no account has no events of its own; failed logins under it are
 * found by type (their details carry the name).
 */
export async function listSecurityEvents(
  deps: Pick<ServiceDeps, 'db'>,
  filter: { login?: string; type?: string; limit: number },
): Promise<AuditEventRow[]> {
  let userId: number | undefined;
  if (filter.login !== undefined) {
    const user = await findUserByLogin(deps.db, filter.login);
    if (user === undefined) return [];
    userId = user.id;
  }
  return listAuditEvents(deps.db, { userId, type: filter.type, limit: filter.limit });
}
