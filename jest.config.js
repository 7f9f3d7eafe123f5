/**
 * Jest runs TypeScript as native ES modules (NestJS 12 is ESM-only), so it must be started with
 * NODE_OPTIONS=--experimental-vm-modules (see package.json "test").
 * @type {import('jest').Config}
 */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.spec.ts'],
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/chaos/'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: '<rootDir>/tsconfig.json' }],
  },
  testTimeout: 60000,
  // e2e suites each start their own etcd processes; two workers fit the 2-core CI machine.
  maxWorkers: 2,
  // Leaks are caught by --detectOpenHandles (it reports before jest exits). Exiting explicitly
  // afterwards avoids a Node 20 teardown bug seen here about one run in four: after the last test,
  // with no open handle left, the process spun at 100 % CPU in Environment::CleanupHandles (the
  // exit path taken when the event loop drains by itself), so jest never returned.
  forceExit: true,
};
