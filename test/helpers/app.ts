import type { TestContext } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from '../../src/app.js';
import { FakeClock } from '../../src/clock.js';
import { loadConfig, type Config } from '../../src/config.js';
import { appManagementSources, buildManagementApp } from '../../src/http/management.js';
import { createMigratedTestDatabase, type DatabaseKind, type TestDatabase } from './databases.js';
import { TestSmtpServer } from './smtp.js';

export const TEST_SECRET_KEY = 'test-secret-key-0123456789abcdef0123456789abcdef';

export interface TestApp {
  app: FastifyInstance;
  database: TestDatabase;
  clock: FakeClock;
  config: Config;
}

/**
 * The real application on a fresh, migrated database of `kind`, with a fake clock that starts at the real
 * time (so tokens made outside the app, e.g. "like the Python service", line up) and the cheapest bcrypt cost.
 */
export async function buildTestApp(
  kind: DatabaseKind,
  env: Record<string, string> = {},
  options: Pick<AppOptions, 'logger'> = {},
): Promise<TestApp & { close(): Promise<void> }> {
  // Rate limits are off unless a test turns them on: most suites send many requests from one address.
  // So is load shedding: another suite's embedded database blocking the event loop must not shed this one's requests.
  const config = loadConfig({ BCRYPT_ROUNDS: '4', RATE_LIMIT_ENABLED: 'false', MAX_EVENT_LOOP_DELAY_MS: '0', ...env });
  const database = await createMigratedTestDatabase(kind);
  const clock = new FakeClock(Date.now());
  const app = await buildApp({ config, db: database.handle.db, secretKey: TEST_SECRET_KEY, clock, ...options });
  await app.ready();
  return {
    app,
    database,
    clock,
    config,
    async close() {
      await app.close();
      await database.destroy();
    },
  };
}

/** Per-test convenience: closes with the test. */
export async function useTestApp(t: TestContext, kind: DatabaseKind, env?: Record<string, string>): Promise<TestApp> {
  const testApp = await buildTestApp(kind, env);
  t.after(() => testApp.close());
  return testApp;
}

/** Delivers what the requests so far have queued: deferred lookups finish, then one run of the outbox sender. */
export async function deliverMail(app: FastifyInstance): Promise<{ sent: number; failed: number }> {
  await app.deps.deferred.settled();
  return app.mailSender.runOnce();
}

/** The management listener's app for `app` (what server.ts serves on MANAGEMENT_PORT), closed with the test. */
export async function useManagementApp(t: TestContext, app: FastifyInstance): Promise<FastifyInstance> {
  const management = await buildManagementApp(appManagementSources(app));
  t.after(() => management.close());
  return management;
}

export type MailTestApp = TestApp & { smtp: TestSmtpServer; close(): Promise<void> };

/** The real application delivering to an in-process SMTP server of its own (SMTP_URL); `close` stops both. */
export async function buildMailTestApp(kind: DatabaseKind, env: Record<string, string> = {}): Promise<MailTestApp> {
  const smtp = await TestSmtpServer.start();
  const testApp = await buildTestApp(kind, { SMTP_URL: smtp.url, ...env });
  return {
    ...testApp,
    smtp,
    async close() {
      await testApp.close();
      await smtp.stop();
    },
  };
}
