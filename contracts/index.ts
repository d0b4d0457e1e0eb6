/** The contracts shared by the stack (lib/), the Lambdas (lambdas/) and local mode (local/). */
export * from './functions.js';
export * from './tables.js';
export * from './token-encryption.js';
export * from './connect-urls.js';
export * from './metrics.js';
export * from './edge.js';
