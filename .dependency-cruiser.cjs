/**
 * The import rules of src/ (README "Layout"): imports point down the floors
 * cli → server → app → http → services → repositories, crypto, mail → db → config, clock, errors, logging.
 * Checked by test/unit/import-graph.test.ts; `npx depcruise src` prints the same verdicts.
 * Type-only imports count: a circle of types is still a circle a reader has to untangle.
 */
const lowerFloors = '^src/(repositories|db|crypto|mail)/|^src/(config|clock|errors|config-federation|logging|keyed-gate|secret-key)[.]ts$';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A circle of imports: move the shared type to the lower floor that needs it.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'lower-floor-imports-upper',
      severity: 'error',
      comment: 'repositories, db, crypto, mail, config and the kernel files know nothing of services, http or the process.',
      from: { path: lowerFloors },
      to: { path: '^src/(services|http)/|^src/(app|server|cli|cluster)[.]ts$' },
    },
    {
      name: 'services-import-http',
      severity: 'error',
      comment: 'Services are called by the HTTP layer, never the other way round.',
      from: { path: '^src/services/' },
      to: { path: '^src/http/|^src/(app|server|cli|cluster)[.]ts$' },
    },
    {
      name: 'services-import-fastify',
      severity: 'error',
      comment: 'Services never import Fastify: they are called with plain values and throw DomainErrors.',
      from: { path: '^src/services/' },
      to: { path: '(^|/)node_modules/(fastify|@fastify/)' },
    },
    {
      name: 'kernel-imports-capability',
      severity: 'error',
      comment: "services/deps.ts is the kernel every folder depends on: it takes nothing from the services.",
      from: { path: '^src/services/deps[.]ts$' },
      to: { path: '^src/services/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'], extensionAlias: { '.js': ['.ts', '.js'] } },
  },
};
