import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sql } from 'drizzle-orm';
import { openPglite, PGLITE_SHARED_BUFFERS } from '../../src/db/client.js';
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

test('a new data directory is created (initdb, in a process of its own) and opened; a path that cannot hold one is a clear error', async (t) => {
  const parent = mkdtempSync(join(tmpdir(), 'user-services-initdb-'));
  t.after(() => rmSync(parent, { recursive: true, force: true }));
  const handle = await openPglite(join(parent, 'data'));
  try {
    const [row] = await selectRows<{ answer: number }>(handle.db, sql`select 6 * 7 as answer`);
    assert.equal(row?.answer, 42);
    assert.ok(existsSync(join(parent, 'data', 'pgdata', 'PG_VERSION')));
  } finally {
    await handle.close();
  }
  // A file where the cluster's directory should be: initdb fails, and says where.
  mkdirSync(join(parent, 'broken'));
  writeFileSync(join(parent, 'broken', 'pgdata'), '');
  await assert.rejects(openPglite(join(parent, 'broken')), (error: Error) => {
    assert.match(error.message, /^Could not create the embedded database in .*broken\/pgdata/);
    return true;
  });
});

test('initdb runs once per installed PGlite: every new data directory is a copy of the pristine one', async (t) => {
  const parent = mkdtempSync(join(tmpdir(), 'user-services-initdb-'));
  t.after(() => rmSync(parent, { recursive: true, force: true }));
  const identifiers: string[] = [];
  for (const name of ['first', 'second']) {
    const handle = await openPglite(join(parent, name));
    try {
      // initdb gives every cluster it makes an identifier of its own; copies keep the pristine one's.
      const [row] = await selectRows<{ id: string }>(handle.db, sql`select system_identifier::text as id from pg_control_system()`);
      identifiers.push(row!.id);
    } finally {
      await handle.close();
    }
  }
  assert.equal(identifiers[0], identifiers[1]);
});
