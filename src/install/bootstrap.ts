/**
 * `capstan bootstrap` as named steps: (a) install Capstan; (b) write its manifests and the
 * Repository + Application that sync the cluster's path to Git, as one commit by Capstan (none when
 * they are there already); (c) apply what Git must not hold — the Secret to read the repository,
 * the ServiceAccount the Application applies as — and the Repository and Application themselves;
 * (d) wait until the Application is Ready at the commit. From then on Capstan manages itself from
 * Git. Running it again repairs drift and commits nothing new.
 */
import { GROUP, type Application } from '../api/v1alpha1.js';
import { CapstanError, UserError } from '../core/errors.js';
import { sleep } from '../core/time.js';
import type { KubeClient } from '../kube/index.js';
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
  const installed = await install(kube, options, run);
  progress(`installed Capstan in ${target.namespace}`);

  const files = bootstrapFiles(installed.objects, target);
  const git = await commitFiles(
    {
      repository: { url: target.url, credentials: gitCredentials(options) },
      branch: target.branch,
      files,
      message: commitMessage(target),
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

function targetOf(options: BootstrapOptions): BootstrapTarget {
  if (!/^https?:\/\//.test(options.url))
    throw new UserError(
      `--repo must be an https:// URL (ssh is not supported by bootstrap yet), not '${options.url.slice(0, 200)}'`,
    );
  if (options.url.startsWith('http://') && !options.allowInsecureHttp)
    throw new UserError(
      'refusing to send the Git password over plain http://, where anyone on the way can read it; use https://, or set CAPSTAN_GIT_ALLOW_HTTP=1 to allow it',
    );
  if (options.credentials.password === '')
    throw new UserError(
      'bootstrap pushes to the repository: give a password or token (--password-file or CAPSTAN_GIT_PASSWORD)',
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
