// The services' shared kernel: what every capability folder is handed (ServiceDeps) and the small types
// they share. It imports only from the floors below (clock, crypto, db, repositories, logging), never from
// a service, so every folder can depend on it without a circle.
import type { Clock } from '../clock.js';
import type { AccessTokens } from '../crypto/jwt.js';
import type { PasswordHasher } from '../crypto/passwords.js';
import type { Database } from '../db/client.js';
import type { KeyedGate } from '../keyed-gate.js';
import type { Log } from '../logging.js';
import type { LockoutPolicy } from '../repositories/login-failures.js';

export type { Log, LockoutPolicy };


export interface SessionPolicy {
  refreshTokenTtlSeconds: number;
  /** A session whose refresh token is not used for this long ends. */
  idleTimeoutSeconds: number;
  /** A session ends this long after login, however often it is refreshed. */
  maxLifetimeSeconds: number;
  /** A retired refresh token presented again within this window gets its successor back (not theft). */
  reuseIntervalSeconds: number;
  /** Open sessions per user; a login past it ends the least recently used one. */
  maxSessionsPerUser: number;
}

/** Keys and names of the second factor (issue 14), derived once from SECRET_KEY and PUBLIC_URL. */
export interface MfaSettings {
  /** AES-256-GCM key that seals TOTP secrets at rest. */
  sealingKey: Buffer;
  /** HMAC key of the stored recovery-code hashes. */
  recoveryCodeKey: Buffer;
  /** The name authenticator apps show next to the account. */
  issuer: string;
}

/** The mailed flows: where links point, how long tokens live, how much mail an address may be sent. */
export interface MailPolicy {
  /** config.publicUrl: the base of every mailed link, never a request's Host header. */
  publicUrl: string;
  appName: string;
  resetTokenTtlSeconds: number;
  verifyTokenTtlSeconds: number;
  perAddressPerHour: number;
  requireVerifiedEmail: boolean;
  /** Registration mails a verification link (when SMTP is set up, or verification is required). */
  verifyOnRegistration: boolean;
}

/** Sign-in by a mailed code or link (issue 25; services/passwordless/). */
export interface PasswordlessPolicy {
  enabled: boolean;
  /** An unknown address gets a mail whose code creates the account (PASSWORDLESS_SIGNUP). */
  signup: boolean;
  codeTtlSeconds: number;
  /** HMAC key of the stored codes (an 8-digit code's plain hash would fall to 10^8 guesses offline). */
  codeKey: Buffer;
}

/**
 * Work a request starts but does not wait for. The enumeration-safe endpoints (forgot-password,
 * request-verify-token) answer first and only then look the address up, so neither the answer nor its
 * timing can depend on whether the account exists. Made by `createDeferredWork` (deferred.ts).
 */
export interface DeferredWork {
  /** Runs `task` after the current turn of the event loop (after the reply is on its way); failures are logged. */
  run(name: string, task: () => Promise<unknown>): void;
  /** Resolves when every task started so far has finished (shutdown, tests). */
  settled(): Promise<void>;
}

/** The common and breached passwords (account/password-blocklist.ts loads them). */
export interface PasswordBlocklist {
  /** O(1); case-insensitive, after NFKC normalisation. */
  has(password: string): boolean;
  readonly size: number;
}

export interface PasswordPolicy {
  /** PASSWORD_MIN_LENGTH: at least 8. */
  minLength: number;
  blocklist: PasswordBlocklist;
}

/** What the domain services need, passed in so tests can swap the clock or the hasher. */
export interface ServiceDeps {
  db: Database;
  clock: Clock;
  hasher: PasswordHasher;
  passwordPolicy: PasswordPolicy;
  accessTokens: AccessTokens;
  accessTokenTtlSeconds: number;
  sessionPolicy: SessionPolicy;
  lockoutPolicy: LockoutPolicy;
  /** Concurrent logins under one name wait their turn here (services/lockout.ts `loginGate`). */
  loginGate: KeyedGate;
  /** Key for deriving a refresh token's successor (see services/tokens.ts). */
  refreshTokenKey: string;
  mfa: MfaSettings;
  log: Log;
  mail: MailPolicy;
  passwordless: PasswordlessPolicy;
  deferred: DeferredWork;
}

/** Where a request came from, kept with sessions and security events. */
export interface ClientInfo {
  ip: string | null;
  userAgent: string | null;
  /** The request's id, so a security event's log line can be matched with the request's. */
  requestId?: string;
}
