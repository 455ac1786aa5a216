import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { useTestApp } from '../helpers/app.js';

describe('discovery document (issue 12, point 6)', () => {
  test('never built from the Host header: without JWT_ISSUER it uses PUBLIC_URL, else the listening address', async (t) => {
    const viaPublicUrl = await useTestApp(t, 'pglite', { PUBLIC_URL: 'https://auth.example.com/' });
    const fallback = await useTestApp(t, 'pglite', { HOST: '127.0.0.1', PORT: '8123' });
    for (const [ctx, base] of [
      [viaPublicUrl, 'https://auth.example.com'],
      [fallback, 'http://127.0.0.1:8123'],
    ] as const) {
      for (const url of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
        const res = await ctx.app.inject({ url, headers: { host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' } });
        assert.equal(res.statusCode, 200);
        assert.doesNotMatch(res.body, /evil\.example/);
        const metadata = res.json();
        assert.equal(metadata.issuer, base);
        assert.equal(metadata.token_endpoint, `${base}/user/token`);
        assert.equal(metadata.jwks_uri, `${base}/.well-known/jwks.json`);
      }
    }
  });

  test('JWT_ISSUER stays the issuer; the endpoints are at PUBLIC_URL', async (t) => {
    const ctx = await useTestApp(t, 'pglite', { JWT_ISSUER: 'https://issuer.example.com', PUBLIC_URL: 'https://api.example.com' });
    const metadata = (await ctx.app.inject({ url: '/.well-known/openid-configuration', headers: { host: 'evil.example' } })).json();
    assert.equal(metadata.issuer, 'https://issuer.example.com');
    assert.equal(metadata.token_endpoint, 'https://api.example.com/user/token');
  });
});
