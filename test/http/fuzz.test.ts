import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { buildTestApp, TEST_SECRET_KEY, type TestApp } from '../helpers/app.js';
import { databaseKinds, selectRows } from '../helpers/databases.js';
import { handMadeJwt, Ref, refsIn, requestFor, toForm, toFormValue, toJson, type FuzzRequest, type RefName, type Value } from '../helpers/fuzz.js';
import { bearer, form, login, register, uniqueName } from '../helpers/requests.js';

/**
 * Property-based fuzzing of every documented operation: whatever arrives, the answer is never a 5xx,
 * a 4xx never carries internals or changes a user, session or refresh token, and the service keeps working.
 * The seed is fixed so a failure reproduces; FUZZ_SEED=<n> explores other inputs, FUZZ_RUNS=<n> more of them.
 */
const SEED = Number(process.env['FUZZ_SEED'] ?? 20_240_611);
const RUNS_PER_OPERATION = Number(process.env['FUZZ_RUNS'] ?? 150);
const INTROSPECTION_SECRET = 'fuzz-introspection-secret';

/** Internals a response must never show: hashes, column names, Fastify's codes, stack frames, file paths. */
const LEAK = /\$2[aby]\$\d\d\$|\$argon2|hash_password|FST_ERR|node_modules|\n\s+at |\.ts:\d/;

type Ctx = TestApp & { close(): Promise<void> };

/** The account the fuzzer acts as; its password is followed when a generated request changes it. */
class FuzzAccount {
  /** Follows a rename (PATCH /user/user); the id, a deletion and re-registration (DELETE /user/user). */
  username = uniqueName('fuzz');
  readonly email = `${this.username}@example.com`;
  id = 0;
  password = 'Fuzz-known-pass-1';
  private access: string | undefined;
  /** Counts logins, each of which adds a session and a refresh token. */
  logins = 0;

  constructor(private readonly ctx: Ctx) {}

  /** A fresh session. Waits out a lockout the fuzzer caused (moving the fake clock), rather than failing. */
  async login(): Promise<{ access_token: string; refresh_token: string }> {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const res = await this.ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: this.username, password: this.password }) });
      if (res.statusCode === 429) {
        this.ctx.clock.advance((Number(res.headers['retry-after']) + 1) * 1000);
        continue;
      }
      assert.equal(res.statusCode, 200, `the fuzz account can log in: ${res.body}`);
      this.logins += 1;
      const pair = res.json() as { access_token: string; refresh_token: string };
      this.access = pair.access_token;
      return pair;
    }
    throw new Error('the fuzz account stayed locked out');
  }

  /**
   * After a successful password change: the token may have named another user (a forged `uid`, and the
   * fuzzer registers users with this account's password too), so the stored hash says whose it was.
   */
  async followPasswordChange(sent: string | undefined): Promise<void> {
    if (sent === undefined) return;
    const result = (await this.ctx.database.handle.db.execute(
      sql`select hash_password from users where username = ${this.username}`,
    )) as unknown as { rows: { hash_password: string }[] };
    if (await this.ctx.app.deps.hasher.verify(sent, result.rows[0]!.hash_password)) this.password = sent;
  }

  /** After a successful PATCH or DELETE of /user/user: the account may have a new name, or be gone. */
  async followAccountChange(): Promise<void> {
    const [row] = await selectRows<{ username: string }>(this.ctx.database.handle.db, sql`select username from users where id = ${this.id}`);
    if (row !== undefined) {
      this.username = row.username;
      return;
    }
    const res = await this.ctx.app.inject({ method: 'POST', url: '/user/register', ...form({ username: this.username, email: this.email, password: this.password }) });
    assert.equal(res.statusCode, 201, `the deleted fuzz account registers again: ${res.body}`);
    this.id = (res.json() as { id: number }).id;
  }

  async accessToken(): Promise<string> {
    return this.access ?? (await this.login()).access_token;
  }

  /** After anything that may have ended the session the cached token belongs to. */
  forgetToken(): void {
    this.access = undefined;
  }
}

/** One digest of every row of the tables a refused request must leave alone. */
async function rowDigest(ctx: Ctx): Promise<string> {
  const result = (await ctx.database.handle.db.execute(sql`
    select md5(concat_ws('|',
      (select string_agg(t::text, ',' order by t.id) from users t),
      (select string_agg(t::text, ',' order by t.id) from sessions t),
      (select string_agg(t::text, ',' order by t.id) from refresh_tokens t))) as digest`)) as unknown as { rows: { digest: string }[] };
  return result.rows[0]!.digest;
}

const sessionIdOf = (accessToken: string): string =>
  (JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()) as { sid: string }).sid;

