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
  // Leaks are caught by --detectOpenHandles (it reports before jest exits). On Node 20 only, jest
  // exits explicitly afterwards: there, about one run in four, the process spun at 100 % CPU in
  // Environment::CleanupHandles after the last test (with no open handle left) and never returned.
  // Node 22 and 24 exit by themselves (CI runs the suite on Node 24 without forceExit).
  forceExit: NODE_MAJOR <= 20,
};
