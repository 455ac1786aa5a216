import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { environmentWithDotEnv, loadConfig } from '../../src/config.js';

test('.env is read when present and the process environment wins over it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'user-services-dotenv-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, '.env');
  // A placeholder, not a real key: only its round trip through .env matters here.
  const secretKey = 'not-a-real-key-'.padEnd(64, 'x');
  writeFileSync(
    file,
    `SECRET_KEY=${secretKey}\n` +
      'DATABASE_URL=postgresql+psycopg://user:password@localhost/dbname\nPORT=9000\n',
  );
  const config = loadConfig(environmentWithDotEnv({ PORT: '9100' }, file));
  assert.equal(config.secretKey, secretKey);
  assert.equal(config.databaseUrl, 'postgresql://user:password@localhost/dbname');
  assert.equal(config.port, 9100);
  assert.deepEqual(environmentWithDotEnv({ A: '1' }, join(dir, 'missing.env')), { A: '1' });
});
