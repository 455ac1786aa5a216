import { and, eq, sql } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { sessions, users, type SessionRow, type UserRow } from '../../db/schema.js';

export interface Principal {
  user: UserRow;
  /** Null when the token named no session, or the session does not exist (any more). */
  session: Pick<SessionRow, 'revokedAt' | 'expiresAt' | 'lastUsedAt'> | null;
}

const userId = sql.placeholder('userId');
const username = sql.placeholder('username');
const sessionId = sql.placeholder('sessionId');

/**
 * The four shapes of the lookup, built once per database and prepared under a fixed name: PostgreSQL
 * parses and plans each once per connection, and no SQL is assembled per request. This is the hottest
 * query of the service (every authenticated request makes it).
 */
function prepareLookups(db: Database) {
  const byId = eq(users.id, userId);
  const byName = eq(sql`lower(${users.username})`, sql`lower(${username})`);
  const withSession = (match: typeof byId, name: string) =>
    db
      .select({
        user: users,
        sessionId: sessions.id,
        revokedAt: sessions.revokedAt,
        expiresAt: sessions.expiresAt,
        lastUsedAt: sessions.lastUsedAt,
      })
      .from(users)
      .leftJoin(sessions, and(eq(sessions.id, sessionId), eq(sessions.userId, users.id)))
      .where(match)
      .limit(1)
      .prepare(name);
  return {
    byId: db.select().from(users).where(byId).limit(1).prepare('principal_by_id'),
    byName: db.select().from(users).where(byName).limit(1).prepare('principal_by_name'),
    byIdWithSession: withSession(byId, 'principal_by_id_with_session'),
    byNameWithSession: withSession(byName, 'principal_by_name_with_session'),
  };
}

const prepared = new WeakMap<Database, ReturnType<typeof prepareLookups>>();

function lookupsFor(db: Database) {
  let lookups = prepared.get(db);
  if (lookups === undefined) {
    lookups = prepareLookups(db);
    prepared.set(db, lookups);
  }
  return lookups;
}

/**
 * The user behind an access token and, in the same round trip, the state of its session (revoked, past its
 * end, idle): checking them costs no extra query on the hot path. Nothing is cached between requests: a deleted user or a
 * revoked session is seen by the very next request.
 */
export async function findPrincipal(
  db: Database,
  by: { userId: number } | { username: string },
  sessionId: string | undefined,
): Promise<Principal | undefined> {
  const lookups = lookupsFor(db);
  const params = 'userId' in by ? { userId: by.userId } : { username: by.username };
  if (sessionId === undefined) {
    const [user] = await ('userId' in by ? lookups.byId : lookups.byName).execute(params);
    return user && { user, session: null };
  }
  const [row] = await ('userId' in by ? lookups.byIdWithSession : lookups.byNameWithSession).execute({ ...params, sessionId });
  if (row === undefined) return undefined;
  const { user, sessionId: id, revokedAt, expiresAt, lastUsedAt } = row;
  return { user, session: id === null ? null : { revokedAt, expiresAt: expiresAt!, lastUsedAt: lastUsedAt! } };
}
