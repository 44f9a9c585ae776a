/**
 * The generators: what each lists (branches, folders, entries, open pull requests) and the
 * placeholder values each element brings. Listing changes nothing; a listing that fails throws, and
 * the reconciler then deletes nothing (as prune does on a failed fetch).
 */
import { MAX_ELEMENTS, type ApplicationGeneratorSpec, type GeneratorKind } from '../api/generator.js';
import type { Repository } from '../api/v1alpha1.js';
import { UserError } from '../core/errors.js';
import { matchGlob } from '../core/glob.js';
import type { GitSource, Repository as GitRepository } from '../source/index.js';
import { slugify } from './template.js';

export interface Element {
  /** Names the element in status and messages: the branch, the path, the entry's name, `#12`. */
  readonly key: string;
  /** Placeholder name → value. */
  readonly params: ReadonlyMap<string, string>;
  /** The pull request's number, for an element of the pullRequests generator. */
  readonly pullRequest?: number;
}

/** An open pull request, as far as a generator needs it (src/forge's PullRequestInfo fits). */
export interface OpenPullRequest {
  readonly number: number;
  readonly head: { readonly ref: string; readonly sha: string; readonly fork: boolean };
  readonly base: { readonly ref: string };
  readonly labels: readonly string[];
}

export interface PullRequestListing {
  /** The Git host's kind: it decides the ref a pull request's head is fetched by. */
  readonly kind: 'github' | 'gitlab' | 'gitea';
  readonly pullRequests: readonly OpenPullRequest[];
}

export interface ListingDeps {
  readonly git: Pick<GitSource, 'listBranches' | 'listDirectories' | 'resolve'>;
  /** The Repository as Git sees it: URL, credentials (access.source, with its policy checks). */
  readonly source: (repository: Repository) => Promise<GitRepository>;
  /** Open pull requests through the Repository's spec.forge and token. */
  readonly pullRequests: (
    repository: Repository,
    options: { readonly base?: string; readonly limit: number },
  ) => Promise<PullRequestListing>;
}

/** The one generator a spec names; throws a user error for none or several. */
export function generatorKindOf(spec: ApplicationGeneratorSpec): GeneratorKind {
  const named = (['branches', 'directories', 'list', 'pullRequests'] as const).filter(
    (kind) => spec[kind] !== undefined,
  );
  if (named.length !== 1)
    throw new UserError(
      `exactly one generator must be set (branches, directories, list or pullRequests); ${named.length === 0 ? 'none is' : `${named.join(' and ')} are`}`,
    );
  return named[0]!;
}

export async function listElements(
  deps: ListingDeps,
  spec: ApplicationGeneratorSpec,
  repository: Repository,
): Promise<Element[]> {
  const kind = generatorKindOf(spec);
  const elements = await listOf(kind, deps, spec, repository);
  if (elements.length > MAX_ELEMENTS)
    throw new UserError(
      `the ${kind} generator lists ${elements.length} elements, more than ${MAX_ELEMENTS}: narrow it (include, exclude, labels)`,
    );
  return elements;
}

function listOf(
  kind: GeneratorKind,
  deps: ListingDeps,
  spec: ApplicationGeneratorSpec,
  repository: Repository,
): Promise<Element[]> {
  switch (kind) {
    case 'branches':
      return branchElements(deps, spec.branches!, repository);
    case 'directories':
      return directoryElements(deps, spec.directories!, repository);
    case 'list':
      return Promise.resolve(listElementsOf(spec.list!));
    case 'pullRequests':
      return pullRequestElements(deps, spec.pullRequests!, repository);
  }
}

function selected(text: string, filter: { include: readonly string[]; exclude: readonly string[] }): boolean {
  return (
    filter.include.some((glob) => matchGlob(glob, text)) &&
    !filter.exclude.some((glob) => matchGlob(glob, text))
  );
}

async function branchElements(
  deps: ListingDeps,
  filter: NonNullable<ApplicationGeneratorSpec['branches']>,
  repository: Repository,
): Promise<Element[]> {
  const branches = await deps.git.listBranches(await deps.source(repository));
  return [...branches.keys()]
    .filter((branch) => selected(branch, filter))
    .sort()
    .map((branch) => ({ key: branch, params: branchParams(branch) }));
}

function branchParams(branch: string): Map<string, string> {
  return new Map([
    ['branch', branch],
    ['branchSlug', slugify(branch)],
  ]);
}

async function directoryElements(
  deps: ListingDeps,
  filter: NonNullable<ApplicationGeneratorSpec['directories']>,
  repository: Repository,
): Promise<Element[]> {
  const source = await deps.source(repository);
  const revision = await deps.git.resolve(source, filter.ref);
  const folders = await deps.git.listDirectories(source, revision.sha);
  return folders
    .filter((path) => selected(path, filter))
    .sort()
    .map((path) => {
      const basename = path.slice(path.lastIndexOf('/') + 1);
      return {
        key: path,
        params: new Map([
          ['path', path],
          ['path.basename', basename],
          ['path.slug', slugify(path)],
        ]),
      };
    });
}

function listElementsOf(list: NonNullable<ApplicationGeneratorSpec['list']>): Element[] {
  return list.elements.map((entry) => ({
    key: entry.name,
    params: new Map([
      ['name', entry.name],
      ...Object.entries(entry.values).map(([key, value]) => [`values.${key}`, value] as [string, string]),
    ]),
  }));
}

async function pullRequestElements(
  deps: ListingDeps,
  filter: NonNullable<ApplicationGeneratorSpec['pullRequests']>,
  repository: Repository,
): Promise<Element[]> {
  const listing = await deps.pullRequests(repository, {
    ...(filter.base ? { base: filter.base } : {}),
    // One more than allowed: enough to tell "too many" from "all".
    limit: MAX_ELEMENTS + 1,
  });
  return listing.pullRequests
    .filter(
      (pull) =>
        (filter.includeForks || !pull.head.fork) &&
        (filter.base === undefined || pull.base.ref === filter.base) &&
        filter.labels.every((label) => pull.labels.includes(label)),
    )
    .sort((a, b) => a.number - b.number)
    .map((pull) => ({
      key: `#${pull.number}`,
      pullRequest: pull.number,
      params: new Map([
        ['number', String(pull.number)],
        ['branch', pull.head.ref],
        ['branchSlug', slugify(pull.head.ref)],
        ['headRef', pull.head.ref],
        ['headSha', pull.head.sha],
        ['ref', pullRequestRef(listing.kind, pull.number)],
      ]),
    }));
}

/** The ref a pull request's head can be fetched by, also from a fork: each host names it its own way. */
export function pullRequestRef(kind: PullRequestListing['kind'], number: number): string {
  return kind === 'gitlab' ? `refs/merge-requests/${number}/head` : `refs/pull/${number}/head`;
}
