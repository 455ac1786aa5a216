import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import cors from '@fastify/cors';
import type { Redis } from 'ioredis';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config.js';
import { createAccessTokens, hmacKeys, type JwtKeys } from './crypto/jwt.js';
import { createPasswordHasher, type PasswordHasher } from './crypto/passwords.js';
import type { Database } from './db/client.js';
import { registerErrorHandling } from './http/errors.js';
import { AccessLog } from './http/access-log.js';
import { registerLingeringClose } from './http/plugins/lingering-close.js';
import { registerLoadShedding } from './http/plugins/load-shedding.js';
import { registerMetrics } from './http/plugins/metrics.js';
import { helmetHeaders, registerSecurityHeaders, setSecurityHeaders } from './http/plugins/security-headers.js';
import { registerThrottling } from './http/plugins/throttling.js';
import { adminRoutes } from './http/routes/admin.js';
import { metaRoutes } from './http/routes/meta.js';
import { mfaRoutes } from './http/routes/mfa.js';
import { oauthRoutes } from './http/routes/oauth.js';
import { sessionRoutes } from './http/routes/sessions.js';
import { userRoutes } from './http/routes/user.js';
import { passwordlessRoutes } from './http/routes/passwordless.js';
import { Detail } from './http/schemas/common.js';
import type { ServiceDeps } from './services/deps.js';
import { createMfaSettings } from './services/second-factor/totp-enrolment.js';
import { loginGate } from './services/sign-in/lockout.js';
import { loadPasswordBlocklist } from './services/account/password-blocklist.js';
import { openKeyring } from './services/sessions/signing-keys.js';
import { wellKnownRoutes } from './http/routes/well-known.js';
import { accountRoutes } from './http/routes/account.js';
import { accountPages } from './http/pages/account-pages.js';
import { accountSite, pageSessionAccount } from './http/pages/site.js';
import { createProviderRegistry } from './services/federation/provider-registry.js';
import { deriveKey } from './crypto/aead.js';
import { createMailSender, type MailSender } from './mail/sender.js';
import { folderTransport, smtpTransport } from './mail/transport.js';
import { createDeferredWork } from './services/deferred.js';
import { PROVIDER_PATH, providerRoutes } from './http/routes/provider.js';
import { adminClientRoutes } from './http/routes/admin-clients.js';

declare module 'fastify' {
  interface FastifyInstance {
    deps: ServiceDeps;
    /** Delivers the mail outbox; server.ts starts it, tests run it by hand. */
    mailSender: MailSender;
  }
}

export const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

const FORM_BODY_LIMIT_BYTES = 16 * 1024;

/** Malformed body, too large, not JSON or a form (the error handler gives each its own `detail`). */
const BODY_REFUSALS = { 400: Detail, 413: Detail, 415: Detail };

export interface AppOptions {
  config: Config;
  db: Database;
  /** The resolved signing key (config's SECRET_KEY, or the generated one kept with PGlite). */
  secretKey: string;
  clock?: Clock;
  hasher?: PasswordHasher;
  logger?: FastifyServerOptions['logger'];
  /** Called for every route as it is registered (the CLI's `routes` command lists them). */
  onRoute?: (method: string, url: string) => void;
}

/**
 * Commands fail at once while Redis is unreachable (no offline queue), so a Redis outage costs requests
 * nothing but a log line; ioredis keeps reconnecting in the background.
 */
async function connectRedis(url: string, app: FastifyInstance): Promise<Redis> {
  // Loaded only when configured: without REDIS_URL the process never pays for the client.
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: 1000 });
  let reported = false;
  redis.on('error', (error) => {
    if (!reported) app.log.warn({ err: error }, 'redis connection error');
    reported = true;
  });
  redis.on('ready', () => {
    reported = false;
  });
  return redis;
}

/** HS256 signs with SECRET_KEY, as the Python service does; the other algorithms with the key ring. */
function jwtKeys(options: AppOptions, clock: Clock): Promise<JwtKeys> | JwtKeys {
  const { config, db, secretKey } = options;
  const { algorithm } = config.jwt;
  if (algorithm === 'HS256') return hmacKeys(secretKey);
  return openKeyring({ db, clock }, { algorithm, secretKey, accessTokenTtlSeconds: config.accessTokenTtlSeconds });
}

/**
 * The OpenID providers of OIDC_PROVIDERS, discovered before the app serves (issue 17): one that cannot be
 * discovered is logged and left out, and tried again on its next use; it never stops the service.
 */
async function openIdProviders(config: Config, clock: Clock, app: FastifyInstance, secretKey: string) {
  const registry = createProviderRegistry(config.oidcProviders, { clock, log: app.log });
  await registry.start();
  return { registry, flowKey: deriveKey(secretKey, 'oidc-flow') };
}

