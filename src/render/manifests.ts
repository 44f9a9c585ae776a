/**
 * From YAML documents to Kubernetes objects: each must be a mapping with `apiVersion`, `kind` and
 * `metadata.name`; `List` documents (what `kubectl get -o yaml` writes, and some tools emit) are
 * expanded into their items. Errors name the file (or tool output) and the document, never values.
 */
import type { KubeObject } from '../core/objects.js';
import { UserError } from '../core/errors.js';
import type { RenderBudget } from './limits.js';
import type { YamlDocument } from './yaml.js';
import { parseYamlStreamAsync } from './yaml.js';

/**
 * Parses a manifest stream (a file, or a tool's output) into objects, charging the budget. Async so
 * that large streams leave the event loop a turn now and then.
 */
export async function parseManifests(
  text: string,
  origin: string,
  budget: RenderBudget,
): Promise<KubeObject[]> {
  const documents = await parseYamlStreamAsync(text, origin, {
    maxAliasCount: budget.limits.maxAliasCount,
    maxDepth: budget.limits.maxDepth,
    // Empty documents count here too; objects are charged exactly below.
    maxDocuments: 2 * budget.limits.maxDocuments + 1,
  });
  const objects: KubeObject[] = [];
  for (const document of documents) {
    const where = describeDocument(origin, document);
    const found = expandLists(document.value, where);
    budget.chargeDocuments(origin, found.length);
    objects.push(...found);
  }
  return objects;
}

function describeDocument(origin: string, document: YamlDocument): string {
  const source = document.source ? ` from ${JSON.stringify(document.source)}` : '';
  return `${origin}: document ${document.index + 1} (line ${document.line})${source}`;
}

function expandLists(value: unknown, where: string): KubeObject[] {
  const object = asObject(value, where);
  if (isListKind(object)) {
    const items = object.items;
    if (items === null || items === undefined) return [];
    if (!Array.isArray(items)) throw new UserError(`${where}: a ${object.kind} whose items is not a list`);
    return items.map((item, i) => asKubeObject(item, `${where}, item ${i + 1} of the ${object.kind}`));
  }
  return [asKubeObject(object, where)];
}

/** `kind: List`, or `<Kind>List` with `items`, as kubectl reads them. */
function isListKind(object: Record<string, unknown>): object is Record<string, unknown> & { kind: string } {
  const kind = object.kind;
  if (typeof kind !== 'string' || !kind.endsWith('List')) return false;
  return kind === 'List' || Array.isArray(object.items);
}

function asObject(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const what = Array.isArray(value) ? 'a sequence' : `a ${typeof value}`;
    throw new UserError(
      `${where} is ${what}, not a Kubernetes object (a mapping with apiVersion, kind and metadata)`,
    );
  }
  return value as Record<string, unknown>;
}

function asKubeObject(value: unknown, where: string): KubeObject {
  const object = asObject(value, where);
  const missing: string[] = [];
  if (!nonEmptyString(object.apiVersion)) missing.push('apiVersion');
  if (!nonEmptyString(object.kind)) missing.push('kind');
  const metadata = object.metadata;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) missing.push('metadata');
  else if (!nonEmptyString((metadata as Record<string, unknown>).name)) missing.push('metadata.name');
  if (missing.length > 0) {
    const hint =
      object.kind === 'Kustomization' && String(object.apiVersion).startsWith('kustomize.config.k8s.io/')
        ? ' (this is a kustomization file: render the folder with kustomize)'
        : '';
    throw new UserError(
      `${where} is not a Kubernetes object: ${missing.join(', ')} missing or not a string${hint}`,
    );
  }
  return object as KubeObject;
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}
