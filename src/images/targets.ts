/**
 * Where an ImagePolicy writes: the Applications it names (in its own namespace only), grouped by
 * the Repository and branch they follow, each contributing its path. One group is one commit (or
 * one pull request): two apps of one branch change together.
 */
import type { ImagePolicySpec } from '../api/image-policy.js';
import type { Application, Repository } from '../api/v1alpha1.js';
import { messageOf } from '../core/errors.js';
import { normaliseTreePath } from '../source/git-source.js';
import { quote } from '../source/redact.js';
import { branchOf } from '../source/refs.js';
import type { HelmValuesTarget } from './setters.js';

export interface WriteTarget {
  readonly repository: Repository;
  readonly branch: string;
  /** The Applications' paths (normalised; '' is the whole repository). */
  readonly paths: readonly string[];
  /** spec.update.helmValues, under each Application's path. */
  readonly helmValues: readonly HelmValuesTarget[];
  readonly applications: readonly string[];
}

export interface TargetLookup {
  readonly applications: { get(name: string, namespace: string): Application | undefined };
  readonly repositories: { get(name: string, namespace: string): Repository | undefined };
}

/** The groups to write, and why any named Application cannot be written to (said in status). */
export function writeTargets(
  update: NonNullable<ImagePolicySpec['update']>,
  namespace: string,
  lookup: TargetLookup,
): { readonly targets: WriteTarget[]; readonly problems: string[] } {
  const groups = new Map<
    string,
    { repository: Repository; branch: string; paths: Set<string>; helm: HelmValuesTarget[]; apps: string[] }
  >();
  const problems: string[] = [];
  for (const { name } of update.applications) {
    const found = targetOf(name, namespace, lookup);
    if ('problem' in found) {
      problems.push(found.problem);
      continue;
    }
    const key = `${found.repository.metadata.name}\n${found.branch}`;
    const group = groups.get(key) ?? {
      repository: found.repository,
      branch: found.branch,
      paths: new Set<string>(),
      helm: [],
      apps: [],
    };
    groups.set(key, group);
    group.paths.add(found.path);
    group.apps.push(name);
    try {
      for (const values of update.helmValues) {
        group.helm.push({ ...values, file: normaliseTreePath(joinPath(found.path, values.file)) });
      }
    } catch (error) {
      problems.push(`spec.update.helmValues: ${messageOf(error)}`);
    }
  }
  const targets = [...groups.values()].map((group) => ({
    repository: group.repository,
    branch: group.branch,
    paths: [...group.paths].sort(),
    helmValues: group.helm,
    applications: group.apps,
  }));
  return { targets, problems };
}

function targetOf(
  name: string,
  namespace: string,
  lookup: TargetLookup,
): { repository: Repository; branch: string; path: string } | { problem: string } {
  const app = lookup.applications.get(name, namespace);
  if (!app) return { problem: `the Application ${name} does not exist in ${namespace}` };
  const sourceName = app.spec.sourceRef?.name;
  const repository = sourceName ? lookup.repositories.get(sourceName, namespace) : undefined;
  if (!repository) {
    return { problem: `the Repository ${sourceName ?? '(none)'} of Application ${name} does not exist` };
  }
  const branch = branchOf(app.spec.ref ?? 'main');
  if (branch === undefined) {
    return {
      problem: `Application ${name} follows ${quote(app.spec.ref ?? '')}, not a branch: image updates are written to a branch`,
    };
  }
  try {
    return { repository, branch, path: normaliseTreePath(app.spec.path ?? '') };
  } catch (error) {
    return { problem: `Application ${name}: ${messageOf(error)}` };
  }
}

function joinPath(base: string, file: string): string {
  return base === '' ? file : `${base}/${file}`;
}
