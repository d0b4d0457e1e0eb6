/**
 * The value every field of a freshly created Smartcar secret holds until the operator puts the real
 * credentials. It is public (it is in the template and this repository), so a Lambda that read it as a key
 * would let anybody sign webhooks: the secret source refuses it (SecretNotConfiguredError).
 * Dependency-free so the stack can write the same value into the secret it creates.
 */
export const SECRET_PLACEHOLDER = 'REPLACE_ME';