function damage(token: string, how: string, at: number): string {
  const i = at % token.length;
  switch (how) {
    case 'flip':
      return token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
    case 'truncate':
      return token.slice(0, i);
    case 'append':
      return `${token}A`;
    case 'case':
      return token.slice(0, i) + (token[i]!.toUpperCase() === token[i] ? token[i]!.toLowerCase() : token[i]!.toUpperCase()) + token.slice(i + 1);
    default:
      return token;
  }
}

const NATURAL_TYPE = { json: 'application/json', form: 'application/x-www-form-urlencoded' } as const;

/** Resolves a generated request against the account's current state (logging in when it needs a token). */
async function prepare(ctx: Ctx, account: FuzzAccount, request: FuzzRequest) {
  const resolved = new Map<RefName, string>();
  for (const name of refsIn(request)) {
    if (name === 'username' || name === 'email' || name === 'password') resolved.set(name, account[name]);
    else if (name === 'accessToken') resolved.set(name, await account.accessToken());
    else if (name === 'refreshToken') resolved.set(name, (await account.login()).refresh_token);
    else resolved.set(name, sessionIdOf(await account.accessToken()));
  }
  const resolve = (ref: Ref) => resolved.get(ref.name)!;

  const headers: Record<string, string> = Object.fromEntries(request.headers);
  const { body, auth } = request;
  let payload: string | Buffer | undefined;
  if (body.kind === 'json') payload = toJson({ entries: body.entries }, resolve);
  if (body.kind === 'form') payload = toForm(body.entries, resolve);
  if (body.kind === 'raw') payload = body.payload;
  const natural = body.kind === 'raw' ? body.natural : body.kind === 'none' ? undefined : NATURAL_TYPE[body.kind];
  const contentType = request.contentType === 'natural' ? natural : request.contentType;
  if (contentType !== undefined) headers['content-type'] = contentType;

  const now = Math.floor(ctx.clock.now().getTime() / 1000);
  switch (auth.kind) {
    case 'valid':
      headers['authorization'] = `Bearer ${damage(resolved.get('accessToken')!, auth.damage, auth.at)}`;
      break;
    case 'legacy':
      headers['authorization'] = `Bearer ${handMadeJwt('{"alg":"HS256","typ":"JWT"}', JSON.stringify({ sub: account.username, exp: now + 600 }), TEST_SECRET_KEY)}`;
      break;
    case 'forged': {
      const defaults: [string, Value][] = auth.fresh ? [['sub', account.username], ['iat', now], ['exp', now + 600]] : [];
      const entries = (list: [string, Value][]) => list.map(([k, v]) => `${JSON.stringify(k)}:${toJson(v, resolve)}`);
      const header = `{${[...(auth.fresh ? ['"alg":"HS256"'] : []), ...entries(auth.header)].join(',')}}`;
      const claims = `{${[...entries(defaults), ...entries(auth.claims)].join(',')}}`;
      const key = auth.signature === 'right' ? TEST_SECRET_KEY : auth.signature === 'wrong' ? 'not-the-secret-key-0123456789abcdef' : undefined;
      headers['authorization'] = `Bearer ${handMadeJwt(header, claims, key, auth.signature === 'junk' ? 'c2lnbmF0dXJl' : '')}`;
      break;
    }
    case 'scheme':
      headers['authorization'] = `${auth.scheme} ${auth.credential}`;
      break;
    case 'basic':
      headers['authorization'] = `Basic ${Buffer.from(auth.decoded).toString('base64')}`;
      break;
    case 'introspection':
      headers['authorization'] =
        auth.as === 'basic' ? `Basic ${Buffer.from(`rs:${INTROSPECTION_SECRET}`).toString('base64')}` : `Bearer ${INTROSPECTION_SECRET}`;
      break;
    case 'none':
      break;
  }
  const url = request.path.replace('<sessionId>', resolved.get('sessionId') ?? '') + request.query;
  // Secrets only, and only long ones: a short password the fuzzer set could legitimately appear inside a
  // message. One sent as a username or e-mail (the fuzzer does) is no secret: a profile shows those.
  const echoed = new Set(
    body.kind === 'json' || body.kind === 'form'
      ? body.entries.flatMap(([k, v]) => ((k === 'username' || k === 'email') && v instanceof Ref ? [resolve(v)] : []))
      : [],
  );
  const secrets = (['password', 'accessToken', 'refreshToken'] as const)
    .flatMap((name) => resolved.get(name) ?? [])
    .filter((s) => s.length >= 16 && !echoed.has(s));
  return { inject: { method: request.method as 'GET', url, headers, ...(payload === undefined ? {} : { payload }) }, secrets, resolve };
}

