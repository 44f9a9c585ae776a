/**
 * Capstan's image (src/dev/image.ts), built from this tree with one call and run by real podman:
 * non-root, read-only root filesystem, git over http and ssh inside it, and the controller started
 * in it against the run's control plane — JSON logs without the token, /readyz, and a graceful stop
 * on SIGTERM through tini.
 */
import { randomBytes } from 'node:crypto';
import { chmod, chown, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createKubeClient } from '../../src/kube/index.js';
import { freePort } from '../../src/dev/controlplane.js';
import {
  buildCapstanImage,
  buildDemoAppImage,
  CAPSTAN_UID,
  IMAGE_STATE_DIR,
  type CapstanImage,
} from '../../src/dev/image.js';
import { sshCommand } from '../../src/source/git.js';
import { capstan } from '../support/cli.js';
import { kubectlOk } from '../support/cluster.js';
import { installFromDeploy, serviceAccountKubeconfig } from '../support/controller-process.js';
import { createApp, eventually, gitFixture, readyAt } from '../support/controller.js';
import { configMap } from '../support/engine.js';
import { craneDigest, sharedRegistry } from '../support/registry.js';
import {
  createTestRepo,
  makeTempDir,
  sshUnavailableReason,
  startGitHttpServer,
  startSshServer,
  type GitHttpServer,
} from '../support/git-servers.js';
import { podman } from './podman.js';

const containers: string[] = [];
let image: CapstanImage;

/** `podman run --rm --read-only` of the image, on the host's network, with `args`. */
function runInImage(args: readonly string[], options: { entrypoint?: string } = {}) {
  return podman([
    'run',
    '--rm',
    '--read-only',
    '--network',
    'host',
    ...(options.entrypoint ? ['--entrypoint', options.entrypoint] : []),
    image.reference,
    ...args,
  ]);
}

