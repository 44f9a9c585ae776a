/**
 * The rules of promotion, pure: which Applications a `capstan promote APP --from ENV --to ENV`
 * means, whether two Applications share one Git repository, and when a source may not be promoted.
 * The CLI and the controller both decide with these; nothing here reads the cluster or Git.
 */
import { APP_LABEL } from '../api/names.js';
import type { Application, Repository } from '../api/v1alpha1.js';
import { UserError } from '../core/errors.js';
import { quote } from '../source/redact.js';
import { repositoryMatchKey } from '../source/match-key.js';
import { branchOf } from '../source/refs.js';

export { branchOf };

/** The branch an Application follows (its spec.ref, default main), if a branch. */
export function branchOfApp(app: Application): string | undefined {
  return branchOf(app.spec.ref ?? 'main');
}

/**
 * The Application of `app` that is environment `env`: labelled `capstan.dev/app: APP` (or named
 * `APP-ENV`) and following branch `env`. None or several: a UserError listing what was found.
 */
export function resolveEnvironment(apps: readonly Application[], app: string, env: string): Application {
  const branch = branchOf(env);
  if (branch === undefined) throw new UserError(`environment ${quote(env)} is not a branch name`);
  const labelled = (a: Application) => a.metadata.labels?.[APP_LABEL] === app;
  const matches = apps.filter(
    (a) => (labelled(a) || a.metadata.name === `${app}-${branch}`) && branchOfApp(a) === branch,
  );
  if (matches.length === 1) return matches[0]!;
  const namespace = apps[0]?.metadata.namespace;
  const listing = (list: readonly Application[]) =>
    list
      .slice(0, 20)
      .map((a) => `${a.metadata.name} (ref ${a.spec.ref ?? 'main'})`)
      .join(', ');
  if (matches.length > 1)
    throw new UserError(
      `several Applications of ${quote(app)} follow branch ${quote(branch)}: ${listing(matches)}; label only one with ${APP_LABEL}: ${app}`,
    );
  // What was found: the app's Applications, by label or by the APP-ENV naming.
  const ofApp = apps.filter((a) => labelled(a) || a.metadata.name.startsWith(`${app}-`));
  throw new UserError(
    ofApp.length === 0
      ? `no Application of ${quote(app)}${namespace ? ` in namespace ${namespace}` : ''}: label them ${APP_LABEL}: ${app}, or name them ${app}-<environment>`
      : `no Application of ${quote(app)} follows branch ${quote(branch)}; found: ${listing(ofApp)}`,
  );
}

/**
 * Whether two Applications' Repositories are one Git repository: the same Repository, or
 * Repositories whose URLs have the same match key (or are the same URL, for file:// in tests).
 */
export function sameGitRepository(
  source: { app: Application; repository: Repository | undefined },
  target: { app: Application; repository: Repository | undefined },
): boolean {
  if (source.app.spec.sourceRef.name === target.app.spec.sourceRef.name) return true;
  const sourceUrl = source.repository?.spec.url;
  const targetUrl = target.repository?.spec.url;
  if (sourceUrl === undefined || targetUrl === undefined) return false;
  if (sourceUrl === targetUrl) return true;
  const key = repositoryMatchKey(sourceUrl);
  return key !== undefined && key === repositoryMatchKey(targetUrl);
}

/**
 * Why `source` may not be promoted into `target` now, or undefined when it may: the source must be
 * Healthy now, have a last healthy revision that is not rejected, run no rollback, not be
 * suspended; both must follow branches of the same Git repository.
 */
export function refusalOf(
  source: { app: Application; repository: Repository | undefined },
  target: { app: Application; repository: Repository | undefined },
): string | undefined {
  const name = source.app.metadata.name;
  if (name === target.app.metadata.name) return `an Application cannot be promoted into itself`;
  if (source.app.spec.suspend) return `the source ${name} is suspended`;
  const status = source.app.status ?? {};
  if (status.rollback)
    return `the source ${name} runs a rollback (${short(status.rollback.from)} → ${short(status.rollback.to)}): promote once its branch has moved on`;
  const health = status.health?.status ?? 'Unknown';
  if (health !== 'Healthy') {
    const why = status.health?.message ? `: ${status.health.message.slice(0, 300)}` : '';
    return `the source ${name} is not Healthy now (${health}${why})`;
  }
  const healthy = status.lastHealthyRevision?.sha;
  if (!healthy) return `the source ${name} has no last healthy revision yet`;
  if ((status.rejectedRevisions ?? []).some((r) => r.sha === healthy))
    return `the source's last healthy revision ${short(healthy)} is rejected`;
  if (!sameGitRepository(source, target))
    return `${name} and ${target.app.metadata.name} do not use the same Git repository (Repositories ${source.app.spec.sourceRef.name} and ${target.app.spec.sourceRef.name})`;
  if (branchOfApp(target.app) === undefined)
    return `the target ${target.app.metadata.name} follows ${quote(target.app.spec.ref ?? 'main')}, which is not a branch`;
  if (branchOfApp(target.app) === branchOfApp(source.app) && samePath(source.app, target.app))
    return `${name} and ${target.app.metadata.name} follow the same path of the same branch`;
  return undefined;
}

function samePath(a: Application, b: Application): boolean {
  const norm = (p: string | undefined) => (p ?? '').replace(/^\.?\/+|\/+$/g, '');
  return norm(a.spec.path) === norm(b.spec.path);
}

/**
 * The revision an automatic promotion into `target` should promote now, or undefined: the
 * source's last healthy revision, when promotion is automatic, the source may be promoted, and
 * that revision was not promoted (or tried) before.
 */
export function automaticRevision(
  source: { app: Application; repository: Repository | undefined },
  target: { app: Application; repository: Repository | undefined },
): string | undefined {
  const promotion = target.app.spec.promotion;
  if (!promotion?.automatic || promotion.from.name !== source.app.metadata.name) return undefined;
  if (refusalOf(source, target) !== undefined) return undefined;
  const sha = source.app.status?.lastHealthyRevision?.sha;
  const last = target.app.status?.promotion;
  if (!sha || (last?.sourceRevision === sha && last.from === source.app.metadata.name)) return undefined;
  return sha;
}

export function short(sha: string): string {
  return sha.slice(0, 12);
}
