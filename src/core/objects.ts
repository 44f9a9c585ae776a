/**
 * Unstructured Kubernetes objects and the references every stage uses to name them.
 */

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  generation?: number;
  uid?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  managedFields?: ManagedFieldsEntry[];
  ownerReferences?: {
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }[];
  finalizers?: string[];
  [key: string]: unknown;
}

export interface ManagedFieldsEntry {
  manager?: string;
  operation?: 'Apply' | 'Update';
  apiVersion?: string;
  time?: string;
  fieldsType?: string;
  fieldsV1?: Record<string, unknown>;
  subresource?: string;
}

/** Any Kubernetes object, as the API serves it. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

/** Names one object: enough to find it once the REST mapper knows the kind. */
export interface ObjectRef {
  /** API group, '' for the core group. */
  readonly group: string;
  readonly kind: string;
  /** Absent for cluster-scoped objects. */
  readonly namespace?: string;
  readonly name: string;
}

export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

export function refOf(object: KubeObject): ObjectRef {
  const { group } = splitApiVersion(object.apiVersion);
  const ref: ObjectRef = { group, kind: object.kind, name: object.metadata.name ?? '' };
  return object.metadata.namespace ? { ...ref, namespace: object.metadata.namespace } : ref;
}

/** `Kind/namespace/name` (or `Kind/name`), with the group when there is one: for people. */
export function formatRef(ref: ObjectRef): string {
  const kind = ref.group ? `${ref.kind}.${ref.group}` : ref.kind;
  return ref.namespace ? `${kind}/${ref.namespace}/${ref.name}` : `${kind}/${ref.name}`;
}

/** `<namespace>_<name>_<group>_<kind>`: a stable key for inventories and maps (the form Flux uses). */
export function refKey(ref: ObjectRef): string {
  return `${ref.namespace ?? ''}_${ref.name}_${ref.group}_${ref.kind}`;
}

export function parseRefKey(key: string): ObjectRef {
  const parts = key.split('_');
  if (parts.length !== 4) throw new Error(`not an object key: ${key}`);
  const [namespace, name, group, kind] = parts as [string, string, string, string];
  return namespace ? { group, kind, namespace, name } : { group, kind, name };
}
