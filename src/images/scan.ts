/**
 * The scan of an ImagePolicy: list the image's tags, choose the newest the policy allows, and
 * resolve that tag to its digest (so a tag pushed again is seen, and `spec.digest` can pin it).
 */
import pLimit from 'p-limit';
import { MAX_NEWEST_CANDIDATES, type ImagePolicySpec } from '../api/image-policy.js';
import { UserError } from '../core/errors.js';
import type { ImageName, RegistryClient } from '../registry/index.js';
import { chooseTagAsync, compileTagFilter, isValidTag, type TagFilter, type TagPolicy } from './policy.js';

export interface ScanResult {
  /** Tags the registry listed. */
  readonly tags: number;
  /** Tags the filter and the policy considered. */
  readonly considered: number;
  /** The newest allowed tag and its digest; undefined when no tag is allowed. */
  readonly chosen?: { readonly tag: string; readonly digest: string };
}

/** Choosing by the images' creation times rather than by the tags' text (`policy.newest`). */
export type ChoosingPolicy = TagPolicy | { readonly newest: Record<string, never> };

/** The spec's policy as the chooser takes it; a UserError unless exactly one kind is given. */
export function tagPolicyOf(spec: Pick<ImagePolicySpec, 'policy'>): ChoosingPolicy {
  const { semver, numerical, alphabetical, newest } = spec.policy;
  const given = [semver, numerical, alphabetical, newest].filter((kind) => kind !== undefined).length;
  if (given !== 1) {
    throw new UserError(
      `spec.policy must name exactly one of semver, numerical, alphabetical, newest (it names ${given})`,
    );
  }
  if (semver) return { semver: { range: semver.range } };
  if (numerical) return { numerical: { order: numerical.order } };
  if (alphabetical) return { alphabetical: { order: alphabetical.order } };
  return { newest: {} };
}

/** The filter of the spec, checked (a bad pattern is a UserError before the registry is asked). */
export function tagFilterOf(spec: Pick<ImagePolicySpec, 'filterTags'>): TagFilter | undefined {
  if (!spec.filterTags) return undefined;
  const filter: TagFilter = {
    pattern: spec.filterTags.pattern,
    ...(spec.filterTags.extract === undefined ? {} : { extract: spec.filterTags.extract }),
  };
  compileTagFilter(filter);
  return filter;
}

export async function scanImage(
  registry: { readonly image: ImageName; readonly client: RegistryClient },
  spec: Pick<ImagePolicySpec, 'policy' | 'filterTags'>,
  signal?: AbortSignal,
): Promise<ScanResult> {
  const policy = tagPolicyOf(spec);
  const filter = tagFilterOf(spec);
  const options = signal ? { signal } : {};
  const tags = await registry.client.listTags(registry.image, options);
  const choice =
    'newest' in policy
      ? await newestTag(registry, tags, filter, options)
      : await chooseTagAsync(tags, policy, filter);
  if (!choice) return { tags: tags.length, considered: 0 };
  const manifest = await registry.client.resolve(registry.image, choice.tag, options);
  return {
    tags: tags.length,
    considered: choice.considered,
    chosen: { tag: choice.tag, digest: manifest.digest },
  };
}

/**
 * The tag whose image was created last, as the registry tells; ties go to the tag last in byte
 * order, so the choice never depends on the listing. Each candidate costs a manifest (and maybe a
 * config) read, so the filter must leave few: past MAX_NEWEST_CANDIDATES it is a UserError rather
 * than a scan that reads a registry's whole history every interval.
 */
async function newestTag(
  registry: { readonly image: ImageName; readonly client: RegistryClient },
  tags: readonly string[],
  filter: TagFilter | undefined,
  options: { signal?: AbortSignal },
): Promise<{ tag: string; considered: number } | undefined> {
  const matches = filter ? compileTagFilter(filter) : () => '';
  const candidates = tags.filter((tag) => isValidTag(tag) && matches(tag) !== undefined);
  if (candidates.length > MAX_NEWEST_CANDIDATES) {
    throw new UserError(
      `policy newest reads the creation time of each candidate tag: filterTags must leave at most ${MAX_NEWEST_CANDIDATES} of the ${tags.length} tags (it leaves ${candidates.length})`,
    );
  }
  const limit = pLimit(NEWEST_CONCURRENCY);
  const created = await Promise.all(
    candidates.map((tag) =>
      limit(async () => ({ tag, at: await registry.client.createdAt(registry.image, tag, options) })),
    ),
  );
  let best: { tag: string; at: Date } | undefined;
  let considered = 0;
  for (const { tag, at } of created) {
    if (at === undefined) continue;
    considered++;
    const order = best === undefined ? 1 : at.getTime() - best.at.getTime();
    if (order > 0 || (order === 0 && best !== undefined && tag > best.tag)) best = { tag, at };
  }
  return best === undefined ? undefined : { tag: best.tag, considered };
}

/** Creation times read at once, per scan. */
const NEWEST_CONCURRENCY = 4;
