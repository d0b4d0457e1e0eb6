/**
 * App user ids are the integrator's own identifiers (a UUID, a database id, `auth0|…`, an email address). They
 * are stored as the `byAppUser` GSI key and bound into the KMS encryption context, so they are kept to a
 * bounded, printable set without whitespace or control characters.
 */
const APP_USER_ID = /^[A-Za-z0-9][A-Za-z0-9._:@|+=-]{0,127}$/;

export function isValidAppUserId(value: unknown): value is string {
  return typeof value === 'string' && APP_USER_ID.test(value);
}

export const APP_USER_ID_RULE =
  'userId must be 1-128 characters: letters, digits and . _ : @ | + = - (starting with a letter or digit)';
