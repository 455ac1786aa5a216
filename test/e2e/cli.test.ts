import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { childEnv, curl, freePort, ROOT, startServer } from './helpers.js';
import { execFile, spawnSync } from 'node:child_process';
import { PGlite } from '@electric-sql/pglite';

const BIN = join(ROOT, 'bin/user-services.js');

function cli(args: string[], env: NodeJS.ProcessEnv, stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    child.stdin!.end(stdin ?? '');
  });
}

test('create-user reads the password from stdin; the user can then log in', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'user-services-cli-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = childEnv({ DATA_DIR: dataDir, BCRYPT_ROUNDS: '4' });

  assert.equal((await cli(['migrate'], env)).code, 0);
  const created = await cli(['create-user', '--username', 'ops', '--email', 'ops@example.com'], env, 'operator-pass\n');
  assert.equal(created.code, 0, created.stderr);
  assert.deepEqual(JSON.parse(created.stdout), { id: 1, username: 'ops', email: 'ops@example.com', email_verified: false });
  const again = await cli(['create-user', '--username', 'OPS', '--email', 'x@example.com'], env, 'operator-pass\n');
  assert.equal(again.code, 1);
  assert.match(again.stderr, /User already exists/);
  const invalid = await cli(['create-user', '--username', 'x', '--email', 'nope'], env, 'short\n');
  assert.equal(invalid.code, 1);
  assert.match(invalid.stderr, /username/);

  const port = await freePort();
  const server = await startServer({ ...env, PORT: String(port) }, port);
  t.after(() => server.signal('SIGKILL'));
  const token = await curl('-X', 'POST', `http://127.0.0.1:${port}/user/token`, '-d', 'username=ops&password=operator-pass');
  assert.equal(token.status, 200, token.body);
});

test('unlock ends a lockout at once; audit shows what happened to the account', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'user-services-cli-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = childEnv({ DATA_DIR: dataDir, BCRYPT_ROUNDS: '4' });
  assert.equal((await cli(['create-user', '--username', 'carol', '--email', 'carol@example.com'], env, 'carol-secret-1\n')).code, 0);

  const port = await freePort();
  const server = await startServer({ ...env, PORT: String(port) }, port);
  t.after(() => server.signal('SIGKILL'));
  const login = (username: string, password: string) =>
    curl('-X', 'POST', `http://127.0.0.1:${port}/user/token`, '-d', `username=${username}&password=${password}`);
  for (let i = 0; i < 5; i++) assert.equal((await login('carol', 'wrong-password')).status, 401);
  assert.equal((await login('carol', 'carol-secret-1')).status, 429);
  server.child.kill('SIGTERM'); // npm forwards it to the server, which releases the embedded database
  assert.equal(await server.exited, 0);

  const unlocked = await cli(['unlock', 'carol@example.com'], env);
  assert.equal(unlocked.code, 0, unlocked.stderr);
  assert.equal(unlocked.stdout, 'Cleared 1 lockout count for carol@example.com.\n');
  assert.match(unlocked.stderr, /"securityEvent":"lockout_cleared"/);
  assert.equal((await cli(['unlock'], env)).code, 2);

  const audit = await cli(['audit', '--user', 'carol', '--limit', '3'], env);
  assert.equal(audit.code, 0, audit.stderr);
  const events = audit.stdout.trim().split('\n').map((line) => JSON.parse(line));
  assert.deepEqual(events.map((e) => e.type), ['lockout_cleared', 'login_locked', 'login_failed']);
  assert.deepEqual(events[0].details, { login: 'carol@example.com', cleared: 1 });
  assert.equal(events[1].ip, '127.0.0.1');
  const locked = await cli(['audit', '--type', 'login_locked'], env);
  assert.equal(locked.stdout.trim().split('\n').length, 1);
  assert.equal((await cli(['audit', '--user', 'nobody'], env)).stdout, '');
  assert.equal((await cli(['audit', '--limit', 'many'], env)).code, 2);

  const again = await startServer({ ...env, PORT: String(port) }, port);
  t.after(() => again.signal('SIGKILL'));
  assert.equal((await login('carol', 'carol-secret-1')).status, 200);
});

