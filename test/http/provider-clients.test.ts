import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { databaseKinds, selectRows } from '../helpers/databases.js';
import { register, uniqueName } from '../helpers/requests.js';
import { changeUserRole } from '../../src/services/admin/roles.js';

/** Issue 23: applications are registered by an admin through /admin/clients. */
for (const kind of await databaseKinds()) {
  describe(`/admin/clients on ${kind}`, () => {
    let ctx: TestApp & { close(): Promise<void> };
    let admin: string;
    let someone: string;
    before(async () => {
      ctx = await buildTestApp(kind, { PROVIDER_ENABLED: 'true' });
      const token = async (roles: string[]) => {
        const username = uniqueName();
        await register(ctx.app, username, 'correct-horse-1');
        for (const role of roles) await changeUserRole(ctx.app.deps, username, role, 'add');
        return (await ctx.app.inject({ method: 'POST', url: '/user/token', payload: { username, password: 'correct-horse-1' } })).json().access_token as string;
      };
      admin = await token(['admin']);
      someone = await token([]);
    });
    after(() => ctx.close());
    const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, token: string, payload?: object) =>
      ctx.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload && { payload }) });

    test('register, read, change, rotate and remove a client; the secret is in the first answer only', async () => {
      const created = await call('POST', '/admin/clients', admin, { name: 'Wiki', redirect_uris: ['https://wiki.example/cb'], first_party: true });
      assert.equal(created.statusCode, 201, created.body);
      const { client, client_secret } = created.json();
      assert.ok(client_secret);
      assert.deepEqual(client.grant_types, ['authorization_code', 'refresh_token']);
      const read = await call('GET', `/admin/clients/${client.client_id}`, admin);
      assert.equal(read.statusCode, 200);
      assert.ok(!read.body.includes(client_secret) && !(await call('GET', '/admin/clients', admin)).body.includes(client_secret));
      const changed = await call('PATCH', `/admin/clients/${client.client_id}`, admin, { redirect_uris: ['https://wiki.example/cb', 'http://127.0.0.1:8080/cb'] });
      assert.equal(changed.statusCode, 200, changed.body);
      assert.equal(changed.json().redirect_uris.length, 2);
      const rotated = await call('POST', `/admin/clients/${client.client_id}/rotate-secret`, admin);
      assert.equal(rotated.statusCode, 200);
      assert.notEqual(rotated.json().client_secret, client_secret);
      const events = await selectRows<{ type: string }>(ctx.database.handle.db, sql`select type from audit_events where type like 'admin_client_%' order by id`);
      assert.deepEqual(events.map((e) => e.type).slice(-3), ['admin_client_registered', 'admin_client_updated', 'admin_client_secret_rotated']);
      assert.equal((await call('DELETE', `/admin/clients/${client.client_id}`, admin)).statusCode, 204);
      assert.equal((await call('GET', `/admin/clients/${client.client_id}`, admin)).statusCode, 404);
    });

    test('bad redirect URIs and grant combinations are a 422 that names the field, and change nothing', async () => {
      const created = (await call('POST', '/admin/clients', admin, { name: 'App', redirect_uris: ['https://app.example/cb'] })).json().client;
      for (const [body, loc] of [
        [{ name: 'A', redirect_uris: ['http://app.example/cb'] }, 'redirect_uris'],
        [{ name: 'A', redirect_uris: ['https://app.example/cb#x'] }, 'redirect_uris'],
        [{ name: 'A', redirect_uris: ['https://u:p@app.example/cb'] }, 'redirect_uris'],
        [{ name: 'A', redirect_uris: ['/relative'] }, 'redirect_uris'],
        [{ name: 'A', public: true, grant_types: ['client_credentials'] }, 'grant_types'],
        [{ name: 'A', grant_types: ['authorization_code'] }, 'redirect_uris'],
      ] as const) {
        const res = await call('POST', '/admin/clients', admin, body);
        assert.equal(res.statusCode, 422, JSON.stringify(body));
        assert.equal(res.json().detail[0].loc[1], loc, JSON.stringify(body));
      }
      const patch = await call('PATCH', `/admin/clients/${created.client_id}`, admin, { redirect_uris: ['javascript:alert(1)'] });
      assert.equal(patch.statusCode, 422);
      assert.deepEqual((await call('GET', `/admin/clients/${created.client_id}`, admin)).json().redirect_uris, ['https://app.example/cb']);
      const publicClient = (await call('POST', '/admin/clients', admin, { name: 'SPA', public: true, redirect_uris: ['https://spa.example/cb'] })).json();
      assert.equal(publicClient.client_secret, undefined);
      assert.equal((await call('POST', `/admin/clients/${publicClient.client.client_id}/rotate-secret`, admin)).statusCode, 409);
    });

    test('only admins: 401 without a token, 403 for a user without the role', async () => {
      assert.equal((await ctx.app.inject({ url: '/admin/clients' })).statusCode, 401);
      assert.equal((await call('GET', '/admin/clients', someone)).statusCode, 403);
      assert.equal((await call('POST', '/admin/clients', someone, { name: 'X', redirect_uris: ['https://x.example/cb'] })).statusCode, 403);
    });
  });
}

