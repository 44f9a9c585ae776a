/**
 * Small helpers over JSON-shaped values (what the API server sends and what YAML renders to).
 * Kept here rather than in `core` because only the plan stage needs structural equality and cloning.
 */

export type JsonObject = Record<string, unknown>;

/** A plain `{}`-style object: not an array, not null, not a class instance such as a Date. */
export function isPlainObject(value: unknown): value is JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * A deep copy that keeps only what JSON would keep. Keys whose value is `undefined` are dropped, so
 * `{ a: undefined }` and `{}` compare and diff as the same object (the wire cannot tell them apart).
 */
export function cloneJson<T>(value: T): T {
  return cloneValue(value) as T;
}

function cloneValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((item) => (item === undefined ? null : cloneValue(item)));
  if (isPlainObject(value)) {
    const copy: JsonObject = {};
    for (const [key, item] of Object.entries(value)) {
      if (item !== undefined) copy[key] = cloneValue(item);
    }
    return copy;
  }
  return value;
}

/** Structural equality of JSON values; keys set to `undefined` count as absent, as on the wire. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, index) => deepEqual(item, b[index]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keysA = definedKeys(a);
    const keysB = definedKeys(b);
    if (keysA.length !== keysB.length) return false;
    return keysA.every((key) => Object.hasOwn(b, key) && deepEqual(a[key], b[key]));
  }
  // NaN never comes from JSON; everything else that is not === is different.
  return false;
}

function definedKeys(object: JsonObject): string[] {
  return Object.keys(object).filter((key) => object[key] !== undefined);
}