/** Being an OpenID provider (issue 23, PROVIDER_ENABLED): the library configured on our database and pages. */
async function openIdProvider(config: Config, db: Database, clock: Clock, secretKey: string, app: FastifyInstance) {
  if (!config.provider.enabled) return undefined;
  // Loaded only when enabled: most deployments never pay for the library (memory, start-up).
  const { createOpenIdProvider } = await import('./services/provider/configuration.js');
  return createOpenIdProvider(
    { db, clock },
    {
      issuer: `${config.publicUrl}${PROVIDER_PATH}`,
      interactionPath: (uid) => `/account/authorize/${uid}`,
      secretKey,
      clientSecretKey: deriveKey(secretKey, 'provider-client-secret'),
      cookieKeys: [deriveKey(secretKey, 'provider-cookies').toString('base64url')],
      trustProxy: config.trustProxy !== false,
      accountOfPageSession: (cookieHeader) => pageSessionAccount(app, config.publicUrl, cookieHeader),
      lifetimes: { accessToken: config.accessTokenTtlSeconds, refreshToken: config.refreshTokenTtlSeconds, session: config.sessionMaxLifetimeSeconds },
    },
  );
}

/** Builds the application; never listens. Used by the server process and by the tests. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { config, db } = options;
  const clock = options.clock ?? systemClock;
  const keys = await jwtKeys(options, clock);
  const securityHeaders = helmetHeaders({
    // Plain-http deployments behind a TLS proxy are common; forcing https sub-resources would break /docs there.
    contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
  });
  const app = Fastify({
    logger: options.logger ?? false,
    logController: new AccessLog(),
    bodyLimit: config.bodyLimitBytes,
    // A caller's X-Request-Id is kept for correlation only when short and plain; anything else is replaced
    // so logs cannot be flooded or forged through it.
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.:-]{1,64}$/.test(given) ? given : randomUUID();
    },
    ajv: { customOptions: { coerceTypes: false, allErrors: true, verbose: true } },
    // While shutting down, a request that still arrives on a kept-alive connection is served (with
    // `Connection: close`) rather than refused: a proxy cannot safely retry a refused POST elsewhere, so a
    // 503 here would fail a request in every rolling restart (server.ts, handleShutdownSignals).
    return503OnClosing: false,
    trustProxy: config.trustProxy,
    // Slow clients (slowloris) cannot hold a connection open: the whole request must arrive in time.
    requestTimeout: config.requestTimeoutSeconds * 1000,
    connectionTimeout: config.requestTimeoutSeconds * 1000,
    // The router refuses malformed or over-long path parameters before any hook runs: without this its
    // own body would name Fastify and echo the path, and the security headers would be missing.
    frameworkErrors: (error, request, reply) => {
      const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
      return setSecurityHeaders(request, reply as FastifyReply, securityHeaders)
        .code(tooLong ? 414 : 400)
        .send({ detail: tooLong ? 'URI Too Long' : 'Malformed URL' });
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorate('deps', {
    db,
    clock,
    hasher: options.hasher ?? createPasswordHasher(config.passwordHashing),
    passwordPolicy: { minLength: config.passwordMinLength, blocklist: await loadPasswordBlocklist() },
    accessTokens: createAccessTokens(
      keys,
      { ttlSeconds: config.accessTokenTtlSeconds, issuer: config.jwt.issuer, audience: config.jwt.audience },
      clock,
    ),
    accessTokenTtlSeconds: config.accessTokenTtlSeconds,
    sessionPolicy: {
      refreshTokenTtlSeconds: config.refreshTokenTtlSeconds,
      idleTimeoutSeconds: config.sessionIdleTimeoutSeconds,
      maxLifetimeSeconds: config.sessionMaxLifetimeSeconds,
      reuseIntervalSeconds: config.refreshReuseIntervalSeconds,
      maxSessionsPerUser: config.maxSessionsPerUser,
    },
    lockoutPolicy: config.lockout,
    loginGate: loginGate(config.lockout),
    refreshTokenKey: options.secretKey,
    mfa: createMfaSettings(options.secretKey, config.publicUrl),
    log: app.log,
    mail: {
      publicUrl: config.publicUrl,
      appName: config.mail.appName,
      resetTokenTtlSeconds: config.mail.resetTokenTtlSeconds,
      verifyTokenTtlSeconds: config.mail.verifyTokenTtlSeconds,
      perAddressPerHour: config.mail.perAddressPerHour,
      requireVerifiedEmail: config.mail.requireVerifiedEmail,
      verifyOnRegistration: config.mail.smtpUrl !== undefined || config.mail.requireVerifiedEmail,
    },
    passwordless: { ...config.passwordless, codeKey: deriveKey(options.secretKey, 'passwordless-code') },
    deferred: createDeferredWork(app.log),
  } satisfies ServiceDeps);
  // Without SMTP_URL, mail lands as .eml files in DATA_DIR/outbox/ (the `npm start` default).
  const transport = config.mail.smtpUrl
    ? smtpTransport(config.mail.smtpUrl, config.mail.from)
    : folderTransport(join(config.dataDir, 'outbox'), config.mail.from);
  app.decorate('mailSender', createMailSender({ db, clock, log: app.log }, transport));
  // Work a request left running (a reset mail being queued) finishes before the database closes.
  app.addHook('onClose', () => app.deps.deferred.settled());
  app.decorateRequest('user', null);
  app.decorateRequest('claims', null);
  // Every body the API accepts is a small form: credentials or a token (a password of 1,024 four-byte
  // characters, form-encoded, is 12 KiB). A larger body is refused before it is read in full or parsed;
  // BODY_LIMIT_BYTES still caps everything else.
  const formBodyLimit = Math.min(FORM_BODY_LIMIT_BYTES, config.bodyLimitBytes);
  app.addHook('onRoute', (route) => {
    if (route.schema === undefined || route.schema.hide) return;
    // Refusals that happen before any handler runs, documented once, here: a route with a body may refuse
    // it, and any route but the exempt ones may be shed when the service is overloaded.
    const refusals = route.config?.exemptFromLoadShedding ? {} : { 503: Detail };
    if (route.schema.body !== undefined) {
      route.bodyLimit ??= formBodyLimit;
      Object.assign(refusals, BODY_REFUSALS);
    }
    route.schema.response = { ...refusals, ...(route.schema.response as object | undefined) };
  });
  const { onRoute } = options;
  if (onRoute) {
    app.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) if (method !== 'HEAD') onRoute(method, route.url);
    });
  }
  registerSecurityHeaders(app, securityHeaders);
  registerLingeringClose(app);
  // Only JSON and forms are accepted: Fastify's default text/plain parser would turn a stray text body
  // into a string that then fails validation as 422; 415 says what is actually wrong.
  app.removeContentTypeParser('text/plain');
  await app.register(formbody);
  if (config.corsOrigins.length > 0) {
    await app.register(cors, { origin: config.corsOrigins, methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'], maxAge: 600 });
  }
  await registerMetrics(app);
  await registerLoadShedding(app, { maxEventLoopDelayMs: config.maxEventLoopDelayMs, onShed: (reason) => app.metrics.loadShed.inc({ reason }) });
  const redis = config.redisUrl ? await connectRedis(config.redisUrl, app) : undefined;
  if (redis) app.addHook('onClose', async () => void redis.disconnect());
  await registerThrottling(app, config, redis, clock);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'user-services',
        version: VERSION,
        description: 'User authentication: OAuth2 password flow, JWT access tokens, rotating refresh tokens.',
      },
      components: {
        securitySchemes: {
          OAuth2PasswordBearer: { type: 'oauth2', flows: { password: { tokenUrl: '/user/token', scopes: {} } } },
          IntrospectionBasic: { type: 'http', scheme: 'basic', description: 'Any client id, INTROSPECTION_SECRET as the password' },
          IntrospectionBearer: { type: 'http', scheme: 'bearer', description: 'INTROSPECTION_SECRET as the bearer token' },
        },
      },
    },
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    // Same reason as above: plain-http deployments must still load the UI's own assets. Swagger UI also
    // sets inline styles (its response highlighter); inline *styles* are allowed on these pages only,
    // inline scripts stay blocked.
    transformStaticCSP: (header) =>
      header.replace(/\s*upgrade-insecure-requests;?/, '').replace(/style-src ([^;]*);/, "style-src $1 'unsafe-inline';"),
  });

  registerErrorHandling(app);
  await app.register(metaRoutes, { version: VERSION });
  await app.register(userRoutes, { prefix: '/user' });
  await app.register(sessionRoutes, { prefix: '/user' });
  await app.register(mfaRoutes, { prefix: '/user/mfa' });
  await app.register(accountRoutes, { prefix: '/user' });
  if (config.passwordless.enabled) await app.register(passwordlessRoutes, { prefix: '/user/passwordless' });
  await app.register(accountPages, { prefix: '/user', appName: config.mail.appName });
  const provider = await openIdProvider(config, db, clock, options.secretKey, app);
  await app.register(accountSite, {
    prefix: '/account',
    appName: config.mail.appName,
    publicUrl: config.publicUrl,
    allowedRedirectOrigins: config.allowedRedirectOrigins,
    sessionMaxLifetimeSeconds: config.sessionMaxLifetimeSeconds,
    oidc: await openIdProviders(config, clock, app, options.secretKey),
    ...(provider && { provider }),
  });
  await app.register(oauthRoutes, { prefix: '/oauth', introspectionSecret: config.introspectionSecret });
  await app.register(wellKnownRoutes, { prefix: '/.well-known', keys, issuer: config.jwt.issuer, publicUrl: config.publicUrl });
  await app.register(adminRoutes, { prefix: '/admin' });
  if (provider) {
    await app.register(providerRoutes, { provider });
    await app.register(adminClientRoutes, { prefix: '/admin', clientSecretKey: deriveKey(options.secretKey, 'provider-client-secret') });
  }
  return app;
}

