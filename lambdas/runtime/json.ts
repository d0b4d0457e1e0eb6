/** A JSON object (not an array, not null) with its fields still unchecked. */
export type JsonObject = Record<string, unknown>;

/** `value` when it is a JSON object, else undefined. */
export function asObject(value: unknown): JsonObject | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as JsonObject)
    : undefined;
}

/** `text` parsed when it is a JSON object; undefined when it is not JSON or another JSON value. */
export function parseObject(text: string): JsonObject | undefined {
  try {
    return asObject(JSON.parse(text));
  } catch {
    return undefined;
  }
}
