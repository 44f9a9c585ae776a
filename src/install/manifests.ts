/**
 * The objects `capstan install` applies, made from deploy/ — the human-readable source of truth
 * (deploy/crds.yaml, generated from src/api; deploy/shared/controller.yaml; deploy/single-team/) —
 * with the install's options set: image, replicas, namespace, log level, extra arguments, tenancy.
 * Nothing here talks to a cluster: the same options always give the same objects.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { parseAllDocuments } from 'yaml';
import { CAPSTAN_VERSION } from '../cli/version.js';
import { CapstanError, UserError } from '../core/errors.js';
import type { KubeObject } from '../core/objects.js';

export interface InstallOptions {
  /** The controller's image; default `localhost/capstan:<version>` (see defaultImage). */
  readonly image: string;
  /** Default capstan-system. */
  readonly namespace?: string;
  /** Default 2 (one leader, one standby). */
  readonly replicas?: number;
  /** The controller's --log-level (debug, info, warn, error); default: the controller's (info). */
  readonly logLevel?: string;
  /** `shared` (default): every Application names its ServiceAccount. `single-team`: an applier bound to cluster-admin. */
  readonly tenancy?: 'shared' | 'single-team';
  /** More arguments for `capstan controller`, after deploy/'s. */
  readonly extraArgs?: readonly string[];
}

export const DEFAULT_NAMESPACE = 'capstan-system';
export const DEFAULT_REPLICAS = 2;
/** The Deployment (and its ServiceAccount and Service) as deploy/shared/controller.yaml names them. */
export const CONTROLLER_NAME = 'capstan-controller';
const CONTAINER_NAME = 'controller';
const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
/** What deploy/ says, to be replaced by the install's namespace. */
const DEPLOY_NAMESPACE = 'capstan-system';
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** An image reference as a container runtime takes it: no spaces or control characters, bounded. */
const IMAGE_REFERENCE = /^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,510}$/;

/**
 * The folder holding deploy/: two levels above src/install/manifests.ts and
 * dist/install/manifests.js, one above a bundled dist/capstan.mjs. Walk up rather than count.
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'deploy', 'crds.yaml'))) return dir;
    const parent = dirname(dir);
    if (parent === dir)
      throw new CapstanError(
        'environment',
        `cannot find Capstan's deploy/ folder above ${dirname(fileURLToPath(import.meta.url))}: the installation is incomplete`,
      );
    dir = parent;
  }
}

/**
 * `localhost/capstan:<version>`: what `buildCapstanImage` tags. Never a bare `capstan:<tag>`, which a
 * runtime would resolve to Docker Hub, where anyone may have published an image of that name.
 */
export function defaultImage(): string {
  return `localhost/capstan:${CAPSTAN_VERSION}`;
}

/** The objects `capstan install` applies, in apply order (CRDs, Namespace, RBAC, Deployment, Service). */
export async function installManifests(options: InstallOptions): Promise<readonly KubeObject[]> {
  return installManifestsFrom(packageRoot(), options);
}

/** installManifests from the deploy/ folder under `root` (tests give their own). */
export function installManifestsFrom(root: string, options: InstallOptions): KubeObject[] {
  const checked = checkOptions(options);
  const crds = readObjects(join(root, 'deploy', 'crds.yaml'));
  let objects = readObjects(join(root, 'deploy', 'shared', 'controller.yaml'));
  if (checked.tenancy === 'single-team') {
    const dir = join(root, 'deploy', 'single-team');
    objects = applyKustomizationPatches([...objects, ...readObjects(join(dir, 'applier.yaml'))], dir);
  }
  objects = objects.map((object) => inNamespace(object, checked.namespace));
  objects = objects.map((object) => (isController(object) ? configureController(object, checked) : object));
  return [...crds, ...sortForApply(objects)];
}

interface CheckedOptions {
  readonly image: string;
  readonly namespace: string;
  readonly replicas: number;
  readonly logLevel: string | undefined;
  readonly tenancy: 'shared' | 'single-team';
  readonly extraArgs: readonly string[];
}

