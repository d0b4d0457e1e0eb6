/**
 * What the `smartcar` SDK gets for `require('lodash')` in the bundles (the alias in lib/bundling.ts): the six
 * functions it calls, lodash's own per-method modules of the installed version, so the SDK behaves exactly as
 * with the whole library at about half its size. test/unit/bundle-contents.test.ts fails when the SDK calls a
 * function that is missing here.
 */
export { default as camelCase } from 'lodash/camelCase.js';
export { default as forEach } from 'lodash/forEach.js';
export { default as mapKeys } from 'lodash/mapKeys.js';
export { default as merge } from 'lodash/merge.js';
export { default as omit } from 'lodash/omit.js';
export { default as pick } from 'lodash/pick.js';
