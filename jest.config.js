/** Projects: unit (no I/O: no database, store, network, child process or temporary file), integration on MariaDB + Redis, the same integration files on the embedded default, e2e in Chromium. */
// otplib's default plugins import ESM-only packages (@scure/base, @noble/hashes): Node loads them with require(esm),
// Jest's module loader does not, so they are compiled to CommonJS like our own files.
const ESM_ONLY = ['@scure', '@noble'];
const transform = {
  '^.+\\.tsx?$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } } }],
  [`/node_modules/(${ESM_ONLY.join('|')})/.+\\.js$`]: ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'ecmascript' } }, module: { type: 'commonjs' } }],
};
const base = {
  testEnvironment: 'node', transform, transformIgnorePatterns: [`/node_modules/(?!.*/node_modules/)(?!(${ESM_ONLY.join('|')})/)`], setupFiles: ['<rootDir>/test/helpers/no-network.ts'],
};

module.exports = {
  testTimeout: 30000,
  // One test file at a time (2 cores; the tests' timings assume it), but in a worker process that is replaced once it
  // holds more than this after a file: in band, what each file leaves behind (fonts, browsers, pools) piled up in one
  // heap until it ran out of memory near the end of the suite.
  maxWorkers: 1,
  workerIdleMemoryLimit: '1GB',
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    // test/integration/no-backend: disk, child processes, SoftHSM2, but no database or store: once (embedded) is enough.
    {
      ...base, displayName: 'mysql', testMatch: ['<rootDir>/test/integration/**/*.test.ts'], testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/integration/no-backend/'],
      setupFiles: [...base.setupFiles, '<rootDir>/test/helpers/backend-mysql.ts'],
    },
    { ...base, displayName: 'embedded', testMatch: ['<rootDir>/test/integration/**/*.test.ts'], setupFiles: [...base.setupFiles, '<rootDir>/test/helpers/backend-embedded.ts'] },
    { ...base, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'], setupFiles: [...base.setupFiles, '<rootDir>/test/helpers/backend-embedded.ts'] },
  ],
};