test('routes lists every route; help and unknown commands', async () => {
  const env = childEnv({});
  const routes = await cli(['routes'], env);
  assert.equal(routes.code, 0, routes.stderr);
  for (const line of ['POST    /user/token', 'GET     /user/user', 'PUT     /user/update_password', 'POST    /user/register']) {
    assert.ok(routes.stdout.includes(line), `${line} listed`);
  }
  assert.match((await cli(['help'], env)).stdout, /create-user/);
  assert.equal((await cli(['frobnicate'], env)).code, 2);
});

test('start-up refuses a bad configuration, and DATABASE_URL without SECRET_KEY', async () => {
  const bad = await cli(['serve'], childEnv({ PORT: 'eighty' }));
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /PORT must be integer/);
  const noKey = await cli(['serve'], childEnv({ DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/test' }));
  assert.equal(noKey.code, 1);
  assert.match(noKey.stderr, /SECRET_KEY is required when DATABASE_URL is set/);
});


test('keys rotate and keys list manage the asymmetric signing keys; HS256 has none to rotate', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'user-services-cli-keys-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = childEnv({ DATA_DIR: dataDir, JWT_ALGORITHM: 'EdDSA' });

  const first = await cli(['keys', 'rotate'], env);
  assert.equal(first.code, 0, first.stderr);
  const second = await cli(['keys', 'rotate'], env);
  assert.equal(second.code, 0, second.stderr);
  const [, firstKid] = /New EdDSA signing key (\S+);/.exec(first.stdout) ?? [];
  const [, secondKid] = /New EdDSA signing key (\S+);/.exec(second.stdout) ?? [];
  assert.match(second.stdout, new RegExp(`retired: ${firstKid}`));

  const listed = await cli(['keys', 'list'], env);
  assert.equal(listed.code, 0, listed.stderr);
  const lines = listed.stdout.trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, new RegExp(`^${secondKid}\\s+EdDSA .* active$`));
  assert.match(lines[1]!, new RegExp(`^${firstKid}\\s+EdDSA .* retired `));

  const hs256 = await cli(['keys', 'rotate'], childEnv({ DATA_DIR: dataDir }));
  assert.equal(hs256.code, 2);
  assert.match(hs256.stderr, /HS256/);
});

test('the embedded database belongs to one process: a second one is refused, a stale lock is taken over', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'user-services-cli-lock-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = childEnv({ DATA_DIR: dataDir, BCRYPT_ROUNDS: '4' });
  const lockFile = join(dataDir, 'user-services.lock');
  const port = await freePort();
  const server = await startServer({ ...env, PORT: String(port) }, port);
  t.after(() => server.signal('SIGKILL'));

  const refused = await cli(['create-user', '--username', 'ops', '--email', 'ops@example.com'], env, 'operator-pass\n');
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^The embedded database in .* is in use by another process \(pid \d+\)/);
  assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');
  assert.equal((await cli(['migrate'], env)).code, 1);
  const login = await curl('-X', 'POST', `http://127.0.0.1:${port}/user/token`, '-d', 'username=ops&password=operator-pass');
  assert.equal(login.status, 401, 'the refused command created no user');

  server.child.kill('SIGTERM'); // npm passes it on to the server (the start script execs node)
  assert.equal(await server.exited, 0);
  assert.equal(existsSync(lockFile), false, 'released on shutdown');

  // A process killed without cleaning up leaves its lock behind; its pid no longer runs.
  const gone = spawnSync(process.execPath, ['-e', '']).pid;
  writeFileSync(lockFile, `${gone}\n`);
  const created = await cli(['create-user', '--username', 'ops', '--email', 'ops@example.com'], env, 'operator-pass\n');
  assert.equal(created.code, 0, created.stderr);
  assert.equal(existsSync(lockFile), false);
});

