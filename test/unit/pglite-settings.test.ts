import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { sql } from 'drizzle-orm';
import { PGLITE_SHARED_BUFFERS } from '../../src/db/client.js';
import { createTestDatabase, selectRows } from '../helpers/databases.js';

test('the embedded database runs with a small buffer cache, set at start: its data directory is unchanged', async (t) => {
  const database = await createTestDatabase('pglite');
  t.after(() => database.destroy());
  const [row] = await selectRows<{ shared_buffers: string }>(database.handle.db, sql`show shared_buffers`);
  assert.equal(row?.shared_buffers, PGLITE_SHARED_BUFFERS);
  // initdb's value stays in the file: a directory opened by an older version (or by plain PostgreSQL) is as it was.
  const conf = readFileSync(join(database.dataDir!, 'pgdata', 'postgresql.conf'), 'utf8');
  assert.match(conf, /^shared_buffers = 128MB/m);
});
