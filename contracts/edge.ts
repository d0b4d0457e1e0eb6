/**
 * The edge front's origin lock (lib/features/edge-front.ts, lambdas/edge/origin-lock.ts): CloudFront adds this
 * header, holding a generated secret, to every request it forwards; the public routes' Lambdas refuse a request
 * without it, so the execute-api URL cannot be used to go around the web ACL.
 */
export const ORIGIN_VERIFY_HEADER = 'x-origin-verify';
/** The variable naming that secret (its id, never its value) in the functions behind the front. */
export const EDGE_ORIGIN_SECRET_VARIABLE = 'EDGE_ORIGIN_SECRET_ID';