for (const kind of await databaseKinds()) {
  test(`the provider's storage on ${kind}: consumed and expired records as the library expects, purged by housekeeping`, async (t) => {
    const ctx = await buildTestApp(kind, { PROVIDER_ENABLED: 'true' });
    t.after(() => ctx.close());
    const { storageAdapter } = await import('../../src/services/provider/storage-adapter.js');
    const { pruneProviderRecords } = await import('../../src/services/housekeeping.js');
    const Adapter = storageAdapter({ db: ctx.app.deps.db, clock: ctx.clock, clientSecretKey: Buffer.alloc(32) });
    const codes = new Adapter('AuthorizationCode');
    const sessions = new Adapter('Session');
    await codes.upsert('code-1', { accountId: '7', grantId: 'grant-1', clientId: 'c' }, 60);
    await sessions.upsert('session-1', { uid: 'uid-1', accountId: '7' }, 3600);
    assert.equal((await codes.find('code-1'))?.grantId, 'grant-1');
    assert.equal((await sessions.findByUid('uid-1'))?.accountId, '7');
    await codes.consume('code-1');
    assert.ok((await codes.find('code-1'))?.consumed, 'a consumed code says so: the library then refuses it and revokes its grant');
    await new Adapter('AccessToken').upsert('at-1', { grantId: 'grant-1', accountId: '7' }, 600);
    await codes.revokeByGrantId('grant-1');
    assert.equal(await new Adapter('AccessToken').find('at-1'), undefined, 'a revoked grant takes its tokens with it');
    ctx.clock.advance(3601 * 1000);
    assert.equal(await sessions.findByUid('uid-1'), undefined, 'an expired record is gone before housekeeping runs');
    assert.deepEqual(await pruneProviderRecords(ctx.app.deps), { providerRecords: 1 });
    assert.equal(await new Adapter('Client').find('no-such-client'), undefined);
  });
}

for (const kind of await databaseKinds()) {
  test(`the provider's token endpoint spends the per-IP sign-in budget on ${kind}`, async (t) => {
    const ctx = await buildTestApp(kind, { PROVIDER_ENABLED: 'true', RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_LOGIN_PER_IP: '3' });
    t.after(() => ctx.close());
    const guess = () =>
      ctx.app.inject({ method: 'POST', url: '/oidc/token', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('nobody:guess').toString('base64')}` }, payload: 'grant_type=client_credentials' });
    for (let i = 0; i < 3; i++) assert.equal((await guess()).statusCode, 401);
    const limited = await guess();
    assert.equal(limited.statusCode, 429);
    assert.ok(Number(limited.headers['retry-after']) >= 1);
  });
}
