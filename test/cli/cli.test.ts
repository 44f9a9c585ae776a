/**
 * The one-shot CLI as a user runs it: a process, a kubeconfig, a folder or a Git repository.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { bundleCli } from '../../scripts/build.js';
import { capstan, type CliResult } from '../support/cli.js';
import { freshNamespace, kubectlOk } from '../support/cluster.js';
import { configMap } from '../support/engine.js';
import { createTestRepo, makeTempDir } from '../support/git-servers.js';

async function folder(files: Record<string, string>): Promise<string> {
  const dir = await makeTempDir('cli-app');
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), content);
  }
  return dir;
}

const SECRET = 'hunter2-correct-horse-battery';
const SECRET_B64 = Buffer.from(SECRET).toString('base64');
const NEW_SECRET = 'tr0ub4dor-and-3-more-words';
const NEW_SECRET_B64 = Buffer.from(NEW_SECRET).toString('base64');

const secret = (value: string): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'creds' },
    stringData: { password: value },
  });

describe('capstan diff / apply', () => {
  it('diff exits 3 with differences and 0 in sync; apply exits 0; output has no colour off a TTY', async () => {
    const namespace = await freshNamespace('cli');
    const dir = await folder({ 'cm.yaml': configMap('settings', { color: 'blue' }) });
    const before = await capstan(['diff', dir, '-n', namespace]);
    expect(before.code).toBe(3);
    expect(before.stdout).toContain('ConfigMap   ' + namespace);
    expect(before.stdout).toMatch(/out of sync: 1 created \(dry run\)/);
    expect(before.stdout).not.toContain('\u001b[');

    const applied = await capstan(['apply', dir, '-n', namespace]);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/applied: 1 created/);
    expect(applied.stderr).toMatch(/render: rendering/);

    const after = await capstan(['diff', dir, '-n', namespace, '-o', 'json']);
    expect(after.code).toBe(0);
    const json = JSON.parse(after.stdout);
    expect(json).toMatchObject({
      mode: 'diff',
      changed: false,
      failed: false,
      objects: [{ kind: 'ConfigMap', name: 'settings', action: 'unchanged' }],
    });
  });

  it('diff names the field manager of a field changed by kubectl edit', async () => {
    const namespace = await freshNamespace('edit');
    const dir = await folder({ 'cm.yaml': configMap('settings', { color: 'blue' }) });
    expect((await capstan(['apply', dir, '-n', namespace])).code).toBe(0);

    const editor = join(await makeTempDir('editor'), 'edit.sh');
    await writeFile(editor, '#!/bin/sh\nsed -i "s/color: blue/color: red/" "$1"\n');
    await chmod(editor, 0o755);
    const { kubectl } = inject('tools');
    await new Promise<void>((resolve, reject) =>
      execFile(
        kubectl!,
        ['--kubeconfig', inject('kubeconfigPath'), 'edit', 'configmap', 'settings', '-n', namespace],
        { env: { ...process.env, KUBE_EDITOR: editor } },
        (error) => (error ? reject(error) : resolve()),
      ),
    );

    const text = await capstan(['diff', dir, '-n', namespace]);
    expect(text.code).toBe(3);
    expect(text.stdout).toContain('replace /data/color (owned by kubectl-edit)');
    expect(text.stdout).toContain('-  color: red\n+  color: blue');

    const json = JSON.parse((await capstan(['diff', dir, '-n', namespace, '-o', 'json'])).stdout);
    expect(json.objects[0].changes).toEqual([
      {
        path: '/data/color',
        op: 'replace',
        before: 'red',
        after: 'blue',
        previousManagers: ['kubectl-edit'],
      },
    ]);
  });

  it('never prints a Secret value: diff, JSON, apply output, progress, errors', async () => {
    const namespace = await freshNamespace('secret');
    const repo = await createTestRepo(await makeTempDir('repo'));
    await repo.commit({ 'app/secret.yaml': secret(SECRET) });
    const gitArgs = ['--repo', repo.fileUrl, '--ref', 'main', '--path', 'app', '-n', namespace];
    const outputs: CliResult[] = [];
    outputs.push(await capstan(['diff', ...gitArgs]));
    outputs.push(await capstan(['apply', ...gitArgs, '-o', 'json']));

    await repo.commit({ 'app/secret.yaml': secret(NEW_SECRET) });
    const changed = await capstan(['diff', ...gitArgs]);
    outputs.push(changed, await capstan(['diff', ...gitArgs, '-o', 'json']));
    expect(changed.code).toBe(3);
    expect(changed.stdout).toContain('*** (before)');
    expect(changed.stdout).toContain('*** (after)');
    outputs.push(await capstan(['apply', ...gitArgs]));

    // An invalid Secret: the API server's error must not carry the value either.
    await repo.commit({
      'app/secret.yaml': JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'docker' },
        type: 'kubernetes.io/dockerconfigjson',
        stringData: { '.dockerconfigjson': `{"auths": ${NEW_SECRET}` },
      }),
    });
    const invalid = await capstan(['apply', ...gitArgs]);
    expect(invalid.code).toBe(1);
    expect(invalid.stdout).toMatch(/failed/);
    outputs.push(invalid, await capstan(['diff', ...gitArgs, '-o', 'json']));

    for (const output of outputs) {
      for (const leak of [SECRET, SECRET_B64, NEW_SECRET, NEW_SECRET_B64]) {
        expect(output.stdout).not.toContain(leak);
        expect(output.stderr).not.toContain(leak);
      }
    }
    // And it was really applied.
    const stored = JSON.parse(await kubectlOk(['get', 'secret', 'creds', '-n', namespace, '-o', 'json']));
    expect(stored.data.password).toBe(NEW_SECRET_B64);
  });

  it('exits 2 on bad input and 1 when the API server is unreachable', async () => {
    const noTarget = await capstan(['apply']);
    expect(noTarget.code).toBe(2);
    expect(noTarget.stderr).toContain('say what to sync');

    const badFlag = await capstan(['apply', '.', '--timeout', 'soon']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain("--timeout must be a duration such as 90s, 5m or 1h30m, not 'soon'");

    const unknownOption = await capstan(['diff', '--frobnicate']);
    expect(unknownOption.code).toBe(2);

    const dir = await folder({ 'cm.yaml': configMap('x', { a: 'b' }) });
    const kubeconfig = join(await makeTempDir('kc'), 'config');
    await writeFile(
      kubeconfig,
      inject('kubeconfig').replace(/server: https:\/\/127\.0\.0\.1:\d+/, 'server: https://127.0.0.1:1'),
    );
    const unreachable = await capstan(['apply', dir, '--kubeconfig', kubeconfig]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/ECONNREFUSED|refused/);
  });

  it('--help explains with examples', async () => {
    const help = await capstan(['apply', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Examples:');
    expect(help.stdout).toContain('--repo <url>');
    const top = await capstan(['--help']);
    expect(top.stdout).toMatch(/diff .*\n.*apply/s);
  });

  it('the built bundle (what the capstan bin runs) applies, and loads the chunks of lazy commands', async () => {
    // Laid out like the installed package: dist/ beside tools/ (helm and kustomize come from there).
    const pkg = await makeTempDir('cli-bundle');
    await symlink(new URL('../../tools', import.meta.url).pathname, join(pkg, 'tools'));
    const entry = await bundleCli(join(pkg, 'dist'));
    const namespace = await freshNamespace('cli');
    const dir = await folder({ 'cm.yaml': configMap('bundled', { v: '1' }) });
    const applied = await capstan(['apply', dir, '-n', namespace, '--no-wait'], {}, entry);
    expect(applied.stderr).toMatch(/^render: rendering/);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/applied: 1 created/);
    // `get apps` runs code from a chunk loaded on use (and needs the CRDs, which the controller
    // tests install; without them it says so): either way, the chunk loaded.
    const listed = await capstan(['get', 'apps', '-n', namespace], {}, entry);
    expect(listed.stderr).not.toMatch(/Cannot find module|ERR_MODULE_NOT_FOUND/);
    expect([listed.stdout, listed.stderr].join('')).toMatch(
      /No applications found in namespace|CRDs installed/,
    );
  });
});
