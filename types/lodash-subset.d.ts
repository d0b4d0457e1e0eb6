/**
 * lodash's per-method modules, which lambdas/smartcar/lodash-subset.ts re-exports for the `smartcar` SDK. lodash
 * ships no typings and the project calls none of them itself: opaque functions are enough.
 */
declare module 'lodash/*' {
  const fn: (...args: unknown[]) => unknown;
  export default fn;
}
