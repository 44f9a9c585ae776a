/**
 * JSON pointers (RFC 6901): the path syntax of field changes and of `ignoreFields`.
 * `/metadata/labels/app.kubernetes.io~1name` names the label `app.kubernetes.io/name`.
 */
import { UserError } from '../core/errors.js';
import { isPlainObject } from './json.js';

/** The segments of a pointer, unescaped. `''` (the whole document) has none. */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) {
    throw new UserError(`invalid JSON pointer ${JSON.stringify(pointer)}: it must start with "/"`);
  }
  return pointer
    .slice(1)
    .split('/')
    .map((segment) => {
      if (/~(?![01])/.test(segment)) {
        throw new UserError(
          `invalid JSON pointer ${JSON.stringify(pointer)}: "~" must be written "~0" and "/" as "~1"`,
        );
      }
      // Order matters: "~01" is the literal "~1", so "~1" is decoded before "~0".
      return segment.replaceAll('~1', '/').replaceAll('~0', '~');
    });
}

export function formatPointer(segments: readonly string[]): string {
  return segments.map((segment) => `/${segment.replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}

/** The value at a path, or `undefined` when any step is missing. */
export function valueAt(document: unknown, segments: readonly string[]): unknown {
  let current = document;
  for (const segment of segments) {
    if (Array.isArray(current)) {
      const index = arrayIndex(segment);
      if (index === undefined) return undefined;
      current = current[index];
    } else if (isPlainObject(current)) {
      if (!Object.hasOwn(current, segment)) return undefined;
      current = current[segment];
    } else {
      return undefined;
    }
  }
  return current;
}

/** A segment as an array index: digits only, no leading zeros (RFC 6901), else `undefined`. */
export function arrayIndex(segment: string): number | undefined {
  return /^(0|[1-9]\d*)$/.test(segment) ? Number(segment) : undefined;
}
