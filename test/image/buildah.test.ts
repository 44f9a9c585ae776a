/**
 * src/dev/buildah.ts against real buildah storage and the run's real registry: images FROM scratch
 * are reproducible (same folder, same image ID and manifest digest, whatever the files' times),
 * pushes report the registry's digest, and bad names are refused before buildah runs.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildLayeredImage,
  buildScratchImage,
  inspectLocalImage,
  pushLocalImage,
  removeLocalImage,
} from '../../src/dev/buildah.js';
import { craneDigest, sharedRegistry } from '../support/registry.js';
import { makeTempDir } from '../support/git-servers.js';
import { podman } from './podman.js';

const suffix = randomBytes(4).toString('hex');
const built: string[] = [];

afterAll(async () => {
  for (const reference of built) await removeLocalImage(reference);
});

async function tinyRootfs(): Promise<string> {
  const rootfs = join(await makeTempDir('buildah-rootfs'), 'rootfs');
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  await copyFile('/bin/busybox', join(rootfs, 'bin/busybox'));
  await writeFile(join(rootfs, 'hello.txt'), 'hello\n');
  await mkdir(join(rootfs, 'tmp'));
  await chmod(join(rootfs, 'tmp'), 0o1777);
  return rootfs;
}

const config = {
  entrypoint: ['/bin/busybox', 'cat'],
  cmd: ['/hello.txt'],
  user: '65532:65532',
  env: { GREETING: 'a value with spaces' },
  labels: { 'dev.capstan.test': 'yes' },
  ports: [8080],
};

describe('buildah', () => {
  it('builds the same image, and pushes the same digest, from the same files at other times', async () => {
    const rootfs = await tinyRootfs();
    const first = `localhost/capstan-test-repro:${suffix}-a`;
    const second = `localhost/capstan-test-repro:${suffix}-b`;
    built.push(first, second);
    const a = await buildScratchImage(rootfs, config, first);
    // Other mtimes: the commit pins every file's time, so they must not show.
    await utimes(join(rootfs, 'hello.txt'), new Date(), new Date('2020-01-01T00:00:00Z'));
    const b = await buildScratchImage(rootfs, config, second);
    expect(a.id).toMatch(/^[0-9a-f]{64}$/);
    expect(b.id).toBe(a.id);
    expect(await inspectLocalImage(first)).toEqual({ id: a.id, labels: { 'dev.capstan.test': 'yes' } });

    const registry = await sharedRegistry();
    const pushedA = await pushLocalImage(first, `${registry.host}/capstan-test-${suffix}/repro:a`);
    const pushedB = await pushLocalImage(second, `${registry.host}/capstan-test-${suffix}/repro:b`);
    expect(pushedA.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(pushedB.digest).toBe(pushedA.digest);
    expect(await craneDigest(registry, `${registry.host}/capstan-test-${suffix}/repro:a`)).toBe(
      pushedA.digest,
    );
  });

  it('builds one layer per folder, later files winning, and keeps no intermediate image', async () => {
    const base = await tinyRootfs();
    const top = join(await makeTempDir('buildah-top'), 'top');
    await mkdir(top);
    await writeFile(join(top, 'hello.txt'), 'from the top layer\n');
    const reference = `localhost/capstan-test-layers:${suffix}`;
    built.push(reference);
    await buildLayeredImage([base, top], config, reference);
    const { stdout } = await promisify(execFile)('buildah', ['inspect', '--type', 'image', reference]);
    const inspected = JSON.parse(stdout) as { OCIv1: { rootfs: { diff_ids: string[] } } };
    expect(inspected.OCIv1.rootfs.diff_ids).toHaveLength(2);
    const images = await promisify(execFile)('buildah', ['images', '--format', '{{.Name}}:{{.Tag}}']);
    expect(images.stdout).not.toContain('capstan-build-layer');
    // The image's entrypoint prints /hello.txt: the top layer's.
    const printed = await podman(['run', '--rm', reference]);
    expect(printed.stdout).toBe('from the top layer\n');
  });

  it('says when there is no such image', async () => {
    expect(await inspectLocalImage(`localhost/capstan-test-absent:${suffix}`)).toBeUndefined();
  });

  it("fails with buildah's own words, and leaves no working container, when the folder is missing", async () => {
    const before = await workingContainers();
    const error = await buildScratchImage(
      '/nonexistent-capstan-rootfs',
      config,
      `localhost/capstan-test-missing:${suffix}`,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(String(error)).toMatch(/buildah copy failed .*\n.*nonexistent-capstan-rootfs/s);
    expect(await workingContainers()).toEqual(before);
  });
});

async function workingContainers(): Promise<string[]> {
  const { stdout } = await promisify(execFile)('buildah', ['containers', '--format', '{{.ContainerName}}']);
  return stdout
    .split('\n')
    .filter((name) => name.startsWith('capstan-build-'))
    .sort();
}
