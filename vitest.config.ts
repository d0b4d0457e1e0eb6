import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // Infrastructure synthesis and the local-stack integration tests start real processes
    // (DynamoDB Local on the JVM, the SQS emulator); give them room on a 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Tests run on Node 20 with the SDK versions pinned in package-lock.json; silence the SDK's notice that its
    // 2027 releases will need Node 22 (the Lambdas themselves run on Node 24).
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
