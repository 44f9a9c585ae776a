/**
 * URL paths for resources. Every segment is percent-encoded and nothing is lower-cased: the
 * resource name comes from discovery as the server spells it.
 */
import { UserError } from '../core/errors.js';
import type { ResourceMapping } from './mapper.js';

export function collectionPath(mapping: ResourceMapping, namespace: string | undefined): string {
  const base =
    mapping.group === ''
      ? `/api/${segment(mapping.version)}`
      : `/apis/${segment(mapping.group)}/${segment(mapping.version)}`;
  const scope = mapping.namespaced && namespace ? `/namespaces/${nameSegment(namespace, 'namespace')}` : '';
  return `${base}${scope}/${segment(mapping.resource)}`;
}

export function objectPath(
  mapping: ResourceMapping,
  namespace: string | undefined,
  name: string,
  subresource?: string,
): string {
  if (mapping.namespaced && !namespace) {
    throw new UserError(`${describe(mapping)} "${name}" is namespaced but has no namespace`);
  }
  const path = `${collectionPath(mapping, namespace)}/${nameSegment(name, 'name')}`;
  return subresource ? `${path}/${segment(subresource)}` : path;
}

/** Appends a query string made of the defined, non-empty parameters. */
export function withQuery(
  path: string,
  parameters: Record<string, string | number | boolean | undefined>,
): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(parameters)) {
    if (value !== undefined && value !== '' && value !== false) query.set(key, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

function segment(value: string): string {
  return encodeURIComponent(value);
}

/**
 * Names the apiserver would reject anyway, refused before they turn into another URL: an empty name
 * would address the collection, `..` would climb out of it once a proxy cleans the path.
 */
function nameSegment(value: string, what: 'name' | 'namespace'): string {
  if (value === '' || value === '.' || value === '..' || value.includes('/') || value.includes('%')) {
    throw new UserError(
      `invalid ${what} ${JSON.stringify(value)}: it may not be empty, "." or "..", or contain "/" or "%"`,
    );
  }
  return encodeURIComponent(value);
}

function describe(mapping: ResourceMapping): string {
  return mapping.group ? `${mapping.kind}.${mapping.group}` : mapping.kind;
}
