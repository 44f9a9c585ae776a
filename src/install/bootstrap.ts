/**
 * `capstan bootstrap` as named steps: (a) install Capstan; (b) write its manifests and the
 * Repository + Application that sync the cluster's path to Git, as one commit by Capstan (none when
 * they are there already); (c) apply what Git must not hold — the Secret to read the repository,
 * the ServiceAccount the Application applies as — and the Repository and Application themselves;
 * (d) wait until the Application is Ready at the commit. From then on Capstan manages itself from
 * Git. Running it again repairs drift and commits nothing new.
 */
import { GROUP, type Application, type Repository } from '../api/v1alpha1.js';
import type { KubeObject, ObjectRef } from '../core/objects.js';
import { CapstanError, UserError } from '../core/errors.js';
import { sleep } from '../core/time.js';
import { UnknownKindError, type KubeClient } from '../kube/index.js';
import type { WorkRepoOptions } from '../source/writeback/work-repo.js';
import { applyInOrder, POLL_MS, type AppliedObject } from './apply.js';
import {
  bootstrapFiles,
  clusterPath,
  credentialsSecret,
  SELF_NAME,
  selfServiceAccount,
  syncObjects,
  type BootstrapFile,
  type BootstrapTarget,
} from './bootstrap-files.js';
import { commitFiles, type FilesCommitResult } from './git.js';
import { GIT_URLS_ANNOTATION } from '../source/credential-scope.js';
import { checkCredentials } from '../source/credentials.js';
import { quote, redactUrl } from '../source/redact.js';
import { refNameProblem } from '../source/refs.js';
import { parseRepoUrl } from '../source/url.js';
import { countActions, install, type InstallReport, type InstallRun } from './install.js';
import { CAPSTAN_VERSION } from '../cli/version.js';
import { DEFAULT_NAMESPACE, type InstallOptions } from './manifests.js';

export interface BootstrapOptions extends InstallOptions {
  readonly url: string;
  readonly branch: string;
  readonly path: string;
  /** How often Capstan polls the repository; default 1m. */
  readonly interval?: string;
  /** Credentials that may push; the same go into the Secret the controller reads with. */
  readonly credentials: { readonly username: string; readonly password: string };
  /** Send them over plain http:// (the user said so: CAPSTAN_GIT_ALLOW_HTTP=1). */
  readonly allowInsecureHttp?: boolean;
}

export interface BootstrapRun extends InstallRun {
  /** How long to wait for the Application to be Ready at the commit; 0: do not wait. */
  readonly syncWaitMs: number;
  readonly git?: WorkRepoOptions;
}

export interface BootstrapReport {
  readonly install: InstallReport;
  readonly files: readonly BootstrapFile[];
  readonly git: FilesCommitResult;
  readonly cluster: readonly AppliedObject[];
  /** The commit the Application was seen Ready at (undefined when not waited for). */
  readonly readyAt?: string;
}

export async function bootstrap(
  kube: KubeClient,
  options: BootstrapOptions,
  run: BootstrapRun,
): Promise<BootstrapReport> {
  const target = targetOf(options);
  const progress = run.progress ?? (() => {});
  await refuseRepointing(kube, target);
  const installed = await install(kube, options, run);
  progress(`installed Capstan in ${target.namespace}`);

  const files = bootstrapFiles(installed.objects, target);
  const git = await commitFiles(
    {
      repository: { url: target.url, credentials: gitCredentials(options) },
      branch: target.branch,
      files,
      message: commitMessage(target),
      refuseTree: (paths) => nestedClusterProblem(target, paths),
    },
    run.git,
  );
  const sha = git.outcome === 'pushed' ? git.commit : git.head;
  progress(
    git.outcome === 'pushed'
      ? `pushed ${sha.slice(0, 12)} to ${target.branch}: ${files.map((f) => f.path).join(', ')}`
      : `${files.map((f) => f.path).join(', ')} already in ${target.branch} at ${sha.slice(0, 12)}: nothing to commit`,
  );

  const cluster = await applyInOrder(kube, [
    credentialsSecret(target, options.credentials),
    ...selfServiceAccount(target.namespace),
    ...syncObjects(target),
  ]);
  const counts = countActions(cluster);
  progress(
    `applied the Git credentials Secret, ServiceAccount, Repository and Application (${counts.created} created, ${counts.configured} configured, ${counts.unchanged} unchanged)`,
  );

  if (run.syncWaitMs <= 0) return { install: installed, files, git, cluster };
  await waitForApplication(
    kube,
    { namespace: target.namespace, name: SELF_NAME },
    sha,
    run.syncWaitMs,
    progress,
  );
  return { install: installed, files, git, cluster, readyAt: sha };
}

