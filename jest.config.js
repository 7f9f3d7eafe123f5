/**
 * Jest runs TypeScript as native ES modules (NestJS 12 is ESM-only), so it must be started with
 * NODE_OPTIONS=--experimental-vm-modules (see package.json "test").
 * @type {import('jest').Config}
 */
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

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
  // Leaks are caught by --detectOpenHandles (it reports before jest exits). Below Node 24, jest
  // exits explicitly afterwards: after the last test, with no open handle left, the main thread
  // sometimes spun at 100 % CPU instead of exiting (Node 20: about one full run in four, in
  // Environment::CleanupHandles; Node 22.23: seen in one of two full runs here). Node 24 exited by
  // itself in every run here (full suite and chaos suite, CI included), so it runs without it.
  forceExit: NODE_MAJOR < 24,
};
