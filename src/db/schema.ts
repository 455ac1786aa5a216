import { sql } from 'drizzle-orm';
import {
  bigserial,
  boolean,
  index,
  integer,
  jsonb,
  pgTable,
  serial,
  text,
  timestamp,
  uniqueIndex,
  uuid,
  varchar,
} from 'drizzle-orm/pg-core';

const timestamptz = (name: string) => timestamp(name, { withTimezone: true });

/**
 * `users` keeps the Python service's columns (`id`, `username`, `email`, `hash_password`) so an existing
 * database is adopted as is; the rest are ours. Uniqueness is case-insensitive and enforced by the database,
 * so two concurrent registrations cannot both win.
 */
export const users = pgTable(
  'users',
  {
    id: serial('id').primaryKey(),
    username: varchar('username').notNull(),
    email: varchar('email').notNull(),
    hashPassword: varchar('hash_password').notNull(),
    isActive: boolean('is_active').notNull().default(true),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
    updatedAt: timestamptz('updated_at').notNull().defaultNow(),
    /**
     * Bumped by every change that ends all sessions (password change, logout-all): a login opens its
     * session only if the stamp it read before checking the password is still the row's (issue 12, point 2).
     * `tokens_valid_after` cannot tell: it has whole seconds, and two changes in one second look alike.
     */
    securityStamp: integer('security_stamp').notNull().default(0),
    /**
     * Access tokens issued before this instant are refused. Set by password change, logout-all and
     * disabling; it is what revokes tokens without a session (those the Python service issued).
     */
    tokensValidAfter: timestamptz('tokens_valid_after'),
  },
  (t) => [
    uniqueIndex('users_username_lower_key').on(sql`lower(${t.username})`),
    uniqueIndex('users_email_lower_key').on(sql`lower(${t.email})`),
  ],
);

/** One per successful password login. Ending a session kills its refresh tokens and its access tokens. */
export const sessions = pgTable(
  'sessions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: timestamptz('created_at').notNull(),
    lastUsedAt: timestamptz('last_used_at').notNull(),
    /** The absolute end of the session, whatever its refreshes. */
    expiresAt: timestamptz('expires_at').notNull(),
    userAgent: text('user_agent'),
    ip: text('ip'),
    revokedAt: timestamptz('revoked_at'),
    revokedReason: text('revoked_reason'),
  },
  (t) => [
    index('sessions_user_id_idx').on(t.userId),
    // The open sessions of a user, least recently used first: a login past MAX_SESSIONS_PER_USER ends
    // the oldest without reading the user's revoked sessions, which are never deleted.
    index('sessions_open_by_user_idx').on(t.userId, t.lastUsedAt).where(sql`${t.revokedAt} is null`),
  ],
);

/**
 * Opaque refresh tokens, stored as SHA-256 of the token: a database leak yields no usable token. Each
 * belongs to a session; `used_at` marks a token retired by rotation (presenting it again is reuse).
 */
export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    sessionId: uuid('session_id')
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    tokenHash: text('token_hash').notNull(),
    createdAt: timestamptz('created_at').notNull(),
    expiresAt: timestamptz('expires_at').notNull(),
    usedAt: timestamptz('used_at'),
  },
  (t) => [uniqueIndex('refresh_tokens_token_hash_key').on(t.tokenHash), index('refresh_tokens_session_id_idx').on(t.sessionId)],
);

/**
 * Asymmetric JWT signing keys; the private half is encrypted with a key derived from SECRET_KEY. At most
 * one key is active (not retired) at a time, enforced by the database, so instances starting or rotating
 * at once cannot end up signing with different keys.
 */
export const signingKeys = pgTable(
  'signing_keys',
  {
    kid: text('kid').primaryKey(),
    algorithm: text('algorithm').notNull(),
    publicJwk: jsonb('public_jwk').notNull(),
    privateKeyEncrypted: text('private_key_encrypted').notNull(),
    createdAt: timestamptz('created_at').notNull(),
    /** When a newer key took over signing; the key still verifies until its last token has expired. */
    retiredAt: timestamptz('retired_at'),
  },
  (t) => [uniqueIndex('signing_keys_one_active_key').on(sql`(true)`).where(sql`${t.retiredAt} is null`)],
);

/** Security events (logins, lockouts, refresh reuse, password changes, logouts), pruned by age. */
export const auditEvents = pgTable(
  'audit_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    occurredAt: timestamptz('occurred_at').notNull(),
    type: text('type').notNull(),
    userId: integer('user_id').references(() => users.id, { onDelete: 'set null' }),
    ip: text('ip'),
    userAgent: text('user_agent'),
    details: jsonb('details'),
  },
  (t) => [index('audit_events_occurred_at_idx').on(t.occurredAt), index('audit_events_user_id_idx').on(t.userId)],
);

/**
 * Consecutive failed logins per account (or per unknown login name, so lockout behaves the same whether or
 * not the account exists). Durable, so a restart does not reset the count.
 */
export const loginFailures = pgTable('login_failures', {
  key: text('key').primaryKey(),
  failures: integer('failures').notNull(),
  lastFailureAt: timestamptz('last_failure_at').notNull(),
  lockedUntil: timestamptz('locked_until'),
});

export type UserRow = typeof users.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;
export type SigningKeyRow = typeof signingKeys.$inferSelect;
