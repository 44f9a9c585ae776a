/**
 * JSON as block YAML, for showing a live object the way kubectl does. Deliberately small (the page
 * only ever shows JSON the server sent, so no anchors, tags or multi-documents), instead of adding
 * a YAML library to the bundle. Strings are quoted whenever YAML could read them as anything else.
 */

const PLAIN = /^[A-Za-z_/][A-Za-z0-9_./ :-]*$/;
const RESERVED = /^(true|false|yes|no|on|off|null|~|y|n)$/i;

function scalar(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const text = String(value);
  if (
    text !== '' &&
    PLAIN.test(text) &&
    !RESERVED.test(text) &&
    !/: |:$| #/.test(text) &&
    text.trim() === text
  )
    return text;
  return JSON.stringify(text);
}

function key(name: string): string {
  return /^[A-Za-z0-9_./-]+$/.test(name) && !RESERVED.test(name) ? name : JSON.stringify(name);
}

const isEmpty = (value: unknown): boolean =>
  (Array.isArray(value) && value.length === 0) ||
  (value !== null && typeof value === 'object' && Object.keys(value).length === 0);

function lines(value: unknown, indent: string): string[] {
  if (Array.isArray(value)) {
    return value.flatMap((item) => {
      if (item !== null && typeof item === 'object' && !isEmpty(item)) {
        const [first, ...rest] = lines(item, `${indent}  `);
        return [`${indent}- ${first!.trimStart()}`, ...rest];
      }
      return [`${indent}- ${isEmpty(item) ? (Array.isArray(item) ? '[]' : '{}') : scalar(item)}`];
    });
  }
  if (value !== null && typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>).flatMap(([name, item]) => {
      if (item !== null && typeof item === 'object' && !isEmpty(item)) {
        return [`${indent}${key(name)}:`, ...lines(item, Array.isArray(item) ? indent : `${indent}  `)];
      }
      if (typeof item === 'string' && item.includes('\n')) {
        const body = item.replace(/\n$/, '').split('\n');
        return [
          `${indent}${key(name)}: |${item.endsWith('\n') ? '' : '-'}`,
          ...body.map((l) => `${indent}  ${l}`),
        ];
      }
      return [`${indent}${key(name)}: ${isEmpty(item) ? (Array.isArray(item) ? '[]' : '{}') : scalar(item)}`];
    });
  }
  return [`${indent}${scalar(value)}`];
}

export function toYaml(value: unknown): string {
  return `${lines(value, '').join('\n')}\n`;
}
