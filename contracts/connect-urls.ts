/**
 * Rules for the Smartcar Connect settings that both the stack (synth-time validation of the CDK context) and the
 * OAuth Lambdas (cold-start validation of their environment) enforce, so synth rejects exactly what the Lambdas
 * would reject instead of a deploy that then fails on the first request.
 */

/** Smartcar Connect modes: real vehicles, Smartcar's test vehicles, or the vehicle simulator. */
export const SMARTCAR_MODES = ['live', 'test', 'simulated'] as const;
export type SmartcarMode = (typeof SMARTCAR_MODES)[number];

/**
 * An absolute URL with one of `protocols`, without a user:password@ part (these URLs end up in environment
 * variables, logs and address bars) and without a #fragment (lost on the redirect).
 */
export function isRedirectUrl(value: string, protocols: readonly string[]): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return (
    protocols.includes(url.protocol) &&
    url.hostname !== '' &&
    url.username === '' &&
    url.password === '' &&
    url.hash === ''
  );
}
