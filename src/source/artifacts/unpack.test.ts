import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack, type Header } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyDigest, sha256Digest, DigestMismatchError } from './digest.js';
import { createArtifactStore } from './store.js';
import { unpackArchive, UnsafeArchiveError, DEFAULT_UNPACK_LIMITS } from './unpack.js';

type Entry = Partial<Header> & { name: string; content?: string };

/** A tar (gzipped unless told otherwise) made with tar-stream from `entries`. */
async function tarball(entries: readonly Entry[], { gzip = true } = {}): Promise<Buffer> {
  const archive = pack();
  for (const { content, ...header } of entries) {
    if (header.type === undefined || header.type === 'file') archive.entry(header, content ?? '');
    else archive.entry(header);
  }
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive) chunks.push(chunk as Buffer);
  const tar = Buffer.concat(chunks);
  return gzip ? gzipSync(tar) : tar;
}

/** A raw ustar header: what a hostile tool can write that tar-stream's pack would not. */
function rawHeader(name: string, size: number, type = '0'): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write(type, 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  header.fill(' ', 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += header[i]!;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return header;
}

describe('unpackArchive', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'capstan-unpack-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes files and folders of a chart archive, and can drop its top folder', async () => {
    const archive = await tarball([
      { name: 'web/', type: 'directory' },
      { name: 'web/Chart.yaml', content: 'name: web\nversion: 1.0.0\n' },
      { name: './web/templates/cm.yaml', content: 'kind: ConfigMap\n' },
    ]);
    const result = await unpackArchive(archive, dir, 'chart web');
    expect(result).toMatchObject({ files: 2, topLevel: ['web'] });
    expect(await readFile(join(dir, 'web/templates/cm.yaml'), 'utf8')).toBe('kind: ConfigMap\n');

    const stripped = await mkdtemp(join(tmpdir(), 'capstan-unpack-'));
    try {
      await unpackArchive(archive, stripped, 'chart web', DEFAULT_UNPACK_LIMITS, { stripComponents: 1 });
      expect((await readdir(stripped)).sort()).toEqual(['Chart.yaml', 'templates']);
    } finally {
      await rm(stripped, { recursive: true, force: true });
    }
  });

  it('reads an uncompressed tar too', async () => {
    await unpackArchive(
      await tarball([{ name: 'a.yaml', content: 'x: 1\n' }], { gzip: false }),
      dir,
      'plain',
    );
    expect(await readFile(join(dir, 'a.yaml'), 'utf8')).toBe('x: 1\n');
  });

  const hostile: [string, Entry[], RegExp][] = [
    ['a ../ path', [{ name: '../escape.yaml', content: 'x' }], /leaves the artifact/],
    ['a nested ../ path', [{ name: 'a/../../escape.yaml', content: 'x' }], /leaves the artifact/],
    ['an absolute path', [{ name: '/etc/passwd', content: 'root' }], /absolute path/],
    ['a symlink', [{ name: 'link', type: 'symlink', linkname: '/etc/passwd' }], /is a symlink/],
    ['a hard link', [{ name: 'link', type: 'link', linkname: '../../etc/passwd' }], /is a link/],
    ['a device', [{ name: 'dev', type: 'character-device', devmajor: 1, devminor: 3 }], /character-device/],
    ['a FIFO', [{ name: 'fifo', type: 'fifo' }], /fifo/],
    ['a backslash', [{ name: '..\\escape', content: 'x' }], /backslash/],
    [
      'the same file twice',
      [
        { name: 'a.yaml', content: 'first' },
        { name: 'a.yaml', content: 'second' },
      ],
      /more than once/,
    ],
  ];
  it.each(hostile)('refuses %s and writes nothing outside', async (_name, entries, message) => {
    const inner = join(dir, 'inner');
    await import('node:fs/promises').then((fs) => fs.mkdir(inner));
    await expect(unpackArchive(await tarball(entries), inner, 'hostile')).rejects.toThrow(message);
    expect(await readdir(dir)).toEqual(['inner']);
  });

  it('refuses a symlink before a file written through it', async () => {
    const archive = await tarball([
      { name: 'dir', type: 'symlink', linkname: '/tmp' },
      { name: 'dir/owned.yaml', content: 'x' },
    ]);
    await expect(unpackArchive(archive, dir, 'hostile')).rejects.toBeInstanceOf(UnsafeArchiveError);
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a file declaring 2 GB before reading any of it', async () => {
    const archive = gzipSync(Buffer.concat([rawHeader('huge.yaml', 2 * 1024 ** 3), Buffer.alloc(4096)]));
    await expect(unpackArchive(archive, dir, 'hostile')).rejects.toThrow(
      /declares 2048 MiB, more than 16 MiB/,
    );
    expect(await readdir(dir)).toEqual([]);
  });

  it('stops inflating a gzip bomb at the unpacked-bytes limit', async () => {
    // 64 MiB of zeros, about 64 KiB compressed: one file that would fit, past the total limit.
    const bomb = gzipSync(
      Buffer.concat([rawHeader('bomb.yaml', 64 * 1024 ** 2), Buffer.alloc(64 * 1024 ** 2)]),
    );
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const limits = { ...DEFAULT_UNPACK_LIMITS, maxUnpackedBytes: 1024 * 1024, maxFileBytes: 128 * 1024 ** 2 };
    await expect(unpackArchive(bomb, dir, 'hostile', limits)).rejects.toThrow(/unpacks to more than 1 MiB/);
  });

  it('refuses 100,000 files at the entry limit', async () => {
    const headers = Array.from({ length: 100_000 }, (_, i) => rawHeader(`f${i}.yaml`, 0));
    const archive = gzipSync(Buffer.concat([...headers, Buffer.alloc(1024)]));
    const limits = { ...DEFAULT_UNPACK_LIMITS, maxEntries: 1000 };
    await expect(unpackArchive(archive, dir, 'hostile', limits)).rejects.toThrow(/more than 1000 entries/);
    expect((await readdir(dir)).length).toBe(1000);
  });

  it('refuses what is not a tar archive, and an empty one', async () => {
    await expect(
      unpackArchive(gzipSync(Buffer.from('not a tar at all '.repeat(64))), dir, 'x'),
    ).rejects.toThrow(/not a readable tar.gz archive|holds no files/);
    await expect(unpackArchive(await tarball([]), dir, 'x')).rejects.toThrow(/holds no files/);
  });

  it('refuses a top-level file when the top folder is dropped', async () => {
    const archive = await tarball([{ name: 'Chart.yaml', content: 'x' }]);
    await expect(
      unpackArchive(archive, dir, 'chart', DEFAULT_UNPACK_LIMITS, { stripComponents: 1 }),
    ).rejects.toThrow(/outside the archive's top-level folder/);
  });

  it('writes files without execute bits unless the archive sets them, never setuid', async () => {
    await unpackArchive(await tarball([{ name: 'a.sh', content: 'x', mode: 0o4777 }]), dir, 'x');
    expect((await stat(join(dir, 'a.sh'))).mode & 0o7777).toBe(0o755);
  });
});

describe('artifact store and digests', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'capstan-store-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses content whose digest is not the one published', async () => {
    const data = Buffer.from('chart bytes');
    const wrong = sha256Digest(Buffer.from('other bytes'));
    expect(() => verifyDigest(data, wrong, 'chart web 1.0.0')).toThrow(DigestMismatchError);
    const store = createArtifactStore(dir);
    await expect(
      store.put(wrong, { content: wrong, stripComponents: 0, description: 'chart web 1.0.0' }, data),
    ).rejects.toThrow(/is refused: its content has digest sha256:/);
    expect(await store.has(wrong)).toBe(false);
  });

  it('keeps content by digest and drops a file damaged on disk', async () => {
    const store = createArtifactStore(dir);
    const data = Buffer.from('chart bytes');
    const digest = sha256Digest(data);
    await store.put(digest, { content: digest, stripComponents: 0, description: 'chart' }, data);
    expect((await store.get(digest))?.data.toString()).toBe('chart bytes');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'sha256', digest.slice('sha256:'.length)), 'tampered');
    expect(await store.get(digest)).toBeUndefined();
  });
});
