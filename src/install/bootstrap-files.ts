/**
 * What `capstan bootstrap` writes to Git and to the cluster, as plain values (no I/O):
 *
 * - `<path>/<namespace>/components.yaml`: the objects `capstan install` applied, each annotated
 *   `capstan.dev/adopt: "true"` (install created them, so the Application must take them over
 *   rather than refuse them), the CRDs and the Namespace also `capstan.dev/prune: disabled` (taking
 *   them out of Git, or deleting the Application, must never delete every Capstan object);
 * - `<path>/<namespace>/sync.yaml`: the Repository and the Application (never pruned either) that keep `<path>` applied —
 *   app-of-apps: everything under it, Capstan included, is managed from Git. The Application renders
 *   `<path>` as plain manifests, subfolders included (the plain renderer recurses), so no
 *   kustomization.yaml is needed.
 *
 * Outside Git (the cluster only): the Secret with the credentials to read the repository, and the
 * ServiceAccount `capstan-self` bound to cluster-admin that the Application applies as. Keeping that
 * identity out of the Application it serves means no commit can take its own rights away mid-sync.
 */
import { stringify } from 'yaml';
import { ANNOTATION } from '../apply/annotations.js';
import { API_VERSION, type Application, type Repository } from '../api/v1alpha1.js';
import type { KubeObject } from '../core/objects.js';
import { normaliseTreePath } from '../source/git-source.js';
import { UserError } from '../core/errors.js';
import { ALLOW_INSECURE_HTTP_ANNOTATION, GIT_URLS_ANNOTATION } from '../source/credential-scope.js';
import { clusterScopedName } from './manifests.js';

/** The Repository and Application that manage the cluster's path, and the Secret they read Git with. */
export const SELF_NAME = 'capstan';
export const SELF_SECRET = 'capstan-git-credentials';
/** The ServiceAccount the self-managing Application applies as (bound to cluster-admin). */
export const SELF_SERVICE_ACCOUNT = 'capstan-self';
/** On the objects `capstan bootstrap` makes: uninstall finds (and orphans) the self-managing Application by it. */
export const PART_OF_LABEL = { key: 'app.kubernetes.io/part-of', value: 'capstan' } as const;

export interface BootstrapTarget {
  /** The repository's URL (https://, or http:// when allowed). */
  readonly url: string;
  readonly branch: string;
  /** The cluster's folder, e.g. clusters/production. */
  readonly path: string;
  readonly namespace: string;
  /** How often Capstan polls the repository (a duration). */
  readonly interval: string;
  /** Whether the credentials may go over plain http:// (the Secret's owner says so). */
  readonly allowInsecureHttp: boolean;
}

export interface BootstrapFile {
  /** From the repository root. */
  readonly path: string;
  readonly text: string;
}

/** The cluster's path, normalised; the repository root is refused (the Application would own everything). */
export function clusterPath(path: string): string {
  const normalised = normaliseTreePath(path);
  if (normalised === '')
    throw new UserError(
      '--path must name a folder for this cluster (e.g. clusters/production), not the root',
    );
  return normalised;
}

/** components.yaml and sync.yaml, under `<path>/<namespace>/`. */
export function bootstrapFiles(installed: readonly KubeObject[], target: BootstrapTarget): BootstrapFile[] {
  const dir = `${clusterPath(target.path)}/${target.namespace}`;
  const header = (what: string) =>
    `# ${what}\n# Written by \`capstan bootstrap\`; Capstan applies this folder to itself: change it by commit.\n`;
  return [
    {
      path: `${dir}/components.yaml`,
      text:
        header("Capstan's CRDs, RBAC and controller (what `capstan install` applies).") +
        toYaml(installed.map(asComponent)),
    },
    {
      path: `${dir}/sync.yaml`,
      text:
        header(
          `The Repository and Application that keep ${clusterPath(target.path)} applied (Capstan included).`,
        ) + toYaml(syncObjects(target).map(adopted)),
    },
  ];
}

function toYaml(objects: readonly KubeObject[]): string {
  return objects.map((object) => `---\n${stringify(object, { lineWidth: 0 })}`).join('');
}

function asComponent(object: KubeObject): KubeObject {
  const keep = object.kind === 'CustomResourceDefinition' || object.kind === 'Namespace';
  return withAnnotations(object, {
    [ANNOTATION.adopt]: 'true',
    ...(keep ? { [ANNOTATION.prune]: 'disabled' } : {}),
  });
}

/**
 * The Repository and Application are adopted (bootstrap applied them first) and never pruned:
 * taking sync.yaml out of Git must not make the Application delete itself — its finalizer would
 * then prune the controller and everything else the cluster's folder holds.
 */
function adopted(object: KubeObject): KubeObject {
  return withAnnotations(object, { [ANNOTATION.adopt]: 'true', [ANNOTATION.prune]: 'disabled' });
}

function withAnnotations(object: KubeObject, annotations: Record<string, string>): KubeObject {
  return {
    ...object,
    metadata: { ...object.metadata, annotations: { ...object.metadata.annotations, ...annotations } },
  };
}

/** The Repository and the Application, as in sync.yaml (without the adopt annotation). */
export function syncObjects(target: BootstrapTarget): [Repository, Application] {
  const metadata = {
    name: SELF_NAME,
    namespace: target.namespace,
    labels: { [PART_OF_LABEL.key]: PART_OF_LABEL.value },
  };
  const repository: Repository = {
    apiVersion: API_VERSION,
    kind: 'Repository',
    metadata,
    spec: { url: target.url, secretRef: { name: SELF_SECRET }, interval: target.interval },
  };
  const application: Application = {
    apiVersion: API_VERSION,
    kind: 'Application',
    metadata,
    spec: {
      sourceRef: { name: SELF_NAME },
      ref: target.branch,
      path: clusterPath(target.path),
      render: { type: 'plain' },
      serviceAccountName: SELF_SERVICE_ACCOUNT,
      syncPolicy: {
        automated: true,
        prune: true,
        selfHeal: true,
        allowEmpty: false,
        forceRecreate: false,
        leaveFieldsToManagers: [],
      },
      // A broken upgrade is rolled back in the cluster; the Secret is for reading, so no revert commit.
      rollback: { automatic: true, gitRevert: 'none' },
    },
  };
  return [repository, application];
}

/** The Secret the Repository reads Git with: sent only to this URL, over http only if allowed. */
export function credentialsSecret(
  target: BootstrapTarget,
  credentials: { readonly username: string; readonly password: string },
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: SELF_SECRET,
      namespace: target.namespace,
      labels: { [PART_OF_LABEL.key]: PART_OF_LABEL.value },
      annotations: {
        [GIT_URLS_ANNOTATION]: target.url,
        ...(target.allowInsecureHttp ? { [ALLOW_INSECURE_HTTP_ANNOTATION]: 'true' } : {}),
      },
    },
    type: 'Opaque',
    // `data`, not `stringData`: a second apply of the same values is then seen to change nothing.
    data: {
      username: Buffer.from(credentials.username, 'utf8').toString('base64'),
      password: Buffer.from(credentials.password, 'utf8').toString('base64'),
    },
  };
}

/** `capstan-self` and its binding to cluster-admin. */
export function selfServiceAccount(namespace: string): KubeObject[] {
  const labels = { [PART_OF_LABEL.key]: PART_OF_LABEL.value };
  return [
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: SELF_SERVICE_ACCOUNT, namespace, labels },
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: clusterScopedName(SELF_SERVICE_ACCOUNT, namespace), labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name: SELF_SERVICE_ACCOUNT, namespace }],
    },
  ];
}