test('a database that cannot be reached stops start-up with one line naming it, never its password', async () => {
  const port = await freePort();
  const env = childEnv({ DATABASE_URL: `postgresql+psycopg2://app:hunter2-secret@127.0.0.1:${port}/app`, SECRET_KEY: 'k'.repeat(32) });
  for (const command of ['serve', 'migrate']) {
    const result = await cli([command], env);
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `Cannot connect to the database at 127.0.0.1:${port}/app: connect ECONNREFUSED 127.0.0.1:${port}. ` +
        'Check DATABASE_URL and that PostgreSQL is running.\n',
    );
  }
});

test('start-up on a seed database whose rows collide ignoring case stops, lists them, and changes nothing', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'user-services-cli-adopt-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const seed = await PGlite.create(join(dataDir, 'pgdata'));
  await seed.exec(`create table users (id serial primary key, username varchar not null, email varchar not null,
    hash_password varchar not null);
    insert into users (username, email, hash_password) values ('Alice', 'a@example.com', 'x'), ('alice', 'b@example.com', 'x')`);
  await seed.close();

  const result = await cli(['serve'], childEnv({ DATA_DIR: dataDir }));
  assert.equal(result.code, 1);
  assert.match(result.stderr, /username "alice": "Alice", "alice"/);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');

  const after = await PGlite.create(join(dataDir, 'pgdata'));
  t.after(() => after.close());
  const tables = await after.query<{ name: string }>(
    `select table_name as name from information_schema.tables where table_schema = 'public' order by 1`,
  );
  assert.deepEqual(tables.rows.map((r) => r.name), ['users']);
  assert.equal((await after.query('select * from users')).rows.length, 2);
});

test('the first admin is made with the CLI; roles add, remove and list; the admin API then answers', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'user-services-cli-roles-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = childEnv({ DATA_DIR: dataDir, BCRYPT_ROUNDS: '4' });

  const admin = await cli(['create-user', '--admin', '--username', 'root', '--email', 'root@example.com'], env, 'root-password-1\n');
  assert.equal(admin.code, 0, admin.stderr);
  assert.deepEqual(JSON.parse(admin.stdout), { id: 1, username: 'root', email: 'root@example.com', email_verified: false, roles: ['admin'] });
  assert.equal((await cli(['create-user', '--username', 'dana', '--email', 'dana@example.com'], env, 'dana-password-1\n')).code, 0);
  assert.equal((await cli(['roles', 'list', 'dana'], env)).stdout, '', 'new users have no roles');

  const added = await cli(['roles', 'add', 'dana@example.com', 'support'], env);
  assert.equal(added.code, 0, added.stderr);
  assert.equal(added.stdout, 'support\n');
  assert.match(added.stderr, /"securityEvent":"roles_changed"/);
  assert.equal((await cli(['roles', 'add', 'dana', 'admin'], env)).stdout, 'support\nadmin\n');
  assert.equal((await cli(['roles', 'add', 'dana', 'admin'], env)).stdout, 'support\nadmin\n', 'adding twice keeps one');
  assert.equal((await cli(['roles', 'remove', 'DANA', 'admin'], env)).stdout, 'support\n');
  assert.equal((await cli(['roles', 'list', 'dana'], env)).stdout, 'support\n');
  const missing = await cli(['roles', 'list', 'nobody'], env);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /No account is named nobody/);
  assert.equal((await cli(['roles', 'add', 'dana', 'bad role'], env)).code, 2);
  assert.equal((await cli(['roles', 'add', 'dana'], env)).code, 2);
  assert.equal((await cli(['roles'], env)).code, 2);
  const audit = await cli(['audit', '--user', 'dana', '--type', 'roles_changed', '--limit', '1'], env);
  assert.deepEqual(JSON.parse(audit.stdout).details, { before: ['support', 'admin'], after: ['support'], via: 'cli' });

  const port = await freePort();
  const server = await startServer({ ...env, PORT: String(port) }, port);
  t.after(() => server.signal('SIGKILL'));
  const base = `http://127.0.0.1:${port}`;
  const tokenOf = async (username: string, password: string) =>
    JSON.parse((await curl('-X', 'POST', `${base}/user/token`, '-d', `username=${username}&password=${password}`)).body).access_token as string;
  const rootToken = await tokenOf('root', 'root-password-1');
  const users = await curl(`${base}/admin/users`, '-H', `Authorization: Bearer ${rootToken}`);
  assert.equal(users.status, 200, users.body);
  assert.deepEqual(JSON.parse(users.body).users.map((u: { username: string; roles: string[] }) => [u.username, u.roles]), [
    ['root', ['admin']],
    ['dana', ['support']],
  ]);
  const danaToken = await tokenOf('dana', 'dana-password-1');
  assert.equal((await curl(`${base}/admin/users/1`, '-H', `Authorization: Bearer ${danaToken}`)).status, 403);
  const claims = JSON.parse(Buffer.from(danaToken.split('.')[1]!, 'base64url').toString());
  assert.deepEqual(claims.roles, ['support']);
});

