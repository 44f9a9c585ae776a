/**
 * The Applications a change can touch: those whose Repository is the changed repository (however
 * its URL is spelled: the match keys the webhooks use) and whose `spec.ref` is the base branch.
 * An Application on another branch, a tag or a pinned commit does not follow the base branch, so a
 * merge would not change what it applies.
 */
import {
  applicationSpecSchema,
  type Application,
  type ApplicationSpec,
  type Repository,
} from '../api/v1alpha1.js';
import { parseRepoUrl, repositoryMatchKey } from '../source/index.js';

/** An Application that follows the base branch of the changed repository, with its parsed spec. */
export interface CandidateApp {
  readonly app: Application;
  readonly spec: ApplicationSpec;
  readonly repository: Repository;
}

export interface CandidateLookup {
  /** Applications of `namespace`, or of every namespace the caller may list. */
  listApplications(namespace?: string): Promise<readonly Application[]>;
  /** A Repository; undefined when absent (or not readable by the caller). */
  repository(namespace: string, name: string): Promise<Repository | undefined>;
}

export async function appsOnBranch(
  lookup: CandidateLookup,
  request: {
    readonly repositoryUrl: string;
    readonly base: string;
    readonly namespace?: string | undefined;
    readonly repositoryFilter?: ((repository: Repository) => boolean) | undefined;
  },
): Promise<CandidateApp[]> {
  const wanted = sameRepositoryKey(request.repositoryUrl);
  if (wanted === undefined) return [];
  const branch = branchName(request.base);
  const applications = await lookup.listApplications(request.namespace);
  const candidates: CandidateApp[] = [];
  for (const app of applications) {
    if (app.metadata.deletionTimestamp) continue;
    // An invalid spec is the controller's to report (InvalidSpec); a plan cannot say what it would apply.
    const parsed = applicationSpecSchema.safeParse(app.spec);
    if (!parsed.success || branchName(parsed.data.ref) !== branch) continue;
    const repository = await lookup.repository(app.metadata.namespace, parsed.data.sourceRef.name);
    if (!repository || (request.repositoryFilter && !request.repositoryFilter(repository))) continue;
    const url = (repository.spec as { url?: unknown }).url;
    if (typeof url !== 'string' || sameRepositoryKey(url) !== wanted) continue;
    candidates.push({ app, spec: parsed.data, repository });
  }
  return candidates.sort((a, b) => appName(a).localeCompare(appName(b)));
}

/**
 * The webhooks' match key; for a file:// URL (tests, a laptop), which no host pushes to and so has
 * none, the URL's identity.
 */
export function sameRepositoryKey(url: string): string | undefined {
  const key = repositoryMatchKey(url);
  if (key !== undefined) return key;
  try {
    return parseRepoUrl(url, { allowFileUrls: true }).identity;
  } catch {
    return undefined;
  }
}

/** `refs/heads/main` and `main` name the same branch. */
export function branchName(ref: string): string {
  return ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : ref;
}

function appName(candidate: CandidateApp): string {
  return `${candidate.app.metadata.namespace}/${candidate.app.metadata.name}`;
}
