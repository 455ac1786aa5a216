import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
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
    /**
     * A confirmed second factor (TOTP) exists: kept with the user, in the transaction that changes
     * `totp_factors`, so logins and the profile learn it from the row they already read (issue 14).
     */
    mfaEnabled: boolean('mfa_enabled').notNull().default(false),
    emailVerified: boolean('email_verified').notNull().default(false),
    /** Role names (`admin`, `support`, the application's own), read from the row on every request. */
    roles: text('roles').array().notNull().default(sql`'{}'::text[]`),
    /** Login is refused until this instant (a temporary ban); null when not banned. */
    bannedUntil: timestamptz('banned_until'),
    lastLoginAt: timestamptz('last_login_at'),
  },
  (t) => [
    // text_pattern_ops: the same equality (logins, uniqueness), and also the admin search's prefix LIKE,
    // whatever the database's collation — one index per column instead of two.
    uniqueIndex('users_username_lower_key').on(sql`lower(${t.username}) text_pattern_ops`),
    uniqueIndex('users_email_lower_key').on(sql`lower(${t.email}) text_pattern_ops`),
    // Finding the admins (the last-admin rule) must not scan every user.
    index('users_roles_idx').using('gin', t.roles),
    // The admin list's filters walk these in id order (keyset pagination) instead of the whole primary key:
    // users with roles (staff), disabled and banned users are few.
    index('users_with_roles_idx').on(t.id).where(sql`${t.roles} <> '{}'::text[]`),
    index('users_disabled_idx').on(t.id).where(sql`not ${t.isActive}`),
    index('users_banned_idx').on(t.id).where(sql`${t.bannedUntil} is not null`),
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
    /** How the login proved who it was (RFC 8176 values): `{pwd}`, or `{pwd,otp}` with the second factor. */
    amr: text('amr').array().notNull().default(sql`'{pwd}'::text[]`),
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
    /**
     * No foreign key: when an account is deleted its events stay, naming it by id only (services/account/profile.ts
     * removes the names from their details), so a security review can still follow what happened.
     */
    userId: integer('user_id'),
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

/**
 * One TOTP authenticator per user (RFC 6238). The secret is sealed with AES-256-GCM under a key derived
 * from SECRET_KEY. `confirmed_at` is null while enrolment waits for its first code; `last_used_step` is
 * the time step of the newest accepted code, so no code is accepted twice (RFC 6238 §5.2).
 */
export const totpFactors = pgTable('totp_factors', {
  userId: integer('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  secretSealed: text('secret_sealed').notNull(),
  createdAt: timestamptz('created_at').notNull(),
  confirmedAt: timestamptz('confirmed_at'),
  lastUsedStep: bigint('last_used_step', { mode: 'number' }),
});

/** Single-use recovery codes, stored as keyed hashes (HMAC under a key derived from SECRET_KEY). */
export const recoveryCodes = pgTable(
  'recovery_codes',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    codeHash: text('code_hash').notNull(),
    createdAt: timestamptz('created_at').notNull(),
    usedAt: timestamptz('used_at'),
  },
  (t) => [uniqueIndex('recovery_codes_user_id_code_hash_key').on(t.userId, t.codeHash)],
);

/**
 * The `mfa_token` of a login whose password was right and whose second factor is still to come: stored
 * as SHA-256 of the token, short-lived, spent by the one redemption that opens the session.
 */
export const mfaChallenges = pgTable(
  'mfa_challenges',
  {
    tokenHash: text('token_hash').primaryKey(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: timestamptz('created_at').notNull(),
    expiresAt: timestamptz('expires_at').notNull(),
    usedAt: timestamptz('used_at'),
    /**
     * The account's security stamp when the password was checked: a password change or logout-all since
     * (which bump it) voids the challenge, whatever the clock says (issue 12, point 2).
     */
    securityStamp: integer('security_stamp').notNull().default(0),
    /** The password check's `weak_password` finding, handed on to the reply that finally issues tokens. */
    weakPassword: jsonb('weak_password'),
    /** How the first step was passed when not by password (issue 17: `{fed,idp:<name>}`); null means `{pwd}`. */
    firstAmr: text('first_amr').array(),
  },
  (t) => [index('mfa_challenges_user_id_idx').on(t.userId)],
);

/**
 * Single-use tokens mailed to a user, stored as SHA-256 of the token (like refresh tokens), with their
 * purpose: a verification token cannot reset a password. Redeeming one deletes it in the same statement
 * that checks it, so two concurrent redemptions cannot both succeed. `email` is the address the token was
 * sent to (for an e-mail change, the new address).
 */
export const accountTokens = pgTable(
  'account_tokens',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    purpose: text('purpose').notNull(),
    tokenHash: text('token_hash').notNull(),
    email: text('email').notNull(),
    createdAt: timestamptz('created_at').notNull(),
    expiresAt: timestamptz('expires_at').notNull(),
    /**
     * The user's `security_stamp` when the token was made. An e-mail change confirms only under the same
     * stamp: a reset, password change or logout-all in between voids it (issue 21, finding 1). Null on
     * tokens made before the column existed, which a change confirmation refuses.
     */
    securityStamp: integer('security_stamp'),
  },
  (t) => [uniqueIndex('account_tokens_token_hash_key').on(t.tokenHash), index('account_tokens_user_id_idx').on(t.userId)],
);

/**
 * Mail waiting to be delivered, written in the same transaction as the token it carries and delivered by
 * the background sender (src/mail/sender.ts) with retries: a crash or an SMTP outage loses nothing. The
 * bodies are cleared once the mail is delivered (they hold a live token until then); the row stays a day,
 * for the per-address sending limit.
 */
export const mailOutbox = pgTable(
  'mail_outbox',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    /** No foreign key: a notice of an account's deletion outlives the account. */
    userId: integer('user_id'),
    kind: text('kind').notNull(),
    recipient: text('recipient').notNull(),
    subject: text('subject').notNull(),
    textBody: text('text_body'),
    htmlBody: text('html_body'),
    createdAt: timestamptz('created_at').notNull(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamptz('next_attempt_at').notNull(),
    sentAt: timestamptz('sent_at'),
    /** Set when the sender gave up (too many failed attempts). */
    failedAt: timestamptz('failed_at'),
    lastError: text('last_error'),
  },
  (t) => [
    index('mail_outbox_due_idx').on(t.nextAttemptAt).where(sql`${t.sentAt} is null and ${t.failedAt} is null`),
    index('mail_outbox_recipient_idx').on(sql`lower(${t.recipient})`, t.createdAt),
  ],
);

/**
 * A browser's sign-in to the account pages (issue 15): the cookie holds an opaque token, stored here only
 * as its SHA-256, pointing at a row of `sessions` — so the sessions list shows it and ending the session
 * (or logout-all, a password change, deletion) ends the cookie too.
 */
export const browserSessions = pgTable(
  'browser_sessions',
  {
    tokenHash: text('token_hash').primaryKey(),
    sessionId: uuid('session_id')
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    createdAt: timestamptz('created_at').notNull(),
  },
  (t) => [index('browser_sessions_session_id_idx').on(t.sessionId)],
);

/** WebAuthn credentials (passkeys) of a user: the public key and what the ceremony needs to check it. */
export const passkeys = pgTable(
  'passkeys',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The credential id, base64url, as the authenticator names it. */
    credentialId: text('credential_id').notNull(),
    /** COSE public key, base64url. */
    publicKey: text('public_key').notNull(),
    signCount: bigint('sign_count', { mode: 'number' }).notNull().default(0),
    transports: text('transports').array().notNull().default(sql`'{}'::text[]`),
    name: text('name').notNull(),
    createdAt: timestamptz('created_at').notNull(),
    lastUsedAt: timestamptz('last_used_at'),
  },
  (t) => [uniqueIndex('passkeys_credential_id_key').on(t.credentialId), index('passkeys_user_id_idx').on(t.userId)],
);

