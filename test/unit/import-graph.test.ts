import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cruise, type ICruiseOptions } from 'dependency-cruiser';

const ruleSet = createRequire(import.meta.url)('../../.dependency-cruiser.cjs') as { forbidden: unknown[]; options: ICruiseOptions };

/** The rule violations dependency-cruiser finds under `root/src`, as "rule: from → to" lines. */
async function violations(root: string): Promise<string[]> {
  const cwd = process.cwd();
  process.chdir(root);
  try {
    const { tsConfig: _tsConfig, ...options } = ruleSet.options;
    const result = await cruise(['src'], { ...options, validate: true, ruleSet: { forbidden: ruleSet.forbidden } } as ICruiseOptions);
    if (typeof result.output === 'string') throw new Error(result.output);
    return result.output.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}${v.cycle ? ` (${v.cycle.map((c) => c.name).join(' → ')})` : ''}`);
  } finally {
    process.chdir(cwd);
  }
}

test('src/ has no import cycle and no import pointing up a floor (README "Layout")', async () => {
  const found = await violations(process.cwd());
  assert.deepEqual(found, []);
});

// The rules themselves are checked on a small tree that breaks each one, so an empty list above means
// "no violation", not "the checker saw nothing".
test('the import rules catch a cycle of type imports, a lower floor importing services or http, and Fastify in a service', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'import-graph-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const files: Record<string, string> = {
    'src/services/deps.ts': "import type { Gate } from './sign-in/lockout.js';\nexport interface ServiceDeps { gate: Gate }\n",
    'src/services/sign-in/lockout.ts': "import type { ServiceDeps } from '../deps.js';\nexport interface Gate { deps?: ServiceDeps }\n",
    'src/services/account/profile.ts': "import fastify from 'fastify';\nimport { route } from '../../http/routes/user.js';\nexport const app = [fastify, route];\n",
    'src/http/routes/user.ts': "export const route = 1;\n",
    'src/repositories/login-failures.ts': "import type { Gate } from '../services/sign-in/lockout.js';\nexport type Policy = Gate;\n",
    'src/config.ts': "import { route } from './http/routes/user.js';\nexport const config = route;\n",
    'src/crypto/jwt.ts': "import type { ServiceDeps } from '../services/deps.js';\nexport type Keys = ServiceDeps;\n",
  };
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), text);
  }
  await mkdir(join(root, 'node_modules', 'fastify'), { recursive: true });
  await writeFile(join(root, 'node_modules', 'fastify', 'package.json'), '{"name":"fastify","main":"index.js"}');
  await writeFile(join(root, 'node_modules', 'fastify', 'index.js'), 'module.exports = 1;\n');
  const rules = new Set((await violations(root)).map((line) => line.split(': ')[0]));
  assert.deepEqual([...rules].sort(), [
    'kernel-imports-capability',
    'lower-floor-imports-upper',
    'no-circular',
    'services-import-fastify',
    'services-import-http',
  ]);
});

test("the README's Layout names every folder under src/ and no folder that is gone", async () => {
  const { readFileSync, readdirSync } = await import('node:fs');
  const readme = readFileSync('README.md', 'utf8');
  const start = readme.indexOf('### Layout');
  const block = readme.slice(readme.indexOf('```\nsrc/', start), readme.indexOf('\n```\n', readme.indexOf('```\nsrc/', start) + 4));
  // The tree is indented two spaces a level; a line "    sessions/ …" under "  services/" names src/services/sessions.
  const named = new Set<string>();
  const parents: string[] = [];
  for (const line of block.split('\n').slice(1)) {
    const match = /^( *)([a-z][a-z0-9-]*)\/(?:,|\s|$)/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 2;
    parents.length = depth;
    parents[depth] = match[2]!;
    if (depth >= 1) named.add(parents.slice(1, depth + 1).join('/'));
  }
  const folders = readdirSync('src', { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => join(entry.parentPath, entry.name).slice('src/'.length))
    // Below a capability's folder, sub-folders are its own business (migrations/meta, pages/views/partials…).
    .filter((path) => path.split('/').length <= 2 && !/^(db\/|http\/pages\/)/.test(path));
  assert.deepEqual([...named].filter((path) => !folders.includes(path)), [], 'folders the README names that do not exist');
  assert.deepEqual(folders.filter((path) => !named.has(path)).sort(), [], 'folders under src/ the README does not name');
});
