import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import Type, { type Static } from 'typebox';
import Value from 'typebox/value';
import { parseOidcProviders, type OidcProviderConfig } from './config-federation.js';

// Spelled out: literals made by .map() would widen to string, and the static type to never.
const LogLevel = Type.Union([
  Type.Literal('fatal'),
  Type.Literal('error'),
  Type.Literal('warn'),
  Type.Literal('info'),
  Type.Literal('debug'),
  Type.Literal('trace'),
  Type.Literal('silent'),
]);

/** Every variable the service reads, with its type, range and default; docs/CONFIGURATION.md's table documents each. */
export const EnvSchema = Type.Object({
  SECRET_KEY: Type.Optional(Type.String({ minLength: 16, description: 'HS256 signing key, shared with the Python service' })),
  DATABASE_URL: Type.Optional(
    Type.String({ pattern: '^postgres(ql)?(\\+psycopg2?)?://', description: 'a postgresql:// (or postgresql+psycopg://) URL' }),
  ),
  ACCESS_TOKEN_EXPIRE_MINUTES: Type.Integer({ minimum: 1, maximum: 1440, default: 30 }),
  REFRESH_TOKEN_EXPIRE_DAYS: Type.Integer({ minimum: 1, maximum: 365, default: 7 }),
  BCRYPT_ROUNDS: Type.Integer({ minimum: 4, maximum: 17, default: 12 }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8000 }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  DATA_DIR: Type.String({ minLength: 1, default: './data' }),
  LOG_LEVEL: Type.Union(LogLevel.anyOf, { default: 'info' }),
  BODY_LIMIT_BYTES: Type.Integer({ minimum: 1024, maximum: 10485760, default: 65536 }),
  SESSION_IDLE_TIMEOUT_HOURS: Type.Integer({ minimum: 1, maximum: 8760, default: 72 }),
  SESSION_MAX_LIFETIME_DAYS: Type.Integer({ minimum: 1, maximum: 3650, default: 30 }),
  REFRESH_REUSE_INTERVAL_SECONDS: Type.Integer({ minimum: 0, maximum: 300, default: 10 }),
  MAX_SESSIONS_PER_USER: Type.Integer({ minimum: 1, maximum: 10000, default: 100 }),
  INTROSPECTION_SECRET: Type.Optional(Type.String({ minLength: 16 })),
  LOCKOUT_THRESHOLD: Type.Integer({ minimum: 1, maximum: 100, default: 5 }),
  LOCKOUT_BASE_DELAY_SECONDS: Type.Integer({ minimum: 1, maximum: 86400, default: 60 }),
  LOCKOUT_MAX_DELAY_SECONDS: Type.Integer({ minimum: 1, maximum: 86400, default: 1200 }),
  LOCKOUT_RESET_HOURS: Type.Integer({ minimum: 1, maximum: 720, default: 12 }),
  LOGIN_QUEUE_WAIT_SECONDS: Type.Integer({ minimum: 1, maximum: 60, default: 10 }),
  RATE_LIMIT_ENABLED: Type.Boolean({ default: true }),
  RATE_LIMIT_WINDOW_SECONDS: Type.Integer({ minimum: 1, maximum: 86400, default: 60 }),
  RATE_LIMIT_LOGIN_PER_IP: Type.Integer({ minimum: 1, default: 30 }),
  RATE_LIMIT_LOGIN_PER_ACCOUNT: Type.Integer({ minimum: 1, default: 10 }),
  RATE_LIMIT_REGISTER_PER_IP: Type.Integer({ minimum: 1, default: 10 }),
  RATE_LIMIT_REFRESH_PER_IP: Type.Integer({ minimum: 1, default: 60 }),
  RATE_LIMIT_PASSWORD_PER_IP: Type.Integer({ minimum: 1, default: 10 }),
  RATE_LIMIT_PASSWORD_PER_ACCOUNT: Type.Integer({ minimum: 1, default: 5 }),
  RATE_LIMIT_IPV6_PREFIX: Type.Integer({ minimum: 16, maximum: 128, default: 64 }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://', description: 'a redis:// or rediss:// URL' })),
  RATE_LIMIT_REDIS_PREFIX: Type.String({ minLength: 1, maxLength: 100, default: 'user-services:rate-limit:' }),
  TRUST_PROXY: Type.String({ default: 'false', description: 'false, true, or a comma-separated list of proxy addresses/CIDRs' }),
  CORS_ORIGINS: Type.String({ default: '', description: 'comma-separated allowed origins; empty disables CORS' }),
  AUDIT_RETENTION_DAYS: Type.Integer({ minimum: 1, maximum: 3650, default: 90 }),
  REQUEST_TIMEOUT_SECONDS: Type.Integer({ minimum: 1, maximum: 600, default: 30 }),
  MAX_EVENT_LOOP_DELAY_MS: Type.Integer({ minimum: 0, maximum: 60000, default: 1000 }),
  WEB_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 64, default: 1 }),
  PASSWORD_HASH: Type.Union([Type.Literal('bcrypt'), Type.Literal('argon2id')], { default: 'bcrypt' }),
  ARGON2_MEMORY_KIB: Type.Integer({ minimum: 1024, maximum: 1048576, default: 19456 }),
  ARGON2_TIME_COST: Type.Integer({ minimum: 1, maximum: 20, default: 2 }),
  // NIST SP 800-63B §5.1.1.2: at least 8; at most 64 so that a 64-character password always fits.
  PASSWORD_MIN_LENGTH: Type.Integer({ minimum: 8, maximum: 64, default: 8 }),
  HASH_QUEUE_LIMIT: Type.Integer({ minimum: 1, maximum: 10000, default: 32 }),
  JWT_ALGORITHM: Type.Union([Type.Literal('HS256'), Type.Literal('EdDSA'), Type.Literal('ES256'), Type.Literal('RS256')], {
    default: 'HS256',
  }),
  JWT_ISSUER: Type.Optional(
    Type.String({ pattern: '^https?://[^\\s]+$', description: 'the public base URL of this service, e.g. https://auth.example.com' }),
  ),
  JWT_AUDIENCE: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  MANAGEMENT_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 9000 }),
  MANAGEMENT_HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  SHUTDOWN_TIMEOUT_SECONDS: Type.Integer({ minimum: 1, maximum: 600, default: 10 }),
  PUBLIC_URL: Type.Optional(
    Type.String({ pattern: '^https?://[^\\s/]+(/[^\\s]*)?$', description: 'the URL people and clients reach this service at, e.g. https://auth.example.com' }),
  ),
  SMTP_URL: Type.Optional(Type.String({ pattern: '^smtps?://[^\\s]+$', description: 'an smtp:// or smtps:// URL, e.g. smtp://user:pass@mail.example.com:587' })),
  MAIL_FROM: Type.String({ minLength: 3, maxLength: 254, default: 'user-services <no-reply@localhost>' }),
  APP_NAME: Type.String({ minLength: 1, maxLength: 64, default: 'user-services' }),
  RESET_TOKEN_EXPIRE_MINUTES: Type.Integer({ minimum: 5, maximum: 1440, default: 30 }),
  // NIST SP 800-63B-4 caps the life of a code sent by e-mail at 24 hours.
  VERIFY_TOKEN_EXPIRE_HOURS: Type.Integer({ minimum: 1, maximum: 24, default: 24 }),
  REQUIRE_VERIFIED_EMAIL: Type.Boolean({ default: false }),
  MAIL_PER_ADDRESS_PER_HOUR: Type.Integer({ minimum: 1, maximum: 100, default: 5 }),
  ALLOWED_REDIRECT_ORIGINS: Type.String({ default: '', description: 'comma-separated origins (https://app.example.com) the account pages may send a browser back to after sign-in' }),
  // Issue 25. Mail always has a way out (SMTP_URL, else DATA_DIR/outbox/), so passwordless sign-in is on by default.
  PASSWORDLESS_ENABLED: Type.Boolean({ default: true }),
  PASSWORDLESS_SIGNUP: Type.Boolean({ default: false }),
  PASSWORDLESS_CODE_MINUTES: Type.Integer({ minimum: 1, maximum: 60, default: 10 }),
  // Issue 23, first increment: off by default until the provider shares the service's discovery document and key set.
  PROVIDER_ENABLED: Type.Boolean({ default: false, description: 'be an OpenID provider: other applications sign in through us at PUBLIC_URL/oidc' }),
  OIDC_PROVIDERS: Type.String({ default: '', description: 'comma-separated names of OpenID Connect providers; each is set up by its OIDC_<NAME>_* variables' }),
});