/**
 * A WebAuthn ceremony's challenge, stored as SHA-256: single use (deleted by the statement that accepts
 * it) and short-lived. A registration challenge belongs to the user who asked for it; a sign-in challenge
 * to nobody (discoverable credentials: the authenticator says who).
 */
export const webauthnChallenges = pgTable('webauthn_challenges', {
  challengeHash: text('challenge_hash').primaryKey(),
  purpose: text('purpose').notNull(),
  userId: integer('user_id').references(() => users.id, { onDelete: 'cascade' }),
  createdAt: timestamptz('created_at').notNull(),
  expiresAt: timestamptz('expires_at').notNull(),
});

export type UserRow = typeof users.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;
export type SigningKeyRow = typeof signingKeys.$inferSelect;
export type TotpFactorRow = typeof totpFactors.$inferSelect;
export type MfaChallengeRow = typeof mfaChallenges.$inferSelect;
export type AccountTokenRow = typeof accountTokens.$inferSelect;
export type MailOutboxRow = typeof mailOutbox.$inferSelect;
export type PasskeyRow = typeof passkeys.$inferSelect;

/**
 * Identities at other OpenID providers linked to an account (issue 17): one per (provider, subject) — the
 * `sub` claim is the provider's stable name for a person, the e-mail is not. `email` and `email_verified`
 * are what the provider stated at the last sign-in, kept to show on the account page and to audit linking.
 */
