// Import boundaries for src/ (SPEC §10: `npm run lint` fails on a forbidden import).
// `npm run lint` runs Biome, then `depcruise src --config .dependency-cruiser.cjs`;
// each violation prints as `error <rule-name>: <from> → <to>`.
//
// Paths are regular expressions on repository-relative paths, so folders that do not
// exist yet (src/modules/<name>, src/realtime, src/jobs) are covered by where they live.
// `import type` counts everywhere, cycles included: a type reaching across a boundary
// couples the code just the same. Tests and bench are not cruised: they may import anything.

/** `src/modules/<name>/index.ts` is the only file of a module that other code may import. */
const MODULE_INDEX = '^src/modules/[^/]+/index\\.ts$';
/** The composition root and the process entry point sit on top of everything else. */
const WIRING = ['^src/app\\.ts$', '^src/server\\.ts$'];
/** Vendor clients only src/infra talks to (the second pattern: imported but not installed). */
const VENDOR_CLIENTS = [
  '(^|/)node_modules/(ioredis|mysql2|socket\\.io|bullmq)/',
  '^(ioredis|mysql2|socket\\.io|bullmq)(/|$)',
];

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'infra-imports-app-code',
      comment: 'src/infra knows vendors, never rooms or users: no modules, http, realtime, jobs or wiring.',
      severity: 'error',
      from: { path: '^src/infra/' },
      to: { path: ['^src/(modules|http|realtime|jobs)/', ...WIRING] },
    },
    {
      name: 'lib-imports-outside-lib',
      comment: 'src/lib holds leaf utilities: it imports nothing from src except src/lib.',
      severity: 'error',
      from: { path: '^src/lib/' },
      to: { path: '^src/', pathNot: '^src/lib/' },
    },
    {
      name: 'module-imports-app-layer',
      comment: 'A module never reaches up into http, realtime, jobs or the wiring (app.ts, server.ts).',
      severity: 'error',
      from: { path: '^src/modules/' },
      to: { path: ['^src/(http|realtime|jobs)/', ...WIRING] },
    },
    {
      name: 'module-imports-vendor-client',
      comment: 'Modules reach Redis, MySQL, Socket.IO and BullMQ through infra ports (Kysely is allowed).',
      severity: 'error',
      from: { path: '^src/modules/' },
      to: { path: VENDOR_CLIENTS },
    },
    {
      name: 'module-imports-other-module-internals',
      comment: "A module imports another module only through that module's index.ts.",
      severity: 'error',
      from: { path: '^src/modules/([^/]+)/' },
      to: { path: '^src/modules/[^/]+/', pathNot: ['^src/modules/$1/', MODULE_INDEX] },
    },
    {
      name: 'app-layer-imports-module-internals',
      comment: 'src/http, src/realtime, src/jobs and the wiring import a module only through its index.ts.',
      severity: 'error',
      from: { path: ['^src/(http|realtime|jobs)/', ...WIRING] },
      to: { path: '^src/modules/[^/]+/', pathNot: MODULE_INDEX },
    },
    {
      name: 'app-layer-imports-wiring',
      comment: 'src/http, src/realtime and src/jobs are wired by app.ts; they never import it or server.ts.',
      severity: 'error',
      from: { path: '^src/(http|realtime|jobs)/' },
      to: { path: WIRING },
    },
    {
      name: 'shared-imports-app-code',
      comment:
        'src/config.ts, src/errors.ts and src/principal.ts are importable by anyone: they import only each other.',
      severity: 'error',
      from: { path: '^src/(config|errors|principal)\\.ts$' },
      to: { path: '^src/', pathNot: '^src/(config|errors|principal)\\.ts$' },
    },
    {
      name: 'no-circular',
      comment: 'No import cycles in src, `import type` included.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that cannot be resolved would slip past every rule above.',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['\\.(test|spec)\\.ts$', '^(test|bench)/'] },
    // Keep `import type` edges (dependency type 'type-only'): TypeScript erases them,
    // but they are still dependencies between layers.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.d.ts', '.js', '.mjs', '.cjs', '.json'],
      mainFields: ['main', 'types', 'typings'],
    },
  },
};
