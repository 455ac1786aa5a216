// Administration: listing and changing accounts (users.ts), roles and the last-admin rule (roles.ts),
// admin actions that reuse the account services (actions.ts), and sessions and security events (activity.ts).
import type { UserRow } from '../../db/schema.js';
import { addressMovedByAdmin } from '../account/email-change.js';
import { DomainError, InvalidInputError } from '../../errors.js';
import {
  countActiveSessions,
  findAdminUser,
  lockUser,
  updateUser,
  userListQuery,
  type AdminUserRow,
  type StatusFilter,
  type UserUpdate,
} from '../../repositories/admin-users.js';
import { accountStatus, type AccountStatus } from '../account-status.js';
import { recordSecurityEvent, type SecurityEventType } from '../audit.js';
import type { ClientInfo, ServiceDeps } from '../deps.js';
import { assertAdminsRemain, lockAdminsIf } from './roles.js';
import { endAllSessions } from '../sessions/sessions.js';

/** Who is acting, for the security event every admin action records. */
export interface Actor {
  id: number;
  client: ClientInfo;
}

export interface AdminUserView {
  id: number;
  username: string;
  email: string;
  email_verified: boolean;
  roles: string[];
  status: AccountStatus;
  is_active: boolean;
  banned_until: string | null;
  created_at: string;
  updated_at: string;
  last_login_at: string | null;
}

export interface AdminUserDetail extends AdminUserView {
  active_sessions: number;
}

function toView(user: AdminUserRow, now: Date): AdminUserView {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    email_verified: user.emailVerified,
    roles: user.roles,
    status: accountStatus(user, now),
    is_active: user.isActive,
    banned_until: user.bannedUntil?.toISOString() ?? null,
    created_at: user.createdAt.toISOString(),
    updated_at: user.updatedAt.toISOString(),
    last_login_at: user.lastLoginAt?.toISOString() ?? null,
  };
}

/**
 * An ISO 8601 time from an admin, within years 1000–9999 in UTC: the schema checks the digits, but an offset
 * can still carry 9999-12-31T23:59-14:00 into year 10000, which PostgreSQL cannot read back from us.
 */
export function parseInstant(value: string, loc: string[]): Date {
  const date = new Date(value);
  const year = date.getUTCFullYear();
  if (!(year >= 1000 && year <= 9999)) {
    throw new InvalidInputError([{ loc, msg: 'Input should be a time in the years 1000 to 9999 (UTC)', type: 'datetime_from_date_parsing' }]);
  }
  return date;
}

/** Records an admin action; the acting admin's id goes with it. */
export async function recordAdminEvent(deps: ServiceDeps, actor: Actor, type: SecurityEventType, userId: number | null, details: object = {}) {
  await recordSecurityEvent(deps, { type, userId, client: actor.client, details: { actorId: actor.id, ...details } });
}

/**
 * Users in id order, `limit` at a time; `next_after` is the cursor of the next page (keyset pagination:
 * stable while users register, and as fast on the last page as on the first).
 */
export async function listUsers(
  deps: ServiceDeps,
  actor: Actor,
  filter: { q?: string; status?: StatusFilter; role?: string; after?: number; limit: number },
): Promise<{ users: AdminUserView[]; next_after: number | null }> {
  const now = deps.clock.now();
  // One more than asked tells whether there is a next page without a count(*) over the table.
  const rows = await userListQuery(deps.db, { ...filter, limit: filter.limit + 1, now });
  const page = rows.slice(0, filter.limit);
  const { q, status, role } = filter;
  await recordAdminEvent(deps, actor, 'admin_users_listed', null, { q, status, role, after: filter.after });
  return { users: page.map((u) => toView(u, now)), next_after: rows.length > filter.limit ? page.at(-1)!.id : null };
}

async function detailOf(deps: ServiceDeps, id: number): Promise<AdminUserDetail> {
  const user = await findAdminUser(deps.db, id);
  if (user === undefined) throw new DomainError('USER_NOT_FOUND');
  const now = deps.clock.now();
  const idleCutoff = new Date(now.getTime() - deps.sessionPolicy.idleTimeoutSeconds * 1000);
  return { ...toView(user, now), active_sessions: await countActiveSessions(deps.db, id, now, idleCutoff) };
}

