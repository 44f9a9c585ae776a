/**
 * The scan of an ImagePolicy: list the image's tags, choose the newest the policy allows, and
 * resolve that tag to its digest (so a tag pushed again is seen, and `spec.digest` can pin it).
 */
import type { ImagePolicySpec } from '../api/image-policy.js';
import { UserError } from '../core/errors.js';
import type { ImageName, RegistryClient } from '../registry/index.js';
import { chooseTagAsync, compileTagFilter, type TagFilter, type TagPolicy } from './policy.js';

export interface ScanResult {
  /** Tags the registry listed. */
  readonly tags: number;
  /** Tags the filter and the policy considered. */
  readonly considered: number;
  /** The newest allowed tag and its digest; undefined when no tag is allowed. */
  readonly chosen?: { readonly tag: string; readonly digest: string };
}

/** The spec's policy as the chooser takes it; a UserError unless exactly one kind is given. */
export function tagPolicyOf(spec: Pick<ImagePolicySpec, 'policy'>): TagPolicy {
  const { semver, numerical, alphabetical } = spec.policy;
  const given = [semver, numerical, alphabetical].filter((kind) => kind !== undefined).length;
  if (given !== 1) {
    throw new UserError(
      `spec.policy must name exactly one of semver, numerical, alphabetical (it names ${given})`,
    );
  }
  if (semver) return { semver: { range: semver.range } };
  if (numerical) return { numerical: { order: numerical.order } };
  return { alphabetical: { order: alphabetical!.order } };
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
  const choice = await chooseTagAsync(tags, policy, filter);
  if (!choice) return { tags: tags.length, considered: 0 };
  const manifest = await registry.client.resolve(registry.image, choice.tag, options);
  return {
    tags: tags.length,
    considered: choice.considered,
    chosen: { tag: choice.tag, digest: manifest.digest },
  };
}
