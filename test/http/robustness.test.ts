import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { loggerOptions } from '../../src/logging.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { databaseKinds } from '../helpers/databases.js';
import { bearer, login, register, uniqueName } from '../helpers/requests.js';

for (const kind of await databaseKinds()) {
  describe(`bad input and service endpoints on ${kind}`, () => {
    let ctx: TestApp & { close(): Promise<void> };
    before(async () => {
      ctx = await buildTestApp(kind);
    });
    after(() => ctx.close());

    const post = (url: string, payload: string, contentType: string) =>
      ctx.app.inject({ method: 'POST', url, payload, headers: { 'content-type': contentType } });

    test('a body over the limit is 413', async () => {
      const res = await post('/user/register', `username=${'a'.repeat(70 * 1024)}`, 'application/x-www-form-urlencoded');
      assert.equal(res.statusCode, 413);
      assert.deepEqual(res.json(), { detail: 'Request body is too large' });
    });

    test('the form endpoints take at most 16 KiB, below BODY_LIMIT_BYTES', async () => {
      const res = await post('/user/token', `username=${'a'.repeat(17 * 1024)}&password=x`, 'application/x-www-form-urlencoded');
      assert.equal(res.statusCode, 413);
      assert.deepEqual(res.json(), { detail: 'Request body is too large', error: 'invalid_request' });
      const fits = await post('/user/token', `username=${'a'.repeat(200)}&password=${'é'.repeat(1024)}`, 'application/x-www-form-urlencoded');
      assert.equal(fits.statusCode, 401);
    });

    test('malformed JSON is 400 with no parser internals', async () => {
      const res = await post('/user/register', '{"username": "abc",', 'application/json');
      assert.equal(res.statusCode, 400);
      assert.deepEqual(res.json(), { detail: 'Malformed JSON body' });
    });

    test('__proto__ in JSON is refused', async () => {
      const res = await post('/user/register', '{"__proto__": {"isAdmin": true}, "username": "abc"}', 'application/json');
      assert.equal(res.statusCode, 400);
      assert.equal(({} as Record<string, unknown>)['isAdmin'], undefined);
    });

    test('a JSON array, a string or null instead of an object is 422', async () => {
      for (const payload of ['[]', '"text"', 'null', '42']) {
        const res = await post('/user/register', payload, 'application/json');
        assert.equal(res.statusCode, 422, `${payload}: ${res.body}`);
        assert.deepEqual(res.json().detail[0].loc, ['body']);
      }
    });

    test('wrong JSON types and duplicate form keys are 422', async () => {
      const typed = await post('/user/register', JSON.stringify({ username: 123, email: true, password: ['x'] }), 'application/json');
      assert.equal(typed.statusCode, 422);
      assert.deepEqual(
        typed.json().detail.map((e: { loc: string[] }) => e.loc[1]).sort(),
        ['email', 'password', 'username'],
      );
      const dup = await post('/user/register', 'username=abc&username=def&email=a@b.co&password=password-1', 'application/x-www-form-urlencoded');
      assert.equal(dup.statusCode, 422);
    });

    test('an unsupported media type is 415', async () => {
      const res = await post('/user/register', 'username=abc', 'text/plain');
      assert.equal(res.statusCode, 415);
      assert.deepEqual(res.json(), { detail: 'Unsupported media type' });
    });

    test('an unknown route is 404 in the FastAPI shape', async () => {
      const res = await ctx.app.inject({ url: '/user/nope' });
      assert.equal(res.statusCode, 404);
      assert.deepEqual(res.json(), { detail: 'Not Found' });
    });

    test('a malformed or over-long path parameter is refused in our shape, not the router\'s', async () => {
      const malformed = await ctx.app.inject({ method: 'DELETE', url: '/user/sessions/%' });
      assert.equal(malformed.statusCode, 400);
      assert.deepEqual(malformed.json(), { detail: 'Malformed URL' });
      const long = await ctx.app.inject({ method: 'DELETE', url: `/user/sessions/${'a'.repeat(200)}` });
      assert.equal(long.statusCode, 414);
      assert.deepEqual(long.json(), { detail: 'URI Too Long' });
      for (const res of [malformed, long]) {
        assert.equal(res.headers['x-content-type-options'], 'nosniff');
        assert.match(String(res.headers['content-security-policy']), /default-src 'self'/);
        assert.ok(res.headers['x-request-id']);
      }
    });

    test('every response carries a request id; a sane client one is echoed', async () => {
      const res = await ctx.app.inject({ url: '/healthz', headers: { 'x-request-id': 'abc-123' } });
      assert.equal(res.headers['x-request-id'], 'abc-123');
      for (const headers of [{}, { 'x-request-id': 'x'.repeat(65) }, { 'x-request-id': 'a b\u0001' }]) {
        const generated = await ctx.app.inject({ url: '/healthz', headers });
        assert.match(String(generated.headers['x-request-id']), /^[0-9a-f-]{36}$/);
      }
    });

    test('GET / describes the service; /healthz and /readyz answer', async () => {
      const root = await ctx.app.inject({ url: '/' });
      assert.equal(root.json().name, 'user-services');
      assert.equal(root.json().docs, '/docs');
      assert.deepEqual((await ctx.app.inject({ url: '/healthz' })).json(), { status: 'ok' });
      assert.deepEqual((await ctx.app.inject({ url: '/readyz' })).json(), { status: 'ok' });
    });

    test('/docs serves Swagger UI and /openapi.json documents every route with its responses', async () => {
      const docs = await ctx.app.inject({ url: '/docs' });
      assert.equal(docs.statusCode, 200);
      assert.match(docs.body, /swagger/i);
      const spec = (await ctx.app.inject({ url: '/openapi.json' })).json();
      assert.match(spec.openapi, /^3\./);
      assert.deepEqual(spec.components.securitySchemes.OAuth2PasswordBearer.flows.password.tokenUrl, '/user/token');
      assert.deepEqual(spec.paths['/oauth/introspect'].post.security, [{ IntrospectionBasic: [] }, { IntrospectionBearer: [] }]);
      assert.equal(spec.components.securitySchemes.IntrospectionBasic.scheme, 'basic');
      const expected = {
        '/': ['get'],
        '/healthz': ['get'],
        '/readyz': ['get'],
        '/user/register': ['post'],
        '/user/token': ['post'],
        '/user/token/refresh': ['post'],
        '/user/user': ['get'],
        '/user/update_password': ['put'],
        '/user/logout': ['post'],
        '/user/logout-all': ['post'],
        '/user/sessions': ['get'],
        '/user/sessions/{id}': ['delete'],
        '/oauth/revoke': ['post'],
        '/oauth/introspect': ['post'],
      };
      for (const [path, methods] of Object.entries(expected)) {
        for (const method of methods) {
          const operation = spec.paths[path]?.[method];
          assert.ok(operation, `${method} ${path} is documented`);
          assert.ok(Object.keys(operation.responses).length > 0, `${method} ${path} has responses`);
        }
      }
      assert.ok(spec.paths['/user/token'].post.requestBody.content['application/x-www-form-urlencoded']);
    });

    test('an unexpected failure is a logged 500 without internals', async () => {
      const user = await register(ctx.app, uniqueName());
      const { access_token } = await login(ctx.app, user.username, user.password);
      const original = ctx.app.deps.db.select;
      ctx.app.deps.db.select = (() => {
        throw new Error('connection to 10.0.0.1 lost: password=hunter2');
      }) as typeof original;
      try {
        const res = await ctx.app.inject({ url: '/user/user', headers: bearer(access_token) });
        assert.equal(res.statusCode, 500);
        assert.deepEqual(res.json(), { detail: 'Internal Server Error' });
      } finally {
        ctx.app.deps.db.select = original;
      }
    });
  });
}