export async function getUser(deps: ServiceDeps, actor: Actor, id: number): Promise<AdminUserDetail> {
  const detail = await detailOf(deps, id);
  await recordAdminEvent(deps, actor, 'admin_user_viewed', id);
  return detail;
}

export interface AdminUserChanges {
  username?: string;
  email?: string;
  email_verified?: boolean;
  /** The whole list: it replaces the user's roles. */
  roles?: string[];
  is_active?: boolean;
  /** Login refused until then; null lifts a ban. */
  banned_until?: string | null;
}

type AdminEvent = { type: SecurityEventType; details: object };

/** The security events a change makes, one per kind of change (profile, roles, status), so each can be filtered. */
function changeEvents(before: UserRow, update: UserUpdate, now: Date): AdminEvent[] {
  const events: AdminEvent[] = [];
  const profile = (['username', 'email', 'emailVerified'] as const).filter((k) => update[k] !== undefined && update[k] !== before[k]);
  if (profile.length > 0) events.push({ type: 'admin_user_updated', details: { changes: Object.fromEntries(profile.map((k) => [k, update[k]])) } });
  if (update.roles !== undefined && update.roles.join('\0') !== before.roles.join('\0')) {
    events.push({ type: 'roles_changed', details: { before: before.roles, after: update.roles } });
  }
  const [was, is] = [accountStatus(before, now), accountStatus({ ...before, ...update }, now)];
  if (update.isActive === true && !before.isActive) events.push({ type: 'account_enabled', details: {} });
  if (was === 'banned' && update.bannedUntil !== undefined && is !== 'banned') events.push({ type: 'account_unbanned', details: {} });
  return events;
}

/** A disabling or a ban, new or renewed: the moment every session and access token of the user must end. */
function endsSessions(update: UserUpdate, now: Date): 'account_disabled' | 'account_banned' | undefined {
  if (update.isActive === false) return 'account_disabled';
  if (update.bannedUntil != null && update.bannedUntil.getTime() > now.getTime()) return 'account_banned';
  return undefined;
}

/**
 * Changes a user as an admin. Disabling or banning ends every session and access token of the user in the
 * same transaction (ASVS 5.0 7.4.2). A change that would leave no active admin is refused. A new e-mail is
 * unverified unless `email_verified` says otherwise.
 */
export async function updateUserAsAdmin(deps: ServiceDeps, actor: Actor, id: number, changes: AdminUserChanges): Promise<AdminUserDetail> {
  const now = deps.clock.now();
  const update: UserUpdate = {};
  if (changes.username !== undefined) update.username = changes.username;
  if (changes.email !== undefined) update.email = changes.email;
  if (changes.email_verified !== undefined) update.emailVerified = changes.email_verified;
  if (changes.roles !== undefined) update.roles = [...new Set(changes.roles)];
  if (changes.is_active !== undefined) update.isActive = changes.is_active;
  if (changes.banned_until !== undefined) update.bannedUntil = changes.banned_until === null ? null : parseInstant(changes.banned_until, ['body', 'banned_until']);

  const events = await deps.db.transaction(async (tx) => {
    const admins = await lockAdminsIf(tx, update.roles !== undefined || update.isActive === false || update.bannedUntil != null, now);
    const before = await lockUser(tx, id);
    if (before === undefined) throw new DomainError('USER_NOT_FOUND');
    if (update.email !== undefined && update.email !== before.email && update.emailVerified === undefined) update.emailVerified = false;
    assertAdminsRemain(admins, { ...before, ...update }, now);
    await updateUser(tx, id, update, now);
    if (update.email !== undefined && update.email.toLowerCase() !== before.email.toLowerCase()) await addressMovedByAdmin(deps, tx, before);
    const events = changeEvents(before, update, now);
    const ending = endsSessions(update, now);
    if (ending !== undefined) {
      const sessions = await endAllSessions({ db: tx, clock: deps.clock }, id, ending);
      events.push({ type: ending, details: ending === 'account_banned' ? { sessions, bannedUntil: update.bannedUntil } : { sessions } });
    }
    return events;
  });
  for (const event of events) await recordAdminEvent(deps, actor, event.type, id, event.details);
  return detailOf(deps, id);
}
