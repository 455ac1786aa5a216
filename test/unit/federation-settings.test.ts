import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';
import { isLoopbackHost } from '../../src/config-federation.js';

const google = {
  OIDC_PROVIDERS: 'google',
  OIDC_GOOGLE_ISSUER: 'https://accounts.google.com',
  OIDC_GOOGLE_CLIENT_ID: 'id.apps.googleusercontent.com',
  OIDC_GOOGLE_CLIENT_SECRET: 'a-secret',
};

const problemsOf = (env: Record<string, string>) => {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  return [];
};

test('no providers by default', () => {
  assert.deepEqual(loadConfig({}).oidcProviders, []);
});

test('a provider from its OIDC_<NAME>_* variables, with the default label and scopes', () => {
  const [provider] = loadConfig({ ...google, OIDC_PROVIDERS: ' Google ' }).oidcProviders;
  assert.deepEqual(provider, {
    name: 'google',
    issuer: 'https://accounts.google.com',
    clientId: 'id.apps.googleusercontent.com',
    clientSecret: 'a-secret',
    label: 'Google',
    scopes: 'openid email profile',
  });
  const custom = loadConfig({ ...google, OIDC_GOOGLE_LABEL: 'Google Workspace', OIDC_GOOGLE_SCOPES: 'openid email' }).oidcProviders[0]!;
  assert.equal(custom.label, 'Google Workspace');
  assert.equal(custom.scopes, 'openid email');
});

test('missing variables are named, and the secret is never quoted', () => {
  const problems = problemsOf({ OIDC_PROVIDERS: 'gitlab,corp', OIDC_CORP_ISSUER: 'https://sso.corp.example', OIDC_CORP_CLIENT_ID: 'x', OIDC_CORP_CLIENT_SECRET: 'top-secret-value' });
  assert.deepEqual(problems, [
    'OIDC_GITLAB_ISSUER is required (provider gitlab is in OIDC_PROVIDERS)',
    'OIDC_GITLAB_CLIENT_ID is required (provider gitlab is in OIDC_PROVIDERS)',
    'OIDC_GITLAB_CLIENT_SECRET is required (provider gitlab is in OIDC_PROVIDERS)',
  ]);
  const bad = problemsOf({ ...google, OIDC_GOOGLE_ISSUER: 'http://accounts.google.com', OIDC_GOOGLE_SCOPES: 'email' });
  assert.equal(bad.length, 2);
  assert.match(bad[0]!, /^OIDC_GOOGLE_ISSUER must be an https:\/\/ URL/);
  assert.match(bad[1]!, /^OIDC_GOOGLE_SCOPES must include openid/);
  assert.equal(bad.join(' ').includes('a-secret'), false);
});

test('provider names: a letter then letters or digits, each once', () => {
  assert.match(problemsOf({ OIDC_PROVIDERS: 'my-idp' })[0]!, /OIDC_PROVIDERS names "my-idp"/);
  assert.match(problemsOf({ ...google, OIDC_PROVIDERS: 'google,google' })[0]!, /names google twice/);
});

test('issuers must be https, except on a loopback address', () => {
  for (const issuer of ['http://127.0.0.1:9000', 'http://localhost:9000', 'http://[::1]:9000', 'https://idp.example/realms/x']) {
    assert.equal(loadConfig({ ...google, OIDC_GOOGLE_ISSUER: issuer }).oidcProviders[0]!.issuer, issuer);
  }
  for (const issuer of ['http://idp.example', 'http://10.0.0.1', 'http://127.0.0.1.nip.io', 'ftp://idp.example', 'https://u:p@idp.example', 'https://idp.example/?x=1', 'not a url']) {
    assert.equal(problemsOf({ ...google, OIDC_GOOGLE_ISSUER: issuer }).length, 1, issuer);
  }
  assert.equal(isLoopbackHost('127.8.9.10'), true);
  assert.equal(isLoopbackHost('[::1]'), true);
  assert.equal(isLoopbackHost('128.0.0.1'), false);
});
