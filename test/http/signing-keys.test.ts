import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import {
  SignJWT,
  UnsecuredJWT,
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  generateKeyPair,
  jwtVerify,
  type JSONWebKeySet,
} from 'jose';
import { buildApp } from '../../src/app.js';
import { SealedKeyError } from '../../src/crypto/signing-keys.js';
import { rotateSigningKey } from '../../src/services/sessions/signing-keys.js';
import { TEST_SECRET_KEY, useTestApp, type TestApp } from '../helpers/app.js';
import { databaseKinds } from '../helpers/databases.js';
import { bearer, login, register } from '../helpers/requests.js';

const MINUTE = 60_000;

async function tokenOf(ctx: TestApp) {
  const user = await register(ctx.app);
  return { user, ...(await login(ctx.app, user.username, user.password)) };
}

const profileStatus = async (ctx: TestApp, token: string) => (await ctx.app.inject({ url: '/user/user', headers: bearer(token) })).statusCode;

async function jwks(ctx: TestApp): Promise<JSONWebKeySet> {
  const res = await ctx.app.inject({ url: '/.well-known/jwks.json' });
  assert.equal(res.statusCode, 200);
  return res.json() as JSONWebKeySet;
}

async function rows(ctx: TestApp) {
  const result = (await ctx.database.handle.db.execute(
    sql`select kid, algorithm, private_key_encrypted, retired_at from signing_keys order by created_at`,
  )) as unknown as { rows: { kid: string; algorithm: string; private_key_encrypted: string; retired_at: Date | null }[] };
  return result.rows;
}