/** The new password a successful PUT /user/update_password set (JSON keeps the last duplicate key). */
function newPasswordSent(request: FuzzRequest, resolve: (ref: Ref) => string): string | undefined {
  const { body } = request;
  if (body.kind !== 'json' && body.kind !== 'form') return undefined;
  const sent = body.entries.filter(([k]) => k === 'new_password').at(-1)?.[1];
  if (sent === undefined) return undefined;
  if (body.kind === 'form') return toFormValue(sent, resolve);
  return sent instanceof Ref ? resolve(sent) : typeof sent === 'string' ? sent : undefined;
}

const kinds = await databaseKinds();

for (const kind of kinds) {
  describe(`fuzzing every documented operation on ${kind}`, () => {
    let ctx: Ctx;
    let account: FuzzAccount;
    let operations: { method: string; path: string; fields: string[] }[] = [];
    const statuses = new Map<number, number>();

    before(async () => {
      ctx = await buildTestApp(kind, { INTROSPECTION_SECRET, LOCKOUT_THRESHOLD: '100' });
      account = new FuzzAccount(ctx);
      account.id = (await register(ctx.app, account.username, account.password)).id;
      const spec = (await ctx.app.inject({ url: '/openapi.json' })).json() as {
        paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties?: object } }> } }>>;
      };
      operations = Object.entries(spec.paths).flatMap(([path, byMethod]) =>
        Object.entries(byMethod).map(([method, operation]) => ({
          method: method.toUpperCase(),
          path,
          fields: Object.keys(operation.requestBody?.content['application/json']?.schema.properties ?? {}),
        })),
      );
    });
    after(() => ctx.close());

    test('the OpenAPI document lists the operations to fuzz', () => {
      assert.ok(operations.length >= 14, `${operations.length} operations`);
      assert.ok(operations.some((o) => o.path === '/user/sessions/{id}' && o.method === 'DELETE'));
    });

    test(`no 5xx, no leak, no change from a refused request (seed ${SEED}, ${RUNS_PER_OPERATION} runs per operation)`, async (t) => {
      let digest = await rowDigest(ctx);
      for (const [index, operation] of operations.entries()) {
        const property = fc.asyncProperty(requestFor(operation.method, operation.path, operation.fields), async (request) => {
          const logins = account.logins;
          const { inject, secrets, resolve } = await prepare(ctx, account, request);
          const before = account.logins === logins ? digest : await rowDigest(ctx);
          const res = await ctx.app.inject(inject);
          // Bookkeeping before any assertion: when fast-check re-runs a failed case to shrink it, the account
          // and the digest must be as they are now.
          digest = await rowDigest(ctx);
          if (res.statusCode < 400) {
            if (request.method === 'PUT' && operation.path === '/user/update_password') {
              await account.followPasswordChange(newPasswordSent(request, resolve));
            }
            if (operation.path === '/user/user' && (request.method === 'PATCH' || request.method === 'DELETE')) await account.followAccountChange();
            if (request.method !== 'GET') account.forgetToken();
          }
          statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
          const seen = `${request.method} ${inject.url} → ${res.statusCode} ${res.body.slice(0, 300)}`;
          // Requests go one at a time, so the hash queue (HASH_QUEUE_LIMIT 32) never fills: any 5xx, a 503
          // with Retry-After included, would be a bug here.
          assert.ok(res.statusCode < 500, seen);
          assert.doesNotMatch(res.body, LEAK, seen);
          for (const secret of secrets) assert.ok(!res.body.includes(secret), `a secret the client sent came back: ${seen}`);
          if (res.statusCode >= 400 && request.method !== 'HEAD') {
            const detail = (res.json() as { detail?: unknown }).detail;
            const fastApiShape =
              typeof detail === 'string' ||
              (Array.isArray(detail) && detail.every((e) => Array.isArray(e.loc) && typeof e.msg === 'string' && typeof e.type === 'string'));
            assert.ok(fastApiShape, `not FastAPI's error shape: ${seen}`);
          }
          if (res.statusCode >= 400) assert.equal(digest, before, `a refused request changed rows: ${seen}`);
        });
        await fc.assert(property, { seed: SEED + index, numRuns: RUNS_PER_OPERATION, includeErrorInReport: true });
      }
      t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
    });

    test('the fuzzer got past validation: it saw successes, refusals of every kind, and parser errors', () => {
      for (const status of [200, 201, 204, 400, 401, 404, 409, 413, 415, 422]) {
        assert.ok((statuses.get(status) ?? 0) > 0, `no ${status} among ${JSON.stringify(Object.fromEntries(statuses))}`);
      }
    });

    test('afterwards the service still answers and still logs the account in', async () => {
      assert.deepEqual((await ctx.app.inject({ url: '/healthz' })).json(), { status: 'ok' });
      assert.equal((await ctx.app.inject({ url: '/readyz' })).statusCode, 200);
      account.forgetToken();
      const me = await ctx.app.inject({ url: '/user/user', headers: bearer(await account.accessToken()) });
      assert.equal(me.statusCode, 200);
      assert.equal(me.json().username, account.username);
    });
  });

  describe(`what the fuzzer found, kept as plain tests, on ${kind}`, () => {
    let ctx: Ctx;
    before(async () => {
      ctx = await buildTestApp(kind, { INTROSPECTION_SECRET });
    });
    after(() => ctx.close());

    const json = (url: string, payload: string, headers: Record<string, string> = {}) =>
      ctx.app.inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/json', ...headers } });

    test('a body Fastify refuses on an OAuth endpoint is a 400 invalid_request, not a 500 that names Fastify', async () => {
      const introspector = { authorization: `Bearer ${INTROSPECTION_SECRET}` };
      for (const url of ['/user/token', '/user/token/refresh', '/oauth/revoke', '/oauth/introspect']) {
        for (const payload of ['{"username":', '', '{"__proto__":{"isAdmin":true}}']) {
          const res = await json(url, payload, introspector);
          assert.equal(res.statusCode, 400, `${url} ${payload}: ${res.body}`);
          assert.equal(res.json().error, 'invalid_request');
          assert.equal(typeof res.json().detail, 'string');
          assert.doesNotMatch(res.body, LEAK);
        }
      }
    });

    test('a session id PostgreSQL would not parse (urn:uuid:…) is a 422 in FastAPI’s shape, not a 500', async () => {
      const user = await register(ctx.app);
      const { access_token } = await login(ctx.app, user.username, user.password);
      for (const id of ['urn:uuid:00000000-0000-0000-0000-000000000000', 'not-a-uuid']) {
        const res = await ctx.app.inject({ method: 'DELETE', url: `/user/sessions/${id}`, headers: bearer(access_token) });
        assert.equal(res.statusCode, 422, res.body);
        const { detail } = res.json() as { detail: { loc: unknown[]; msg: string }[] };
        assert.deepEqual(detail[0]!.loc, ['params', 'id']);
        assert.match(detail[0]!.msg, /session id/);
      }
      const upper = await ctx.app.inject({ method: 'DELETE', url: `/user/sessions/${randomUUID().toUpperCase()}`, headers: bearer(access_token) });
      assert.equal(upper.statusCode, 404, 'an upper-case UUID is still a UUID');
    });

    test('an unpaired UTF-16 surrogate is refused like a control character (it once broke the audit log)', async () => {
      const before = await rowDigest(ctx);
      const loginRes = await json('/user/token', '{"username":"\\ud800ghost","password":"whatever-1"}');
      assert.equal(loginRes.statusCode, 422, loginRes.body);
      assert.deepEqual(loginRes.json().detail[0].loc, ['body', 'username']);
      const signUp = await json('/user/register', '{"username":"surrogate","email":"surrogate@example.com","password":"\\udfffcorrect-horse"}');
      assert.equal(signUp.statusCode, 422, signUp.body);
      assert.deepEqual(signUp.json().detail[0].loc, ['body', 'password']);
      const paired = await json('/user/token', '{"username":"\\ud83d\\ude00ghost","password":"whatever-1"}');
      assert.equal(paired.statusCode, 401, 'a surrogate pair (an emoji) is ordinary text');
      assert.equal(await rowDigest(ctx), before);
    });

    test('a well-signed token whose claims no row can match (uid past 2^31, NUL in sub) names nobody, not a 500', async () => {
      const now = Math.floor(ctx.clock.now().getTime() / 1000);
      for (const claims of [{ sub: 'someone', uid: 2 ** 40 }, { sub: 'someone', uid: -(2 ** 40) }, { sub: 'some\u0000one' }]) {
        const token = handMadeJwt('{"alg":"HS256","typ":"JWT"}', JSON.stringify({ ...claims, iat: now, exp: now + 600 }), TEST_SECRET_KEY);
        const profile = await ctx.app.inject({ url: '/user/user', headers: bearer(token) });
        assert.ok([401, 404].includes(profile.statusCode), `${JSON.stringify(claims)}: ${profile.body}`);
        const introspection = await json('/oauth/introspect', JSON.stringify({ token }), { authorization: `Bearer ${INTROSPECTION_SECRET}` });
        assert.deepEqual(introspection.json(), { active: false });
        assert.equal((await json('/oauth/revoke', JSON.stringify({ token }))).statusCode, 200);
      }
    });
  });
}