/**
 * A killed server's processes are gone a moment after npm's: the embedded database is free once a CLI
 * command may open it (bounded: 40 tries).
 */
async function untilReleased(env: NodeJS.ProcessEnv): Promise<void> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const listed = await cli(['clients', 'list'], env);
    if (listed.code === 0) return;
    if (!/in use by another process/.test(listed.stderr)) assert.fail(listed.stderr);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.fail('the embedded database stayed locked after the server was killed');
}

test('clients: create prints the secret once (never stored), it works at the token endpoint, rotate-secret retires it, delete removes the client', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'user-services-cli-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = childEnv({ DATA_DIR: dataDir, BCRYPT_ROUNDS: '4', PROVIDER_ENABLED: 'true', SECRET_KEY: 'cli-clients-test-secret-key-0123456789abcdef' });
  const created = await cli(['clients', 'create', '--name', 'Reports', '--grant', 'client_credentials'], env);
  assert.equal(created.code, 0, created.stderr);
  const client = JSON.parse(created.stdout) as { client_id: string; client_secret: string; public: boolean };
  assert.equal(client.public, false);
  assert.ok(client.client_secret.length >= 40);
  const refused = await cli(['clients', 'create', '--name', 'Bad', '--redirect-uri', 'http://evil.example/cb'], env);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /https/);
  const listed = await cli(['clients', 'list'], env);
  assert.equal(listed.stdout.trim().split('\n').length, 1);
  assert.doesNotMatch(listed.stdout, new RegExp(client.client_secret), 'the list never shows a secret');

  const port = await freePort();
  const server = await startServer({ ...env, PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}` }, port);
  t.after(() => server.signal('SIGKILL'));
  const grant = (secret: string) => curl('-X', 'POST', `http://127.0.0.1:${port}/oidc/token`, '-u', `${client.client_id}:${secret}`, '-d', 'grant_type=client_credentials');
  assert.equal((await grant(client.client_secret)).status, 200);
  // The database holds a salt, not the secret: the whole table, dumped, does not contain it.
  server.signal('SIGKILL');
  await server.exited;
  await untilReleased(env);
  const db = new PGlite(join(dataDir, 'pgdata'));
  const rows = JSON.stringify((await db.query('select * from provider_clients')).rows);
  assert.ok(rows.includes(client.client_id) && !rows.includes(client.client_secret));
  await db.close();

  const rotated = await cli(['clients', 'rotate-secret', client.client_id], env);
  assert.equal(rotated.code, 0, rotated.stderr);
  const secret = JSON.parse(rotated.stdout).client_secret as string;
  assert.notEqual(secret, client.client_secret);
  const again = await startServer({ ...env, PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}` }, port);
  t.after(() => again.signal('SIGKILL'));
  assert.equal((await grant(client.client_secret)).status, 401, 'the old secret stops working');
  assert.equal((await grant(secret)).status, 200);
  again.signal('SIGKILL');
  await again.exited;
  await untilReleased(env);
  assert.equal((await cli(['clients', 'delete', client.client_id], env)).code, 0);
  assert.equal((await cli(['clients', 'delete', client.client_id], env)).code, 1);
  assert.equal((await cli(['clients', 'list'], env)).stdout, '');
});