for (const kind of await databaseKinds()) {
  describe(`signing keys and JWKS on ${kind}`, () => {
    test('EdDSA: tokens name their kid and verify with plain jose.createRemoteJWKSet against our JWKS', async (t) => {
      const ctx = await useTestApp(t, kind, { JWT_ALGORITHM: 'EdDSA' });
      const { user, access_token } = await tokenOf(ctx);
      const header = decodeProtectedHeader(access_token);
      assert.equal(header.alg, 'EdDSA');
      assert.equal(typeof header.kid, 'string');

      const base = await ctx.app.listen({ port: 0, host: '127.0.0.1' });
      const remote = createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`));
      const { payload } = await jwtVerify(access_token, remote, { algorithms: ['EdDSA'] });
      assert.equal(payload.sub, user.username);
      assert.equal(payload['uid'], user.id);
      assert.equal(await profileStatus(ctx, access_token), 200);

      const [published] = (await jwks(ctx)).keys;
      assert.deepEqual(Object.keys(published!).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
      assert.equal(published!.kid, header.kid);
      // The private half is stored sealed, never as a PEM or JWK.
      const [stored] = await rows(ctx);
      assert.equal(stored!.kid, header.kid);
      assert.doesNotMatch(stored!.private_key_encrypted, /PRIVATE KEY|"d"/);
    });

    test('rotation: new tokens use the new kid, old ones verify until they expire, then the old key leaves the JWKS', async (t) => {
      const ctx = await useTestApp(t, kind, { JWT_ALGORITHM: 'EdDSA' });
      // A second instance on the same database, as behind a load balancer.
      const other = await buildApp({ config: ctx.config, db: ctx.database.handle.db, secretKey: TEST_SECRET_KEY, clock: ctx.clock });
      t.after(() => other.close());
      const before = await tokenOf(ctx);
      const oldKid = decodeProtectedHeader(before.access_token).kid;

      const { kid: newKid, retired } = await rotateSigningKey({ db: ctx.database.handle.db, clock: ctx.clock }, {
        algorithm: 'EdDSA',
        secretKey: TEST_SECRET_KEY,
      });
      assert.deepEqual(retired, [oldKid]);
      assert.equal(await profileStatus(ctx, before.access_token), 200);

      ctx.clock.advance(MINUTE + 1000);
      const after = await tokenOf(ctx);
      assert.equal(decodeProtectedHeader(after.access_token).kid, newKid);
      assert.deepEqual((await jwks(ctx)).keys.map((k) => k.kid).sort(), [oldKid, newKid].sort());
      assert.equal((await other.inject({ url: '/user/user', headers: bearer(after.access_token) })).statusCode, 200);
      assert.equal(await profileStatus(ctx, before.access_token), 200, 'the retired key still verifies');

      ctx.clock.advance(30 * MINUTE);
      assert.deepEqual((await jwks(ctx)).keys.map((k) => k.kid), [newKid]);
      assert.equal(await profileStatus(ctx, before.access_token), 401);
    });

    test('algorithm confusion, foreign keys, unknown kids and alg none are refused', async (t) => {
      const ctx = await useTestApp(t, kind, { JWT_ALGORITHM: 'EdDSA' });
      const { user, access_token } = await tokenOf(ctx);
      const { kid } = decodeProtectedHeader(access_token);
      const claims = { sub: user.username, uid: user.id };
      const now = Math.floor(ctx.clock.now().getTime() / 1000);
      const sign = (header: { alg: string; kid?: string }, key: CryptoKey | Uint8Array) =>
        new SignJWT(claims).setProtectedHeader(header).setIssuedAt(now).setExpirationTime(now + 600).sign(key);

      const publicX = Buffer.from((await jwks(ctx)).keys[0]!.x!, 'base64url');
      const foreign = await generateKeyPair('EdDSA');
      const forged = [
        // The Python service's kind of token: HS256 with SECRET_KEY is not accepted once keys are asymmetric.
        await sign({ alg: 'HS256' }, new TextEncoder().encode(TEST_SECRET_KEY)),
        // The public key used as an HMAC secret (RFC 8725 §2.1).
        await sign({ alg: 'HS256', kid: kid! }, publicX),
        await sign({ alg: 'EdDSA', kid: kid! }, foreign.privateKey),
        await sign({ alg: 'EdDSA', kid: 'no-such-key' }, foreign.privateKey),
        await sign({ alg: 'EdDSA' }, foreign.privateKey),
        new UnsecuredJWT(claims).setIssuedAt(now).setExpirationTime(now + 600).encode(),
      ];
      for (const token of forged) assert.equal(await profileStatus(ctx, token), 401, token);
    });

    test('ES256 and RS256 sign with their own keys and verify through the JWKS', async (t) => {
      for (const algorithm of ['ES256', 'RS256'] as const) {
        const ctx = await useTestApp(t, kind, { JWT_ALGORITHM: algorithm });
        const { user, access_token } = await tokenOf(ctx);
        assert.equal(decodeProtectedHeader(access_token).alg, algorithm);
        const { payload } = await jwtVerify(access_token, createLocalJWKSet(await jwks(ctx)), { algorithms: [algorithm] });
        assert.equal(payload.sub, user.username);
        assert.equal(await profileStatus(ctx, access_token), 200);
      }
    });

    test('changing JWT_ALGORITHM retires the old key; another SECRET_KEY cannot open the key and refuses to start', async (t) => {
      const ctx = await useTestApp(t, kind, { JWT_ALGORITHM: 'EdDSA' });
      const config = { ...ctx.config, jwt: { ...ctx.config.jwt, algorithm: 'ES256' as const } };
      ctx.clock.advance(1000);
      const switched = await buildApp({ config, db: ctx.database.handle.db, secretKey: TEST_SECRET_KEY, clock: ctx.clock });
      t.after(() => switched.close());
      const keys = await rows(ctx);
      assert.deepEqual(keys.map((k) => [k.algorithm, k.retired_at === null]), [['EdDSA', false], ['ES256', true]]);

      await assert.rejects(
        buildApp({ config, db: ctx.database.handle.db, secretKey: 'a-different-secret-key-0123456789', clock: ctx.clock }),
        SealedKeyError,
      );
    });

    test('JWT_ISSUER and JWT_AUDIENCE are set in tokens, required of them, and shown in the metadata', async (t) => {
      const ctx = await useTestApp(t, kind, { JWT_ISSUER: 'https://auth.example.com/', JWT_AUDIENCE: 'orders-api' });
      const { user, access_token } = await tokenOf(ctx);
      const claims = JSON.parse(Buffer.from(access_token.split('.')[1]!, 'base64url').toString());
      assert.equal(claims.iss, 'https://auth.example.com');
      assert.equal(claims.aud, 'orders-api');
      assert.equal(await profileStatus(ctx, access_token), 200);

      const key = new TextEncoder().encode(TEST_SECRET_KEY);
      const now = Math.floor(ctx.clock.now().getTime() / 1000);
      const make = (iss?: string, aud?: string) => {
        const jwt = new SignJWT({ uid: user.id }).setProtectedHeader({ alg: 'HS256' }).setSubject(user.username).setIssuedAt(now).setExpirationTime(now + 600);
        if (iss) jwt.setIssuer(iss);
        if (aud) jwt.setAudience(aud);
        return jwt.sign(key);
      };
      assert.equal(await profileStatus(ctx, await make('https://auth.example.com', 'orders-api')), 200);
      assert.equal(await profileStatus(ctx, await make(undefined, 'orders-api')), 401);
      assert.equal(await profileStatus(ctx, await make('https://auth.example.com', 'billing-api')), 401);
      assert.equal(await profileStatus(ctx, await make('https://evil.example.com', 'orders-api')), 401);

      const metadata = (await ctx.app.inject({ url: '/.well-known/openid-configuration' })).json();
      assert.deepEqual(metadata, {
        issuer: 'https://auth.example.com',
        token_endpoint: 'https://auth.example.com/user/token',
        revocation_endpoint: 'https://auth.example.com/oauth/revoke',
        introspection_endpoint: 'https://auth.example.com/oauth/introspect',
        jwks_uri: 'https://auth.example.com/.well-known/jwks.json',
        grant_types_supported: ['password', 'refresh_token'],
        response_types_supported: [],
        token_endpoint_auth_methods_supported: ['none'],
        revocation_endpoint_auth_methods_supported: ['none'],
        introspection_endpoint_auth_methods_supported: ['client_secret_basic'],
        service_documentation: 'https://auth.example.com/docs',
      });
    });

    test('HS256 (the default) publishes an empty JWKS; the metadata names PUBLIC_URL, not the address asked', async (t) => {
      const ctx = await useTestApp(t, kind, { PUBLIC_URL: 'https://auth.internal:8000' });
      assert.deepEqual(await jwks(ctx), { keys: [] });
      const res = await ctx.app.inject({ url: '/.well-known/oauth-authorization-server', headers: { host: 'evil.example' } });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['cache-control'], 'public, max-age=300');
      assert.equal(res.json().jwks_uri, 'https://auth.internal:8000/.well-known/jwks.json');
      assert.equal(res.json().issuer, 'https://auth.internal:8000');
    });
  });
}
