import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig, normaliseDatabaseUrl } from '../../src/config.js';

test('defaults match the Python service and the README', () => {
  const config = loadConfig({});
  assert.equal(config.accessTokenTtlSeconds, 30 * 60);
  assert.equal(config.refreshTokenTtlSeconds, 7 * 86400);
  assert.equal(config.bcryptRounds, 12);
  assert.equal(config.port, 8000);
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.dataDir, './data');
  assert.equal(config.databaseUrl, undefined);
  assert.equal(config.secretKey, undefined);
  assert.ok(Object.isFrozen(config));
});

test('numbers are parsed from strings; empty strings count as unset', () => {
  const config = loadConfig({ PORT: '9001', ACCESS_TOKEN_EXPIRE_MINUTES: '15', DATABASE_URL: '' });
  assert.equal(config.port, 9001);
  assert.equal(config.accessTokenTtlSeconds, 900);
  assert.equal(config.databaseUrl, undefined);
});

test('SQLAlchemy-style URLs from the Python service are accepted', () => {
  for (const url of [
    'postgresql+psycopg://u:p@localhost/db',
    'postgresql+psycopg2://u:p@localhost/db',
    'postgres://u:p@localhost/db',
    'postgresql://u:p@localhost/db',
  ]) {
    assert.equal(loadConfig({ DATABASE_URL: url }).databaseUrl, 'postgresql://u:p@localhost/db');
  }
  assert.equal(normaliseDatabaseUrl('postgres://h/d'), 'postgresql://h/d');
});

test('every bad value is reported at once, by name, and the secret is never echoed', () => {
  assert.throws(
    () =>
      loadConfig({
        PORT: 'eighty',
        BCRYPT_ROUNDS: '40',
        DATABASE_URL: 'mysql://x',
        LOG_LEVEL: 'loud',
        SECRET_KEY: 'short-secret',
      }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      const names = error.problems.map((p) => p.split(' ')[0]).sort();
      assert.deepEqual(names, ['BCRYPT_ROUNDS', 'DATABASE_URL', 'LOG_LEVEL', 'PORT', 'SECRET_KEY']);
      assert.doesNotMatch(error.message, /short-secret/);
      return true;
    },
  );
});

test('a bad URL is quoted back with its password masked', () => {
  assert.throws(
    () => loadConfig({ DATABASE_URL: 'postgresql+asyncpg://app:S3cretDbPw@db/prod', REDIS_URL: 'http://cache:R3disPw@cache:6379' }),
    (error: Error) => {
      assert.match(error.message, /"postgresql\+asyncpg:\/\/app:\*\*\*@db\/prod"/);
      assert.match(error.message, /"http:\/\/cache:\*\*\*@cache:6379"/);
      assert.equal(/S3cretDbPw|R3disPw/.test(error.message), false);
      return true;
    },
  );
});

test('PUBLIC_URL is configured, never guessed from a request: PUBLIC_URL, else JWT_ISSUER, else the listener', () => {
  assert.equal(loadConfig({}).publicUrl, 'http://127.0.0.1:8000');
  assert.equal(loadConfig({ HOST: '0.0.0.0', PORT: '9001' }).publicUrl, 'http://127.0.0.1:9001');
  assert.equal(loadConfig({ HOST: '::' }).publicUrl, 'http://[::1]:8000');
  assert.equal(loadConfig({ JWT_ISSUER: 'https://id.example.com/' }).publicUrl, 'https://id.example.com');
  assert.equal(loadConfig({ PUBLIC_URL: 'https://auth.example.com/', JWT_ISSUER: 'https://id.example.com' }).publicUrl, 'https://auth.example.com');
  assert.throws(() => loadConfig({ PUBLIC_URL: 'auth.example.com' }), /PUBLIC_URL must be the URL people and clients reach/);
});
