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
};