export const linkedIdentities = pgTable(
  'linked_identities',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    provider: text('provider').notNull(),
    subject: text('subject').notNull(),
    email: text('email'),
    emailVerified: boolean('email_verified').notNull().default(false),
    createdAt: timestamptz('created_at').notNull(),
    lastUsedAt: timestamptz('last_used_at'),
  },
  (t) => [uniqueIndex('linked_identities_provider_subject_key').on(t.provider, t.subject), index('linked_identities_user_id_idx').on(t.userId)],
);

export type LinkedIdentityRow = typeof linkedIdentities.$inferSelect;

/**
 * Sign-in codes and links mailed to an address (issue 25): one live row per address (a new request voids
 * the older one), the 8-digit code as an HMAC under a key derived from SECRET_KEY (10^8 codes would fall to
 * a plain hash at once), the link token as SHA-256 (256 random bits). `user_id` is null for an address
 * with no account yet (PASSWORDLESS_SIGNUP). `browser_hash` and `screen_code_hash` bind the link to the
 * browser that asked (a cookie) or to the code shown on its screen. `failed_attempts` kills the row at 5.
 */
export const passwordlessCodes = pgTable(
  'passwordless_codes',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    email: text('email').notNull(),
    userId: integer('user_id').references(() => users.id, { onDelete: 'cascade' }),
    /** The account's security stamp when the code was mailed: a password reset or logout-all voids it. */
    securityStamp: integer('security_stamp'),
    codeHash: text('code_hash').notNull(),
    linkHash: text('link_hash').notNull(),
    browserHash: text('browser_hash'),
    screenCodeHash: text('screen_code_hash'),
    /** Where the page that asked sends the browser once signed in (checked against the allow-list again then). */
    redirectTo: text('redirect_to'),
    failedAttempts: integer('failed_attempts').notNull().default(0),
    createdAt: timestamptz('created_at').notNull(),
    expiresAt: timestamptz('expires_at').notNull(),
  },
  (t) => [
    uniqueIndex('passwordless_codes_email_key').on(sql`lower(${t.email})`),
    uniqueIndex('passwordless_codes_link_hash_key').on(t.linkHash),
    index('passwordless_codes_user_id_idx').on(t.userId),
  ],
);

export type PasswordlessCodeRow = typeof passwordlessCodes.$inferSelect;

/**
 * What panva's oidc-provider stores while we are an OpenID provider (issue 23): sessions, interactions,
 * authorization codes, grants, access and refresh tokens… one row per (model, id), its payload as the
 * library made it. `grant_id` lets a grant's revocation end every token issued under it in one statement;
 * `uid` finds a session by its uid; `user_code` a device code. Expired rows are purged by housekeeping.
 * @see src/services/provider/storage-adapter.ts
 */
export const providerRecords = pgTable(
  'provider_records',
  {
    model: text('model').notNull(),
    id: text('id').notNull(),
    payload: jsonb('payload').notNull(),
    grantId: text('grant_id'),
    uid: text('uid'),
    userCode: text('user_code'),
    /** The account the record speaks for, when it does: "Apps with access" and revocation find rows by it. */
    accountId: text('account_id'),
    expiresAt: timestamptz('expires_at'),
    consumedAt: timestamptz('consumed_at'),
  },
  (t) => [
    primaryKey({ columns: [t.model, t.id] }),
    index('provider_records_grant_id_idx').on(t.grantId),
    index('provider_records_uid_idx').on(t.uid),
    index('provider_records_user_code_idx').on(t.userCode),
    index('provider_records_account_id_idx').on(t.accountId),
    index('provider_records_expires_at_idx').on(t.expiresAt),
  ],
);

export type ProviderRecordRow = typeof providerRecords.$inferSelect;

/**
 * Applications registered to sign their users in through us (issue 23). A confidential client's secret is
 * never stored: it is an HMAC of the client id and `secret_salt` under a key derived from SECRET_KEY, made
 * again when oidc-provider needs to compare it. A copy of the database alone yields no usable secret, and
 * `rotate-secret` is a new salt.
 */
export const providerClients = pgTable('provider_clients', {
  clientId: text('client_id').primaryKey(),
  name: text('name').notNull(),
  secretSalt: text('secret_salt'),
  redirectUris: jsonb('redirect_uris').$type<string[]>().notNull(),
  postLogoutRedirectUris: jsonb('post_logout_redirect_uris').$type<string[]>().notNull(),
  grantTypes: jsonb('grant_types').$type<string[]>().notNull(),
  firstParty: boolean('first_party').notNull().default(false),
  createdAt: timestamptz('created_at').notNull(),
});

export type ProviderClientRow = typeof providerClients.$inferSelect;