type Env = Static<typeof EnvSchema>;

/** Says what is expected in words a person setting the variable can act on. */
function describeProblem(name: string, fallback: string): string {
  const schema = EnvSchema.properties[name as keyof Env] as { anyOf?: { const: string }[]; description?: string; pattern?: string };
  if (schema.anyOf) return `must be one of ${schema.anyOf.map((s) => s.const).join(', ')}`;
  if (schema.pattern && schema.description) return `must be ${schema.description}`;
  return fallback;
}

/** A value as an error message may quote it: secrets hidden, and any password inside a URL masked. */
function shown(name: string, value: unknown): string {
  if (name === 'SECRET_KEY' || name === 'INTROSPECTION_SECRET') return '(hidden)';
  const quoted = JSON.stringify(value);
  return typeof value === 'string' ? quoted.replace(/(\/\/[^/@\s]*?:)[^@\s]*@/, '$1***@') : quoted;
}

export interface Config {
  readonly secretKey: string | undefined;
  /** Normalised to `postgresql://`; undefined means the embedded PGlite database in `dataDir`. */
  readonly databaseUrl: string | undefined;
  readonly accessTokenTtlSeconds: number;
  readonly refreshTokenTtlSeconds: number;
  readonly bcryptRounds: number;
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly logLevel: Env['LOG_LEVEL'];
  readonly bodyLimitBytes: number;
  readonly sessionIdleTimeoutSeconds: number;
  readonly sessionMaxLifetimeSeconds: number;
  readonly refreshReuseIntervalSeconds: number;
  /** Open sessions per user; a login past it ends the least recently used one. */
  readonly maxSessionsPerUser: number;
  /** Shared with resource servers for /oauth/introspect; unset disables introspection. */
  readonly introspectionSecret: string | undefined;
  readonly lockout: {
    threshold: number;
    baseDelaySeconds: number;
    maxDelaySeconds: number;
    resetAfterSeconds: number;
    /** How long a login waits for its turn behind concurrent logins under the same name (services/sign-in/lockout.ts). */
    queueWaitSeconds: number;
  };
  /** Requests per `windowSeconds`; `enabled: false` turns the limits off (benchmarks, trusted networks). */
  readonly rateLimits: {
    enabled: boolean;
    windowSeconds: number;
    loginPerIp: number;
    loginPerAccount: number;
    registerPerIp: number;
    refreshPerIp: number;
    passwordPerIp: number;
    passwordPerAccount: number;
    /** Per-IP budgets key an IPv6 client by its network of this many bits (one customer's /64 by default). */
    ipv6Prefix: number;
  };
  readonly redisUrl: string | undefined;
  readonly redisPrefix: string;
  /** Fastify's `trustProxy`: whether, and which, X-Forwarded-For hops to believe. */
  readonly trustProxy: boolean | string[];
  readonly corsOrigins: string[];
  readonly auditRetentionDays: number;
  readonly requestTimeoutSeconds: number;
  /** Mean event-loop delay past which new requests are shed with 503 (http/plugins/load-shedding.ts); 0 turns it off. */
  readonly maxEventLoopDelayMs: number;
  /** Worker processes (node:cluster); more than one needs PostgreSQL. */
  readonly webConcurrency: number;
  /**
   * How new password hashes are made (bcrypt stays the default: its hashes are the Python service's own) and
   * how many hash operations may run or wait before requests get 503. The queue limit's default, 32: two
   * hash at once on two cores (crypto/hash-queue.ts), so the last one in waits about 32 × 0.25 s / 2 = 4 s
   * at bcrypt cost 12, 0.3 s with argon2id at OWASP's cost: bounded, and far below REQUEST_TIMEOUT_SECONDS.
   */
  readonly passwordHashing: {
    algorithm: 'bcrypt' | 'argon2id';
    bcryptRounds: number;
    argon2: { memoryKiB: number; timeCost: number };
    queueLimit: number;
  };
  readonly passwordMinLength: number;
  /**
   * HS256 (with SECRET_KEY) is the Python service's algorithm; the asymmetric ones sign with a key pair kept
   * in the database and published as a JWKS. `issuer` / `audience` go into every token and are then required.
   */
  /**
   * Where people and clients reach the service, without a trailing slash: the base of mailed links and of the
   * discovery document. Configured, never taken from a request's Host header (that would let a request choose
   * where links point). PUBLIC_URL, else JWT_ISSUER, else the listening address.
   */
  readonly publicUrl: string;
  /** Mailed links and tokens (services/account/account-mail.ts, src/mail/). No SMTP URL: mail is written to `DATA_DIR/outbox/`. */
  readonly mail: {
    smtpUrl: string | undefined;
    from: string;
    appName: string;
    resetTokenTtlSeconds: number;
    verifyTokenTtlSeconds: number;
    /** Mails a person can ask for (reset, verification, e-mail change) per address and hour; past it, none is sent. */
    perAddressPerHour: number;
    /** A correct password of an account whose address is not verified is refused (403). */
    requireVerifiedEmail: boolean;
  };
  /**
   * The management listener (server.ts): `/metrics`, `/healthz`, `/readyz` for the operator's scraper and
   * probes, on loopback by default — route latencies and process figures are not for the internet.
   */
  readonly management: { port: number; host: string };
  /**
   * On SIGTERM: how long idle keep-alive connections are left for the proxy to close (and in-flight requests
   * to finish) before the rest are cut. Longer than the proxy's upstream keepalive_timeout (deploy/nginx.conf).
   */
  readonly shutdownTimeoutSeconds: number;
  /** Sign-in by a code or link mailed to the address (issue 25, docs/PASSWORDLESS.md). */
  readonly passwordless: { enabled: boolean; signup: boolean; codeTtlSeconds: number };
  /** Being an OpenID provider (issue 23): its issuer is PUBLIC_URL + '/oidc'. */
  readonly provider: { enabled: boolean };
  /** Origins (scheme://host[:port]) `?redirect_to=` may name after a page sign-in, besides PUBLIC_URL's own (issue 15). */
  readonly allowedRedirectOrigins: string[];
  /** Sign-in with other OpenID Connect providers (issue 17): OIDC_PROVIDERS and each one's OIDC_<NAME>_* variables. */
  readonly oidcProviders: readonly OidcProviderConfig[];
  readonly jwt: {
    algorithm: Env['JWT_ALGORITHM'];
    issuer: string | undefined;
    audience: string | undefined;
  };
}

