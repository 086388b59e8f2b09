/** Projects: unit (no I/O: no database, store, network, child process or temporary file), integration on MariaDB + Redis, the same integration files on the embedded default, e2e in Chromium. */
const transform = { '^.+\\.tsx?$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } } }] };
const base = { testEnvironment: 'node', transform, setupFiles: ['<rootDir>/test/helpers/no-network.ts'] };

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
