/** Projects: unit (no I/O), integration on MariaDB + Redis, the same integration files on the embedded default, e2e in Chromium. */
const transform = { '^.+\\.tsx?$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } } }] };
const base = { testEnvironment: 'node', transform, setupFiles: ['<rootDir>/test/helpers/no-network.ts'] };

module.exports = {
  testTimeout: 30000,
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { ...base, displayName: 'mysql', testMatch: ['<rootDir>/test/integration/**/*.test.ts'], setupFiles: [...base.setupFiles, '<rootDir>/test/helpers/backend-mysql.ts'] },
    { ...base, displayName: 'embedded', testMatch: ['<rootDir>/test/integration/**/*.test.ts'], setupFiles: [...base.setupFiles, '<rootDir>/test/helpers/backend-embedded.ts'] },
    { ...base, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'], setupFiles: [...base.setupFiles, '<rootDir>/test/helpers/backend-embedded.ts'] },
  ],
};
