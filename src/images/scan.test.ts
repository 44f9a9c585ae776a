import { describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.js';
import type { RegistryClient } from '../registry/index.js';
import { scanImage } from './scan.js';

const image = { registry: 'registry.example.com', repository: 'team/web' };

/** A registry of `tags`, each created at the time given (or with none), counting the times asked. */
function fakeRegistry(tags: Record<string, string | undefined>) {
  let timesAsked = 0;
  const client = {
    listTags: async () => Object.keys(tags),
    resolve: async (_image: unknown, tag: string) => ({
      digest: `sha256:${Buffer.from(tag).toString('hex').padEnd(64, '0').slice(0, 64)}`,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: 1,
    }),
    createdAt: async (_image: unknown, tag: string) => {
      timesAsked++;
      const at = tags[tag];
      return at === undefined ? undefined : new Date(at);
    },
  } as unknown as RegistryClient;
  return { registry: { image, client }, asked: () => timesAsked };
}

describe('scanImage with policy newest', () => {
  it('takes the latest creation time; a tie goes to the tag last in byte order; untimed tags are left out', async () => {
    const { registry } = fakeRegistry({
      'b-1': '2026-11-02T00:00:00Z',
      'b-2': '2026-11-03T00:00:00Z',
      'b-3': '2026-11-03T00:00:00Z',
      'b-x': undefined,
    });
    const result = await scanImage(registry, { policy: { newest: {} } });
    expect(result).toMatchObject({ tags: 4, considered: 3, chosen: { tag: 'b-3' } });
  });

  it('refuses to read the creation time of more than 100 tags in one scan, before asking any', async () => {
    const tags = Object.fromEntries(
      Array.from({ length: 101 }, (_, i) => [`t-${i}`, '2026-11-01T00:00:00Z']),
    );
    const { registry, asked } = fakeRegistry(tags);
    const scan = scanImage(registry, { policy: { newest: {} } });
    await expect(scan).rejects.toThrow(UserError);
    await expect(scanImage(registry, { policy: { newest: {} } })).rejects.toThrow(
      /at most 100 of the 101 tags/,
    );
    expect(asked()).toBe(0);
    const narrowed = await scanImage(registry, {
      policy: { newest: {} },
      filterTags: { pattern: '^t-1[0-9]$' },
    });
    expect(narrowed.considered).toBe(10);
  });
});
