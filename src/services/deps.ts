import type { Clock } from '../clock.js';
import type { AccessTokens } from '../crypto/jwt.js';
import type { PasswordHasher } from '../crypto/passwords.js';
import type { Database } from '../db/client.js';
import type { DeferredWork } from './deferred.js';
import type { KeyedGate } from './keyed-gate.js';
import type { LockoutPolicy } from './lockout.js';
import type { PasswordPolicy } from './passwords-policy.js';

/** Structured logging, satisfied by pino (and so by Fastify's `app.log`). */
export interface Log {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

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
  deferred: DeferredWork;
}

/** Where a request came from, kept with sessions and security events. */
export interface ClientInfo {
  ip: string | null;
  userAgent: string | null;
  /** The request's id, so a security event's log line can be matched with the request's. */
  requestId?: string;
}