/**
 * Everything the user gave, checked before anything is applied: a --repo, --branch or password
 * that Git would refuse later must not leave a half-done install behind. Errors show the URL
 * redacted (a token typed into it never reaches the terminal or a log).
 */
function targetOf(options: BootstrapOptions): BootstrapTarget {
  const display = redactUrl(options.url).slice(0, 200);
  if (!/^https?:\/\//.test(options.url))
    throw new UserError(
      `--repo must be an https:// URL (ssh is not supported by bootstrap yet), not '${display}'`,
    );
  if (options.url.startsWith('http://') && !options.allowInsecureHttp)
    throw new UserError(
      'refusing to send the Git password over plain http://, where anyone on the way can read it; use https://, or set CAPSTAN_GIT_ALLOW_HTTP=1 to allow it',
    );
  if (options.credentials.password === '')
    throw new UserError(
      'bootstrap pushes to the repository: give a password or token (--password-file or CAPSTAN_GIT_PASSWORD)',
    );
  const repo = parseRepoUrl(options.url);
  // The URL goes into sync.yaml in Git and into the Secret's list of URLs it may be sent to.
  if (/^https?:\/\/[^/]*@/.test(options.url))
    throw new UserError(
      `--repo ${quote(repo.display)} names a user or token before "@": it would be committed to Git in sync.yaml; give the user with --username and the token with --password-file`,
    );
  if (options.url.includes(','))
    throw new UserError(
      `--repo ${quote(repo.display)} contains ",", which separates URLs in the Secret's ${GIT_URLS_ANNOTATION} annotation`,
    );
  checkCredentials(gitCredentials(options), repo);
  const problem = refNameProblem(options.branch);
  if (problem !== undefined || options.branch.startsWith('refs/'))
    throw new UserError(
      `--branch ${quote(options.branch)} is not valid: ${problem ?? 'give its short name'}`,
    );
  return {
    url: options.url,
    branch: options.branch,
    path: clusterPath(options.path),
    namespace: options.namespace ?? DEFAULT_NAMESPACE,
    interval: options.interval ?? '1m',
    allowInsecureHttp: options.allowInsecureHttp ?? false,
  };
}

/**
 * A second bootstrap with another --repo, --path or --branch would silently move the cluster (and
 * its Git credentials) to another source, leaving the first repository's files behind as if they
 * still applied. That change is a commit to sync.yaml, or an uninstall first; never a side effect.
 */
async function refuseRepointing(kube: KubeClient, target: BootstrapTarget): Promise<void> {
  const live = await getIfServed<Application>(kube, {
    group: GROUP,
    kind: 'Application',
    namespace: target.namespace,
    name: SELF_NAME,
  });
  const repository = await getIfServed<Repository>(kube, {
    group: GROUP,
    kind: 'Repository',
    namespace: target.namespace,
    name: SELF_NAME,
  });
  const [wantedRepository, wanted] = syncObjects(target);
  const differences = [
    repository && repository.spec.url !== wantedRepository.spec.url
      ? `the repository ${quote(redactUrl(repository.spec.url))}`
      : undefined,
    live && live.spec.path !== wanted.spec.path ? `the path ${quote(live.spec.path ?? '')}` : undefined,
    live && live.spec.ref !== wanted.spec.ref ? `the branch ${quote(live.spec.ref ?? '')}` : undefined,
  ].filter((difference) => difference !== undefined);
  if (differences.length > 0)
    throw new UserError(
      `Capstan in ${target.namespace} is bootstrapped from ${differences.join(', ')} already; bootstrap does not move it. Change sync.yaml in Git (Capstan applies it), or run \`capstan uninstall\` first`,
    );
}

async function getIfServed<T extends KubeObject>(kube: KubeClient, ref: ObjectRef): Promise<T | undefined> {
  try {
    return await kube.get<T>(ref);
  } catch (error) {
    if (error instanceof UnknownKindError) return undefined; // no CRDs yet: nothing bootstrapped
    throw error;
  }
}

/**
 * Why `path` must not be this cluster's folder, or undefined: another cluster bootstrapped below it
 * (this cluster's Application would apply that cluster's Capstan here), or above it (that cluster's
 * Application would apply this one's), or in the same folder for another namespace (each
 * Application would apply both Capstans). A bootstrapped folder is one holding
 * `<namespace>/sync.yaml` beside `<namespace>/components.yaml`. The same folder and namespace again
 * is allowed: a re-run, or a cluster rebuilt from Git.
 */
export function nestedClusterProblem(
  target: { readonly path: string; readonly namespace: string },
  paths: readonly string[],
): string | undefined {
  const { path, namespace } = target;
  const files = new Set(paths);
  for (const file of paths) {
    if (!file.endsWith('/sync.yaml')) continue;
    const namespaceDir = file.slice(0, -'/sync.yaml'.length);
    const other = namespaceDir.slice(0, Math.max(0, namespaceDir.lastIndexOf('/')));
    if (other === '' || !files.has(`${namespaceDir}/components.yaml`)) continue;
    if (other === path) {
      if (namespaceDir === `${path}/${namespace}`) continue;
      return `--path ${quote(path)} already holds Capstan of the namespace ${quote(namespaceDir.slice(path.length + 1))}: the two Applications would each apply both Capstans; bootstrap with that --namespace, or give a folder of its own`;
    }
    if (other.startsWith(`${path}/`))
      return `--path ${quote(path)} holds the folder ${quote(other)} of a cluster bootstrapped there: this cluster's Application would apply that cluster's Capstan too; give a folder of its own (e.g. beside it)`;
    if (path.startsWith(`${other}/`))
      return `--path ${quote(path)} is inside ${quote(other)}, the folder of a cluster bootstrapped there: its Application would apply this cluster's Capstan too; give a folder of its own (e.g. beside it)`;
  }
  return undefined;
}

function gitCredentials(options: BootstrapOptions) {
  return {
    kind: 'basic' as const,
    username: options.credentials.username,
    password: options.credentials.password,
    ...(options.allowInsecureHttp ? { allowInsecureHttp: true } : {}),
  };
}

function commitMessage(target: BootstrapTarget): string {
  return `capstan bootstrap: Capstan ${CAPSTAN_VERSION} in ${target.path}/${target.namespace}\n\nCapstan manages itself from ${target.path}: its CRDs, RBAC and controller (components.yaml),\nand the Repository and Application that sync this folder (sync.yaml).\n`;
}

/**
 * Waits until the Application is Ready with `sha` applied; fails at once when it is Stalled, and at
 * the deadline with what its Ready condition says.
 */
export async function waitForApplication(
  kube: KubeClient,
  ref: { namespace: string; name: string },
  sha: string,
  timeoutMs: number,
  progress: (line: string) => void = () => {},
): Promise<Application> {
  const deadline = Date.now() + timeoutMs;
  let said = '';
  for (;;) {
    const app = await kube.get<Application>({ group: GROUP, kind: 'Application', ...ref });
    if (!app)
      throw new CapstanError(
        'notFound',
        `Application ${ref.namespace}/${ref.name} is gone (deleted meanwhile?)`,
      );
    const conditions = app.status?.conditions ?? [];
    const ready = conditions.find((c) => c.type === 'Ready');
    const stalled = conditions.find((c) => c.type === 'Stalled' && c.status === 'True');
    const applied = app.status?.lastAppliedRevision?.sha;
    if (ready?.status === 'True' && applied === sha) return app;
    if (stalled)
      throw new CapstanError(
        'user',
        `Application ${ref.namespace}/${ref.name} is stalled: ${stalled.message}`,
      );
    const line = `waiting for Application ${ref.namespace}/${ref.name} to be Ready at ${sha.slice(0, 12)}: ${ready ? `${ready.reason}: ${ready.message}` : 'not reconciled yet (is the controller running?)'}`;
    if (line !== said) progress((said = line));
    if (Date.now() > deadline)
      throw new CapstanError(
        'transient',
        `Application ${ref.namespace}/${ref.name} was not Ready at ${sha.slice(0, 12)} after ${Math.round(timeoutMs / 1000)}s: ${ready ? ready.message : 'the controller never reconciled it'}`,
      );
    await sleep(POLL_MS);
  }
}
