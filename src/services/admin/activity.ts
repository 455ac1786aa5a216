import { DomainError } from '../../errors.js';
import { findAdminUser } from '../../repositories/admin-users.js';
import { listUserAuditEvents } from '../../repositories/audit-events.js';
import { parseInstant, recordAdminEvent, type Actor } from './users.js';
import type { ServiceDeps } from '../deps.js';
import { endAllSessions, listSessions, type SessionView } from '../sessions/sessions.js';

async function assertUserExists(deps: ServiceDeps, id: number): Promise<void> {
  if ((await findAdminUser(deps.db, id)) === undefined) throw new DomainError('USER_NOT_FOUND');
}

export async function listUserSessions(deps: ServiceDeps, actor: Actor, id: number): Promise<SessionView[]> {
  await assertUserExists(deps, id);
  const sessions = await listSessions(deps, id, undefined);
  await recordAdminEvent(deps, actor, 'admin_sessions_viewed', id);
  return sessions;
}

/** Ends every session of the user and every access token issued before now, as logout-all does. */
export async function endUserSessions(deps: ServiceDeps, actor: Actor, id: number): Promise<{ ended: number }> {
  await assertUserExists(deps, id);
  const ended = await endAllSessions(deps, id, 'admin_ended');
  await recordAdminEvent(deps, actor, 'admin_sessions_ended', id, { sessions: ended });
  return { ended };
}

export interface SecurityEventView {
  id: number;
  occurred_at: string;
  type: string;
  ip: string | null;
  user_agent: string | null;
  details: unknown;
}

/** The user's security events, newest first; `next_before` is the cursor of the next (older) page. */
export async function listUserEvents(
  deps: ServiceDeps,
  actor: Actor,
  id: number,
  filter: { type?: string; since?: string; until?: string; before?: number; limit: number },
): Promise<{ events: SecurityEventView[]; next_before: number | null }> {
  await assertUserExists(deps, id);
  const rows = await listUserAuditEvents(deps.db, {
    userId: id,
    type: filter.type,
    since: filter.since === undefined ? undefined : parseInstant(filter.since, ['query', 'since']),
    until: filter.until === undefined ? undefined : parseInstant(filter.until, ['query', 'until']),
    before: filter.before,
    limit: filter.limit + 1,
  });
  const page = rows.slice(0, filter.limit);
  // Recorded after the read, so the page does not show its own viewing.
  await recordAdminEvent(deps, actor, 'admin_events_viewed', id, { type: filter.type });
  return {
    events: page.map((e) => ({
      id: e.id,
      occurred_at: e.occurredAt.toISOString(),
      type: e.type,
      ip: e.ip,
      user_agent: e.userAgent,
      details: e.details,
    })),
    next_before: rows.length > filter.limit ? page.at(-1)!.id : null,
  };
}
