import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.js';
import type { TempRepo } from '../../test/render/repo.js';
import { SECRET, caught, configMap, fullText, makeRepo } from '../../test/render/repo.js';
import { createPlainRenderer } from './plain.js';
import type { RenderOptions } from './types.js';

const MiB = 1024 * 1024;

describe('plain renderer', () => {
  let repo: TempRepo;
  afterEach(async () => repo?.cleanup());

  const render = (appPath: string, limits = {}, options: RenderOptions = {}) =>
    createPlainRenderer({ limits }).render({ checkoutDir: repo.dir, appPath, options });

  it('reads yaml, yml and json files depth-first in name order, skipping dot entries and other files', async () => {
    repo = await makeRepo({
      'apps/web/b.yaml': `${configMap('b1')}---\n---\n${configMap('b2')}`,
      'apps/web/a.json': JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } }),
      'apps/web/c/d.yml': configMap('c-d'),
      'apps/web/c.YAML': configMap('c-upper'),
      'apps/web/.hidden/x.yaml': configMap('hidden'),
      'apps/web/.x.yaml': configMap('hidden-file'),
      'apps/web/notes.txt': 'not yaml: [',
      'apps/other/o.yaml': configMap('other'),
    });
    const result = await render('apps/web');
    expect(result.kind).toBe('plain');
    // `c` sorts before `c.YAML`, and the walk enters it where it sorts.
    expect(result.objects.map((o) => o.metadata.name)).toEqual(['a', 'b1', 'b2', 'c-d', 'c-upper']);
    expect(result.inputs).toEqual(['apps/web']);
  });

  it('reads many files at once but keeps walk order, and reports the first bad file in that order', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 40; i++) files[`app/${String(i).padStart(2, '0')}/cm.yaml`] = configMap(`cm-${i}`);
    repo = await makeRepo(files);
    const good = await render('app');
    expect(good.objects.map((o) => o.metadata.name)).toEqual(Array.from({ length: 40 }, (_, i) => `cm-${i}`));

    // A later file over the size limit is refused before any file is read; an earlier one that
    // does not parse is reported first once the sizes pass.
    await writeFile(join(repo.dir, 'app/05/cm.yaml'), 'data: [\n');
    await writeFile(join(repo.dir, 'app/30/cm.yaml'), 'x'.repeat(2048));
    expect((await caught(() => render('app', { maxFileBytes: 1024 }))).message).toBe(
      'app/30/cm.yaml is 2 KiB, over the 1 KiB limit for one file',
    );
    expect((await caught(() => render('app'))).message).toMatch(/^app\/05\/cm\.yaml:/);
  });

  it('expands List documents and leaves other objects untouched', async () => {
    repo = await makeRepo({
      'list.yaml': `apiVersion: v1\nkind: List\nitems:\n- ${configMap('one').replace(/\n/g, '\n  ')}\n- ${configMap('two').replace(/\n/g, '\n  ')}`,
      'cm-list.yaml': `apiVersion: v1\nkind: ConfigMapList\nitems: []\n`,
    });
    const result = await render('');
    expect(result.objects).toEqual([
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'one' } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'two' } },
    ]);
  });

  it('does not recurse when asked not to, and renders a single file app path', async () => {
    repo = await makeRepo({ 'apps/a.yaml': configMap('a'), 'apps/sub/b.yaml': configMap('b') });
    expect(
      (await render('apps', {}, { plain: { recurse: false } })).objects.map((o) => o.metadata.name),
    ).toEqual(['a']);
    const single = await render('apps/sub/b.yaml');
    expect(single.objects.map((o) => o.metadata.name)).toEqual(['b']);
    expect(single.inputs).toEqual(['apps/sub/b.yaml']);
  });

  it('follows symlinks inside the repository and records them as inputs', async () => {
    repo = await makeRepo({
      'shared/common.yaml': configMap('common'),
      'shared/dir/x.yaml': configMap('x'),
      'apps/web/common.yaml': { symlink: '../../shared/common.yaml' },
      'apps/web/dir': { symlink: '../../shared/dir' },
      'apps/web/self': { symlink: '.' },
    });
    const result = await render('apps/web');
    expect(result.objects.map((o) => o.metadata.name)).toEqual(['common', 'x']);
    expect(result.inputs).toEqual(['apps/web', 'shared/common.yaml', 'shared/dir']);
  });

  it('refuses a symlink to a file outside the checkout, without reading it', async () => {
    repo = await makeRepo({
      'apps/web/a.yaml': configMap('a'),
      'apps/web/stolen.yaml': { symlink: '../../../outside/secret.txt' },
    });
    const error = await caught(() => render('apps/web'));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe('"apps/web/stolen.yaml" is a symlink that leads outside the repository');
    expect(fullText(error)).not.toContain(SECRET);
  });

  it('refuses escaping symlinks even when they do not look like manifests', async () => {
    repo = await makeRepo({ 'apps/web/notes.md': { symlink: '../../../outside/secret.txt' } });
    expect((await caught(() => render('apps/web'))).message).toBe(
      '"apps/web/notes.md" is a symlink that leads outside the repository',
    );
  });

  it('refuses a symlinked folder that escapes the checkout', async () => {
    repo = await makeRepo({ 'apps/web/more': { symlink: '../../../outside/secret-dir' } });
    const error = await caught(() => render('apps/web'));
    expect(error.message).toBe('"apps/web/more" is a symlink that leads outside the repository');
    expect(fullText(error)).not.toContain(SECRET);
  });

  it('refuses app paths that are absolute, climb out, or lead out through a symlink', async () => {
    repo = await makeRepo({ 'apps/out': { symlink: '../../outside/secret-dir' } });
    expect((await caught(() => render('/etc'))).message).toBe(
      'app path: "/etc" is an absolute path; paths must be relative and stay inside the repository',
    );
    expect((await caught(() => render('apps/../../outside/secret-dir'))).message).toBe(
      'app path: "apps/../../outside/secret-dir" leads outside the repository',
    );
    expect((await caught(() => render('apps/out'))).message).toBe(
      'app path: "apps/out" is a symlink that leads outside the repository',
    );
    expect((await caught(() => render('apps/missing'))).message).toBe(
      'app path: "apps/missing" does not exist',
    );
  });

  it('refuses a 200 MB file by its size, before reading it', async () => {
    repo = await makeRepo({
      'apps/web/a.yaml': configMap('a'),
      'apps/web/huge.yaml': { sparseBytes: 200 * MiB },
    });
    const started = Date.now();
    const error = await caught(() => render('apps/web'));
    expect(error.message).toBe('apps/web/huge.yaml is 200 MiB, over the 16 MiB limit for one file');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('refuses a FIFO named like a manifest instead of hanging on it, and ignores other special files', async () => {
    repo = await makeRepo({ 'apps/web/pipe.txt': { fifo: true }, 'apps/web/a.yaml': configMap('a') });
    expect((await render('apps/web')).objects).toHaveLength(1);
    await repo.write({ 'apps/web/pipe.yaml': { fifo: true } });
    expect((await caught(() => render('apps/web'))).message).toBe(
      '"apps/web/pipe.yaml" is not a regular file; a file was expected',
    );
  });

  it('names the broken file and line among ten, without echoing its content', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 10; i++) files[`apps/web/f${i}.yaml`] = configMap(`f${i}`);
    files['apps/web/f6.yaml'] =
      `apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: ${SECRET}\n  - user: admin\n`;
    repo = await makeRepo(files);
    const error = await caught(() => render('apps/web'));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(
      'apps/web/f6.yaml:7:1: invalid YAML: a block collection cannot be a mapping key (BLOCK_AS_IMPLICIT_KEY)',
    );
    expect(fullText(error)).not.toContain(SECRET);
  });

  it('names the file and document of something that is not a Kubernetes object, without values', async () => {
    repo = await makeRepo({
      'a.yaml': `${configMap('ok')}---\nkind: Secret\nmetadata:\n  name: x\ndata:\n  k: ${SECRET}\n`,
    });
    let error = await caught(() => render(''));
    expect(error.message).toBe(
      'a.yaml: document 2 (line 6) is not a Kubernetes object: apiVersion missing or not a string',
    );
    expect(fullText(error)).not.toContain(SECRET);

    await repo.write({ 'a.yaml': `- ${SECRET}\n` });
    error = await caught(() => render(''));
    expect(error.message).toBe(
      'a.yaml: document 1 (line 1) is a sequence, not a Kubernetes object (a mapping with apiVersion, kind and metadata)',
    );
    await repo.write({
      'a.yaml': 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n',
    });
    expect((await caught(() => render(''))).message).toBe(
      'a.yaml: document 1 (line 1) is not a Kubernetes object: metadata missing or not a string (this is a kustomization file: render the folder with kustomize)',
    );
  });

  it('refuses files that are not UTF-8', async () => {
    repo = await makeRepo();
    await writeFile(join(repo.dir, 'a.yaml'), Buffer.from([0x61, 0x3a, 0x20, 0xff, 0xfe, 0x0a]));
    expect((await caught(() => render(''))).message).toBe('"a.yaml" is not valid UTF-8 text');
  });

  it.each([
    ['files', { maxFiles: 3 }, 'the render reads more than 3 files (limit reached at apps/f3.yaml)'],
    [
      'bytes',
      { maxTotalBytes: 150 },
      /^the render reads more than 150 bytes in total \(limit reached at apps\/f\d\.yaml\)$/,
    ],
    [
      'documents',
      { maxDocuments: 4 },
      'the render produces more than 4 objects (limit reached in apps/f4.yaml)',
    ],
    [
      'directory entries',
      { maxDirectoryEntries: 5 },
      'the render walks more than 5 directory entries (limit reached in apps)',
    ],
  ])('stops at the %s limit with an error naming where', async (_name, limits, message) => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 6; i++) files[`apps/f${i}.yaml`] = configMap(`f${i}`);
    repo = await makeRepo(files);
    const error = await caught(() => render('apps', limits));
    expect(error).toBeInstanceOf(UserError);
    if (typeof message === 'string') expect(error.message).toBe(message);
    else expect(error.message).toMatch(message);
  });
});
