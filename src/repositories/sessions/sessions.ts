// Sessions' tables: sessions, refresh tokens, browser (cookie) sessions, signing keys, and the one-query
// principal lookup (principals.ts) every authenticated request makes.
import { and, desc, eq, gt, isNull, ne, sql } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { sessions, type SessionRow } from '../../db/schema.js';
import { selectRows } from '../rows.js';

const at = (date: Date) => sql`${date.toISOString()}::timestamptz`;
/** A text[] parameter as a literal both drivers pass alike; our amr values are fixed words (no commas or quotes). */
const textArray = (values: string[]) => sql`${`{${values.join(',')}}`}::text[]`;

interface RawSession {
  id: string;
  user_id: number;
  created_at: Date | string;
  last_used_at: Date | string;
  expires_at: Date | string;
  user_agent: string | null;
  ip: string | null;
  amr: string[];
}

/**
 * Opens a session for a login, in one statement (the login's only write besides its audit event):
 * - only while the user row still holds the credentials the login verified (`verified`: the hash it
 *   checked, and the security stamp as it read it, which password change and logout-all bump). The row is locked (FOR SHARE) until the statement
 *   commits, so a password change or logout-all either commits first, and no session is opened, or waits
 *   for this one and then revokes it with the others. Returns undefined when the credentials changed;
 * - ending, past `maxOpen` open sessions, the user's least recently used ones (reason `session_limit`).
 * @see issue 12, points 2 and 10
 */
export async function insertSession(
  db: Database,
  session: {
    userId: number;
    now: Date;
    expiresAt: Date;
    userAgent: string | null;
    ip: string | null;
    verified: { hashPassword: string; securityStamp: number };
    maxOpen: number;
    /** RFC 8176 methods of the login (`pwd`, `otp`), kept for the session's tokens and refreshes. */
    amr: string[];
  },
): Promise<SessionRow | undefined> {
  const { userId, now, verified } = session;
  const [row] = await selectRows<RawSession>(
    db,
    sql`with owner as (
          select id from users
          where id = ${userId} and hash_password = ${verified.hashPassword} and security_stamp = ${verified.securityStamp}
          for share
        ), opened as (
          insert into sessions (user_id, created_at, last_used_at, expires_at, user_agent, ip, amr)
          select id, ${at(now)}, ${at(now)}, ${at(session.expiresAt)}, ${session.userAgent}, ${session.ip}, ${textArray(session.amr)} from owner
          returning id, user_id, created_at, last_used_at, expires_at, user_agent, ip, amr
        ), ended as (
          update sessions set revoked_at = ${at(now)}, revoked_reason = 'session_limit'
          where id in (
            select s.id from sessions s join owner on s.user_id = owner.id
            where s.revoked_at is null
            order by s.last_used_at desc, s.created_at desc
            offset ${session.maxOpen - 1}
          )
        )
        select * from opened`,
  );
  return (
    row && {
      id: row.id,
      userId: row.user_id,
      createdAt: new Date(row.created_at),
      lastUsedAt: new Date(row.last_used_at),
      expiresAt: new Date(row.expires_at),
      userAgent: row.user_agent,
      ip: row.ip,
      revokedAt: null,
      revokedReason: null,
      amr: row.amr,
    }
  );
}

/** Sessions neither revoked nor past their absolute end; the idle limit is applied by the caller. */
export async function findOpenSessions(db: Database, userId: number, now: Date): Promise<SessionRow[]> {
  return db
    .select()
    .from(sessions)
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, now)))
    .orderBy(desc(sessions.lastUsedAt));
}

export async function touchSession(db: Database, id: string, now: Date): Promise<void> {
  await db.update(sessions).set({ lastUsedAt: now }).where(eq(sessions.id, id));
}

/** Ends one session of `userId`; false when there is no such open session of that user. */
export async function revokeSession(
  db: Database,
  target: { id: string; userId?: number },
  now: Date,
  reason: string,
): Promise<boolean> {
  const conditions = [eq(sessions.id, target.id), isNull(sessions.revokedAt)];
  if (target.userId !== undefined) conditions.push(eq(sessions.userId, target.userId));
  const rows = await db
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(...conditions))
    .returning({ id: sessions.id });
  return rows.length > 0;
}

/** Ends the user's open sessions, all of them or all but `except` (the session that made the change). */
export async function revokeUserSessions(db: Database, userId: number, now: Date, reason: string, except?: string): Promise<number> {
  const conditions = [eq(sessions.userId, userId), isNull(sessions.revokedAt)];
  if (except !== undefined) conditions.push(ne(sessions.id, except));
  const rows = await db
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(...conditions))
    .returning({ id: sessions.id });
  return rows.length;
}