/** Fastify 5 treats a bare hop count as "trust nothing", so only booleans and address lists are offered. */
function parseTrustProxy(value: string): boolean | string[] {
  if (value === 'true' || value === 'false') return value === 'true';
  return value.split(',').map((v) => v.trim()).filter(Boolean);
}

/** The address a local client reaches the listener at: a wildcard host is reached through loopback. */
function listeningUrl(host: string, port: number): string {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

const list = (value: string) => value.split(',').map((v) => v.trim()).filter(Boolean);

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** SQLAlchemy URLs (`postgresql+psycopg://`) from the Python service's `.env` work unchanged. */
export function normaliseDatabaseUrl(url: string): string {
  return url.replace(/^postgres(ql)?(\+psycopg2?)?:\/\//, 'postgresql://');
}

/**
 * Validates the environment once, at start-up. Pure: the caller passes the variables in.
 * Empty strings count as unset, as they do in most `.env` tooling.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const known = Object.fromEntries(
    Object.keys(EnvSchema.properties)
      .filter((k) => env[k] !== undefined && env[k] !== '')
      .map((k) => [k, env[k]]),
  );
  const value = Value.Convert(EnvSchema, Value.Default(EnvSchema, known)) as Env;
  if (!Value.Check(EnvSchema, value)) {
    const byName = new Map<string, string>();
    for (const error of Value.Errors(EnvSchema, value)) {
      const name = error.instancePath.slice(1);
      if (!byName.has(name)) byName.set(name, `${name} ${describeProblem(name, error.message)} (got ${shown(name, known[name])})`);
    }
    throw new ConfigError([...byName.values()]);
  }
  const oidc = parseOidcProviders(value.OIDC_PROVIDERS, env);
  if (oidc.problems.length > 0) throw new ConfigError(oidc.problems);
  return Object.freeze({
    secretKey: value.SECRET_KEY,
    databaseUrl: value.DATABASE_URL === undefined ? undefined : normaliseDatabaseUrl(value.DATABASE_URL),
    accessTokenTtlSeconds: value.ACCESS_TOKEN_EXPIRE_MINUTES * 60,
    refreshTokenTtlSeconds: value.REFRESH_TOKEN_EXPIRE_DAYS * 86400,
    bcryptRounds: value.BCRYPT_ROUNDS,
    port: value.PORT,
    host: value.HOST,
    dataDir: value.DATA_DIR,
    logLevel: value.LOG_LEVEL,
    bodyLimitBytes: value.BODY_LIMIT_BYTES,
    sessionIdleTimeoutSeconds: value.SESSION_IDLE_TIMEOUT_HOURS * 3600,
    sessionMaxLifetimeSeconds: value.SESSION_MAX_LIFETIME_DAYS * 86400,
    refreshReuseIntervalSeconds: value.REFRESH_REUSE_INTERVAL_SECONDS,
    maxSessionsPerUser: value.MAX_SESSIONS_PER_USER,
    introspectionSecret: value.INTROSPECTION_SECRET,
    lockout: {
      threshold: value.LOCKOUT_THRESHOLD,
      baseDelaySeconds: value.LOCKOUT_BASE_DELAY_SECONDS,
      maxDelaySeconds: value.LOCKOUT_MAX_DELAY_SECONDS,
      resetAfterSeconds: value.LOCKOUT_RESET_HOURS * 3600,
      queueWaitSeconds: value.LOGIN_QUEUE_WAIT_SECONDS,
    },
    rateLimits: {
      enabled: value.RATE_LIMIT_ENABLED,
      windowSeconds: value.RATE_LIMIT_WINDOW_SECONDS,
      loginPerIp: value.RATE_LIMIT_LOGIN_PER_IP,
      loginPerAccount: value.RATE_LIMIT_LOGIN_PER_ACCOUNT,
      registerPerIp: value.RATE_LIMIT_REGISTER_PER_IP,
      refreshPerIp: value.RATE_LIMIT_REFRESH_PER_IP,
      passwordPerIp: value.RATE_LIMIT_PASSWORD_PER_IP,
      passwordPerAccount: value.RATE_LIMIT_PASSWORD_PER_ACCOUNT,
      ipv6Prefix: value.RATE_LIMIT_IPV6_PREFIX,
    },
    redisUrl: value.REDIS_URL,
    redisPrefix: value.RATE_LIMIT_REDIS_PREFIX,
    trustProxy: parseTrustProxy(value.TRUST_PROXY),
    corsOrigins: list(value.CORS_ORIGINS),
    auditRetentionDays: value.AUDIT_RETENTION_DAYS,
    requestTimeoutSeconds: value.REQUEST_TIMEOUT_SECONDS,
    maxEventLoopDelayMs: value.MAX_EVENT_LOOP_DELAY_MS,
    webConcurrency: value.WEB_CONCURRENCY,
    passwordHashing: {
      algorithm: value.PASSWORD_HASH,
      bcryptRounds: value.BCRYPT_ROUNDS,
      argon2: { memoryKiB: value.ARGON2_MEMORY_KIB, timeCost: value.ARGON2_TIME_COST },
      queueLimit: value.HASH_QUEUE_LIMIT,
    },
    passwordMinLength: value.PASSWORD_MIN_LENGTH,
    publicUrl: (value.PUBLIC_URL ?? value.JWT_ISSUER ?? listeningUrl(value.HOST, value.PORT)).replace(/\/+$/, ''),
    mail: {
      smtpUrl: value.SMTP_URL,
      from: value.MAIL_FROM,
      appName: value.APP_NAME,
      resetTokenTtlSeconds: value.RESET_TOKEN_EXPIRE_MINUTES * 60,
      verifyTokenTtlSeconds: value.VERIFY_TOKEN_EXPIRE_HOURS * 3600,
      perAddressPerHour: value.MAIL_PER_ADDRESS_PER_HOUR,
      requireVerifiedEmail: value.REQUIRE_VERIFIED_EMAIL,
    },
    management: { port: value.MANAGEMENT_PORT, host: value.MANAGEMENT_HOST },
    shutdownTimeoutSeconds: value.SHUTDOWN_TIMEOUT_SECONDS,
    passwordless: { enabled: value.PASSWORDLESS_ENABLED, signup: value.PASSWORDLESS_SIGNUP, codeTtlSeconds: value.PASSWORDLESS_CODE_MINUTES * 60 },
    provider: { enabled: value.PROVIDER_ENABLED },
    allowedRedirectOrigins: list(value.ALLOWED_REDIRECT_ORIGINS).map((origin) => origin.replace(/\/+$/, '')),
    oidcProviders: oidc.providers,
    jwt: {
      algorithm: value.JWT_ALGORITHM,
      issuer: value.JWT_ISSUER?.replace(/\/+$/, ''),
      audience: value.JWT_AUDIENCE,
    },
  });
}

/** Reads `.env` if present. The process environment wins over the file. */
export function environmentWithDotEnv(env: NodeJS.ProcessEnv, path = '.env'): Record<string, string | undefined> {
  const fromFile = existsSync(path) ? parseEnv(readFileSync(path, 'utf8')) : {};
  return { ...fromFile, ...env };
}