beforeAll(async () => {
  const started = Date.now();
  image = await buildCapstanImage({ progress: (line) => console.log(`[image] ${line}`) });
  console.log(
    `[image] ${image.reference} ${image.cached ? 'reused' : 'built'} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
}, 900_000);

afterAll(async () => {
  for (const name of containers) await podman(['rm', '--force', '--ignore', name]).catch(() => undefined);
});

describe("Capstan's image", () => {
  it('is built once per input: a second call reuses it', async () => {
    const again = await buildCapstanImage();
    expect(again).toEqual({ ...image, cached: true });
    expect(image.reference).toMatch(/^localhost\/capstan:\d+\.\d+\.\d+/);
    const { stdout } = await podman(['image', 'inspect', '--format', '{{.Size}}', image.reference]);
    const megabytes = Number(stdout.trim()) / 1e6;
    console.log(`[image] size ${megabytes.toFixed(0)} MB`);
    // Generous: node (~100 MB) and helm (~60 MB) are most of it.
    expect(megabytes).toBeLessThan(300);
  });

  it('`capstan dev image --push` pushes it to a registry and prints its digest', async () => {
    const registry = await sharedRegistry();
    const result = await capstan(['dev', 'image', '--push', registry.host, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const printed = JSON.parse(result.stdout) as {
      reference: string;
      cached: boolean;
      pushed: { reference: string; digest: string };
    };
    expect(printed).toMatchObject({ reference: image.reference, cached: true });
    expect(printed.pushed.reference).toBe(`${registry.host}/capstan:${image.version}`);
    expect(printed.pushed.digest).toBe(await craneDigest(registry, printed.pushed.reference));
  });

  it('prints its version, as uid 65532, on a read-only root filesystem', async () => {
    const version = await runInImage(['--version']);
    expect(version.stdout.trim()).toBe(image.version);
    const uid = await runInImage(['-e', 'console.log(process.getuid(), process.getgid())'], {
      entrypoint: '/usr/bin/node',
    });
    expect(uid.stdout.trim()).toBe('65532 65532');
  });

  it('runs git over http inside it, with ssh, prlimit and a shell beside it', async () => {
    const root = await makeTempDir('image-git');
    const repo = await createTestRepo(root, 'app');
    const head = await repo.commit({ 'README.md': 'hello\n' });
    const server: GitHttpServer = await startGitHttpServer({ root });
    try {
      const listed = await runInImage(['ls-remote', server.url('app')], { entrypoint: '/usr/bin/git' });
      expect(listed.stdout).toContain(`${head}\trefs/heads/main`);
      // The way src/source/git.ts runs git: under prlimit, which execs it.
      const limited = await runInImage(['--data=536870912', '--', 'git', 'ls-remote', server.url('app')], {
        entrypoint: '/usr/bin/prlimit',
      });
      expect(limited.stdout).toContain(head);
    } finally {
      await server.close();
    }
    const version = await runInImage(['-V'], { entrypoint: '/usr/bin/ssh' });
    expect(version.stderr).toMatch(/^OpenSSH_/);
    // git runs GIT_SSH_COMMAND and the askpass scripts of src/source/credentials.ts with /bin/sh.
    const shell = await runInImage(['-c', 'dirname /a/b && cat /etc/passwd'], { entrypoint: '/bin/sh' });
    expect(shell.stdout).toMatch(/^\/a\n[^]*^capstan:x:65532:65532:/m);
  });

  it('fetches over ssh inside it, as uid 65532, the way src/source/git.ts calls ssh', async () => {
    const reason = sshUnavailableReason();
    if (reason) return void console.log(`skipped: ${reason}`);
    const root = await makeTempDir('image-ssh');
    const repo = await createTestRepo(root, 'app');
    const head = await repo.commit({ 'README.md': 'over ssh\n' });
    const server = await startSshServer();
    try {
      const keys = await makeTempDir('image-ssh-keys');
      // mkdtemp makes it 0700 for root: the container's user must be able to enter it.
      await chmod(keys, 0o755);
      await writeFile(join(keys, 'key'), server.clientKey, { mode: 0o600 });
      await writeFile(join(keys, 'known_hosts'), server.knownHosts);
      // ssh reads a key only if it is its user's and private.
      await chown(join(keys, 'key'), CAPSTAN_UID, CAPSTAN_UID);
      const command = sshCommand({ keyFile: '/keys/key', knownHostsFile: '/keys/known_hosts' });
      const listed = await podman([
        'run',
        '--rm',
        '--read-only',
        '--network',
        'host',
        '--volume',
        `${keys}:/keys:ro`,
        '--env',
        `GIT_SSH_COMMAND=${command}`,
        '--entrypoint',
        '/usr/bin/git',
        image.reference,
        'ls-remote',
        server.url(repo.bareDir),
      ]);
      expect(listed.stdout).toContain(`${head}\trefs/heads/main`);
    } finally {
      await server.close();
    }
  });

  it('runs the controller: it syncs a kustomize app from Git, logs JSON without the token, stops on SIGTERM', async () => {
    await installFromDeploy();
    const kube = await createKubeClient({ kubeconfig: inject('kubeconfig') });
    // Git over http, kustomize and server-side apply, all inside the image.
    const fixture = await gitFixture(
      kube,
      {
        'app/kustomization.yaml': 'resources: [cm.yaml]\ncommonLabels: { built-by: kustomize }\n',
        'app/cm.yaml': configMap('hello', { v: '1' }),
      },
      { prefix: 'image' },
    );
    const namespace = fixture.namespace;
    await grantConfigMaps(namespace, 'deployer');
    await createApp(kube, namespace, 'hello', { path: 'app', serviceAccountName: 'deployer' });
    const kubeconfig = await serviceAccountKubeconfig('capstan-system', 'capstan-controller');
    const token = /token: (\S+)/.exec(await readFile(kubeconfig, 'utf8'))?.[1] ?? '';
    expect(token.length).toBeGreaterThan(20);
    const port = await freePort();
    const name = `capstan-image-test-${randomBytes(4).toString('hex')}`;
    containers.push(name);
    await podman([
      'run',
      '--detach',
      '--name',
      name,
      '--read-only',
      '--network',
      'host',
      '--tmpfs',
      '/tmp:rw,exec,mode=1777',
      '--tmpfs',
      `${IMAGE_STATE_DIR}:rw,mode=1777`,
      '--volume',
      `${kubeconfig}:/etc/capstan/kubeconfig:ro`,
      image.reference,
      'controller',
      '--kubeconfig',
      '/etc/capstan/kubeconfig',
      '--namespace',
      namespace,
      '--lease-namespace',
      'capstan-system',
      '--lease-duration',
      '3s',
      '--http-address',
      `127.0.0.1:${port}`,
    ]);
    await eventually(
      'the controller in the container is ready',
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.ok,
    );

    await readyAt(kube, namespace, 'hello', await fixture.repo.head());
    const applied = await kubectlOk([
      'get',
      'configmap',
      'hello',
      '-n',
      namespace,
      '-o',
      'jsonpath={.metadata.labels.built-by}',
    ]);
    expect(applied).toBe('kustomize');
    await fixture.server.close();
    kube.close();

    const stopping = Date.now();
    await podman(['stop', '--time', '30', name], 60_000);
    console.log(`[image] podman stop took ${((Date.now() - stopping) / 1000).toFixed(1)} s`);
    const exitCode = (await podman(['inspect', '--format', '{{.State.ExitCode}}', name])).stdout.trim();
    // 0: the controller stopped on SIGTERM (tini passed it on); 137 would be podman's SIGKILL at 30 s.
    expect(exitCode).toBe('0');

    const logs = await podman(['logs', name]);
    const lines = (logs.stdout + logs.stderr).split('\n').filter((line) => line.trim() !== '');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(() => JSON.parse(line) as unknown, line).not.toThrow();
    expect(lines.some((line) => /"msg":"stopping"/.test(line))).toBe(true);
    expect(logs.stdout + logs.stderr).not.toContain(token);
  });
});

/** A ServiceAccount `name` in `namespace` that may manage ConfigMaps there (what apps apply as). */
async function grantConfigMaps(namespace: string, name: string): Promise<void> {
  await kubectlOk(['create', 'serviceaccount', name, '-n', namespace]);
  await kubectlOk([
    'create',
    'role',
    name,
    '-n',
    namespace,
    '--verb=get,list,watch,create,patch,update,delete',
    '--resource=configmaps',
  ]);
  await kubectlOk([
    'create',
    'rolebinding',
    name,
    '-n',
    namespace,
    `--role=${name}`,
    `--serviceaccount=${namespace}:${name}`,
  ]);
}

describe('the demo app image', () => {
  it('serves with httpd by default and really crashes when told to', async () => {
    const { reference } = await buildDemoAppImage();
    const port = await freePort();
    const name = `capstan-demo-app-test-${randomBytes(4).toString('hex')}`;
    containers.push(name);
    await podman([
      'run',
      '--detach',
      '--name',
      name,
      '--read-only',
      '--network',
      'host',
      reference,
      '-c',
      `exec httpd -f -p 127.0.0.1:${port} -h /www`,
    ]);
    const body = await eventually('the demo app serves', async () =>
      fetch(`http://127.0.0.1:${port}/`).then(
        (response) => response.text(),
        () => undefined,
      ),
    );
    expect(body).toBe('ok\n');
    const crashed = await podman(['run', '--rm', reference, '-c', 'exit 3']).catch(
      (error: unknown) => error as { code: number },
    );
    expect((crashed as { code?: number }).code).toBe(3);
    const { stdout } = await podman(['image', 'inspect', '--format', '{{.Size}}', reference]);
    expect(Number(stdout.trim())).toBeLessThan(5e6);
  });
});