function checkOptions(options: InstallOptions): CheckedOptions {
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  if (!DNS_LABEL.test(namespace))
    throw new UserError(`--namespace must be a namespace name (a DNS label), not '${namespace}'`);
  if (!IMAGE_REFERENCE.test(options.image))
    throw new UserError(`--image must be an image reference such as registry.example.com/capstan:0.1.0`);
  const replicas = options.replicas ?? DEFAULT_REPLICAS;
  if (!Number.isInteger(replicas) || replicas < 0 || replicas > 100)
    throw new UserError(`--replicas must be a whole number from 0 to 100, not '${String(options.replicas)}'`);
  if (options.logLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(options.logLevel))
    throw new UserError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, not '${options.logLevel}'`);
  const tenancy = options.tenancy ?? 'shared';
  if (tenancy !== 'shared' && tenancy !== 'single-team')
    throw new UserError(`--tenancy must be shared or single-team, not '${String(tenancy)}'`);
  for (const arg of options.extraArgs ?? [])
    // eslint-disable-next-line no-control-regex
    if (!arg.startsWith('--') || /[\u0000-\u001f\u007f]/.test(arg))
      throw new UserError(`--arg takes one flag of capstan controller (--name=value), not '${arg}'`);
  return {
    image: options.image,
    namespace,
    replicas,
    logLevel: options.logLevel,
    tenancy,
    extraArgs: options.extraArgs ?? [],
  };
}

function readObjects(file: string): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const document of parseAllDocuments(readFileSync(file, 'utf8'))) {
    if (document.errors.length > 0)
      throw new CapstanError('internal', `${file}: ${document.errors[0]!.message}`);
    const value: unknown = document.toJS();
    if (value === null || value === undefined) continue;
    objects.push(value as KubeObject);
  }
  return objects;
}

/**
 * The JSON patches of deploy/single-team/kustomization.yaml, applied as kustomize would (the one
 * kind of patch that file uses: a target by kind and name, RFC 6902 operations).
 */
function applyKustomizationPatches(objects: KubeObject[], dir: string): KubeObject[] {
  const [kustomization] = readObjects(join(dir, 'kustomization.yaml'));
  const patches = (kustomization?.patches ?? []) as {
    target?: { kind?: string; name?: string };
    patch?: string;
  }[];
  return objects.map((object) => {
    let patched = object;
    for (const { target, patch } of patches) {
      if (target?.kind !== object.kind || target?.name !== object.metadata.name || !patch) continue;
      const operations = parseAllDocuments(patch)[0]?.toJS() as Operation[];
      patched = fastJsonPatch.applyPatch(structuredClone(patched), operations, true, false).newDocument;
    }
    return patched;
  });
}

/**
 * The object in `namespace`: namespaced objects moved, ServiceAccount subjects and the
 * controller's `--default-service-account` pointed there; cluster-scoped RBAC of another namespace
 * than deploy/'s named after it, so two installs in one cluster never share (and fight over) one.
 */
function inNamespace(object: KubeObject, namespace: string): KubeObject {
  if (namespace === DEPLOY_NAMESPACE) return object;
  const copy = structuredClone(object);
  if (copy.kind === 'Namespace') {
    copy.metadata.name = namespace;
    return copy;
  }
  if (copy.metadata.namespace !== undefined) copy.metadata.namespace = namespace;
  else if (isClusterRbac(copy)) copy.metadata.name = clusterScopedName(copy.metadata.name!, namespace);
  const roleRef = copy.roleRef as { kind?: string; name?: string } | undefined;
  if (
    copy.kind === 'ClusterRoleBinding' &&
    roleRef?.kind === 'ClusterRole' &&
    roleRef.name !== 'cluster-admin'
  )
    roleRef.name = clusterScopedName(roleRef.name!, namespace);
  for (const subject of (copy.subjects ?? []) as { kind?: string; namespace?: string }[])
    if (subject.kind === 'ServiceAccount') subject.namespace = namespace;
  const container = controllerContainer(copy);
  if (container?.args)
    container.args = container.args.map((arg) =>
      arg.startsWith(`--default-service-account=${DEPLOY_NAMESPACE}/`)
        ? `--default-service-account=${namespace}/${arg.split('/')[1]}`
        : arg,
    );
  return copy;
}

/**
 * The name of a ClusterRole or ClusterRoleBinding of the install in `namespace`: deploy/'s own for
 * capstan-system, `<name>-<namespace>` otherwise.
 */
export function clusterScopedName(name: string, namespace: string): string {
  return namespace === DEPLOY_NAMESPACE ? name : `${name}-${namespace}`;
}

function isClusterRbac(object: KubeObject): boolean {
  return (
    object.apiVersion === 'rbac.authorization.k8s.io/v1' &&
    (object.kind === 'ClusterRole' || object.kind === 'ClusterRoleBinding')
  );
}

function isController(object: KubeObject): boolean {
  return object.kind === 'Deployment' && object.metadata.name === CONTROLLER_NAME;
}

interface Container {
  name?: string;
  image?: string;
  args?: string[];
}

function controllerContainer(object: KubeObject): Container | undefined {
  if (!isController(object)) return undefined;
  const spec = object.spec as { template?: { spec?: { containers?: Container[] } } } | undefined;
  return spec?.template?.spec?.containers?.find((c) => c.name === CONTAINER_NAME);
}

/** Image, replicas, log level and extra arguments set on the controller's Deployment. */
function configureController(object: KubeObject, options: CheckedOptions): KubeObject {
  const copy = structuredClone(object);
  (copy.spec as { replicas?: number }).replicas = options.replicas;
  const container = controllerContainer(copy);
  if (!container) throw new CapstanError('internal', `deploy/ has no container '${CONTAINER_NAME}'`);
  container.image = options.image;
  const args = (container.args ?? []).filter((arg) => !arg.startsWith('--log-level='));
  if (options.logLevel !== undefined) args.push(`--log-level=${options.logLevel}`);
  container.args = [...args, ...options.extraArgs];
  return copy;
}

/** What others refer to goes first; the Service last, once there is something to serve. */
const KIND_ORDER = [
  'Namespace',
  'ServiceAccount',
  'ClusterRole',
  'Role',
  'ClusterRoleBinding',
  'RoleBinding',
  'Secret',
  'ConfigMap',
  'Deployment',
  'Service',
];

function sortForApply(objects: readonly KubeObject[]): KubeObject[] {
  const rank = (object: KubeObject) => {
    const index = KIND_ORDER.indexOf(object.kind);
    return index < 0 ? KIND_ORDER.length : index;
  };
  // Stable: deploy/'s order within a kind.
  return objects
    .map((object, index) => ({ object, index }))
    .sort((a, b) => rank(a.object) - rank(b.object) || a.index - b.index)
    .map(({ object }) => object);
}