for (const kind of await databaseKinds()) {
  test(`a failed query is logged with its SQL and code, never its values, on ${kind}`, async (t) => {
    const lines: string[] = [];
    const ctx = await buildTestApp(kind, {}, { logger: loggerOptions({ logLevel: 'info' }, { write: (line: string) => void lines.push(line) }) });
    t.after(() => ctx.close());
    // Every insert into users now fails inside PostgreSQL, whose message then names the failing row.
    await ctx.database.handle.db.execute(sql`alter table users add constraint reject_all check (id < 0) not valid`);
    const password = 'Quokka-lantern-7731';
    const res = await ctx.app.inject({
      method: 'POST',
      url: '/user/register',
      payload: { username: uniqueName('leak'), email: 'leak@example.com', password },
    });
    assert.equal(res.statusCode, 500);
    assert.deepEqual(res.json(), { detail: 'Internal Server Error' });
    const failure = lines.map((line) => JSON.parse(line)).find((entry) => entry.msg === 'unhandled error');
    assert.ok(failure, 'the failure is logged');
    assert.match(failure.err.message, /^Failed query: insert into "users"/);
    assert.equal(failure.err.cause.code, '23514');
    const log = lines.join('');
    for (const secret of ['$2b$', password, 'params', 'Failing row']) assert.equal(log.includes(secret), false, `log contains ${secret}`);
  });
}

for (const kind of await databaseKinds()) {
  test(`security events are logged with the request's id and the client's address, on ${kind}`, async (t) => {
    const lines: string[] = [];
    const logger = loggerOptions({ logLevel: 'info' }, { write: (line: string) => void lines.push(line) });
    const ctx = await buildTestApp(kind, { LOCKOUT_THRESHOLD: '2' }, { logger });
    t.after(() => ctx.close());
    const user = await register(ctx.app, uniqueName('events'));
    for (let i = 0; i < 2; i++) {
      const res = await ctx.app.inject({ method: 'POST', url: '/user/token', payload: { username: user.username, password: 'not-the-password' } });
      assert.equal(res.statusCode, 401);
    }
    const entries = lines.map((line) => JSON.parse(line));
    const events = entries.filter((e) => e.securityEvent !== undefined);
    const requests = entries.filter((e) => e.msg === 'request completed' && e.path === '/user/token').map((e) => e.reqId);
    assert.deepEqual(
      events.map((e) => [e.securityEvent, e.reqId]),
      [['login_failed', requests[0]], ['login_failed', requests[1]], ['login_locked', requests[1]]],
    );
    for (const event of events) assert.equal(event.ip, '127.0.0.1');
  });
}
