/**
 * Red team of `capstan bootstrap`'s input: a hostile or mistaken --repo, --path, --branch or
 * password is refused before anything is applied (no half-done install), and no token typed into
 * the URL ever shows in the error. A second bootstrap never silently moves the cluster to another
 * repository, path or branch.
 */
import { describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.js';
import type { KubeObject, ObjectRef } from '../core/objects.js';
import type { KubeClient } from '../kube/index.js';
import { bootstrap, nestedClusterProblem, type BootstrapOptions } from './bootstrap.js';
import { syncObjects, type BootstrapTarget } from './bootstrap-files.js';

const TOKEN = 'ghp_s3cretT0kenValue';

/** A cluster holding `objects` that fails the test's promise on any write: bootstrap must refuse first. */
function readOnlyKube(objects: readonly KubeObject[] = []): { kube: KubeClient; writes: string[] } {
  const writes: string[] = [];
  const refuse = (verb: string) => async () => {
    writes.push(verb);
    throw new Error(`bootstrap ${verb} before checking its input`);
  };
  const kube = {
    get: async (ref: ObjectRef) =>
      objects.find(
        (o) => o.kind === ref.kind && o.metadata.name === ref.name && o.metadata.namespace === ref.namespace,
      ),
    apply: refuse('applied'),
    create: refuse('created'),
    update: refuse('updated'),
    patch: refuse('patched'),
    delete: refuse('deleted'),
    list: refuse('listed'),
  } as unknown as KubeClient;
  return { kube, writes };
}

const valid: BootstrapOptions = {
  image: 'localhost/capstan:0.1.0',
  url: 'https://git.example.com/ops/fleet.git',
  branch: 'main',
  path: 'clusters/prod',
  credentials: { username: 'git', password: TOKEN },
};

async function refusal(options: Partial<BootstrapOptions>, objects: readonly KubeObject[] = []) {
  const { kube, writes } = readOnlyKube(objects);
  const error = await bootstrap(kube, { ...valid, ...options }, { waitMs: 0, syncWaitMs: 0 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(writes).toEqual([]);
  expect(error).toBeInstanceOf(UserError);
  const message = (error as Error).message;
  expect(message).not.toContain(TOKEN);
  return message;
}

describe('bootstrap refuses hostile input before applying anything', () => {
  it.each([
    ['a token in the URL, upper-case scheme', `HTTPS://git:${TOKEN}@git.example.com/ops/fleet.git`],
    ['a token in the URL', `https://git:${TOKEN}@git.example.com/ops/fleet.git`],
    ['a token as the user name', `https://${TOKEN}@git.example.com/ops/fleet.git`],
    ['a token in an ssh URL', `ssh://git:${TOKEN}@git.example.com/ops/fleet.git`],
    ['ext:: remote helper', 'ext::sh -c touch% /tmp/pwned'],
    ['option injection', '-uhttps://git.example.com/x'],
    ['file://', 'file:///etc'],
    ['a newline', 'https://git.example.com/ops/fleet.git\n--upload-pack=touch /tmp/pwned'],
    ['a backslash', 'https://git.example.com\\@evil.example/ops/fleet.git'],
    ['no repository path', 'https://git.example.com/'],
    [
      'a comma (the Secret would be sent to a second URL)',
      'https://git.example.com/a,https://evil.example/b',
    ],
  ])('--repo with %s', async (_what, url) => {
    await refusal({ url });
  });

  it.each([
    ['option injection', '-f'],
    ['a range', 'main..evil'],
    ['a full ref', 'refs/heads/main'],
    ['a newline', 'main\nevil'],
    ['empty', ''],
  ])('--branch with %s', async (_what, branch) => {
    expect(await refusal({ branch })).toContain('--branch');
  });

  it.each([
    ['escaping the repository', '../other-repo'],
    ['escaping through a folder', 'clusters/../..'],
    ['the root, spelled oddly', 'clusters/..'],
    ['absolute', '/etc'],
    ['the root', '.'],
    ['a newline', 'clusters/prod\nx'],
  ])('--path %s', async (_what, path) => {
    await refusal({ path });
  });

  it('a password with a line break (it would end the credential helper line)', async () => {
    await refusal({ credentials: { username: 'git', password: `${TOKEN}\nprotocol=https` } });
  });

  it('a user name with a line break', async () => {
    await refusal({ credentials: { username: 'git\nhost=evil.example', password: TOKEN } });
  });
});

describe('a second bootstrap never moves the cluster to another source silently', () => {
  const target: BootstrapTarget = {
    url: valid.url,
    branch: 'main',
    path: 'clusters/prod',
    namespace: 'capstan-system',
    interval: '1m',
    allowInsecureHttp: false,
  };
  const live = syncObjects(target);

  it.each([
    ['another repository', { url: 'https://evil.example/ops/fleet.git' }, 'repository'],
    ['another path', { path: 'clusters/staging' }, 'path'],
    ['another branch', { branch: 'release' }, 'branch'],
  ])('%s is refused, naming what is live', async (_what, options, named) => {
    expect(await refusal(options, live)).toContain(named);
  });
});

describe("a cluster's folder never nests in another's", () => {
  const bootstrapped = (dir: string, namespace = 'capstan-system') => [
    `${dir}/${namespace}/components.yaml`,
    `${dir}/${namespace}/sync.yaml`,
  ];
  const tree = [...bootstrapped('clusters/prod'), 'README.md', 'apps/web/sync.yaml'];

  it.each([
    ['a parent of another cluster (it would apply that cluster’s Capstan)', 'clusters', 'holds the folder'],
    ['inside another cluster (that cluster would apply this one’s)', 'clusters/prod/eu', 'is inside'],
  ])('refuses %s', (_what, path, says) => {
    expect(nestedClusterProblem({ path, namespace: 'capstan-system' }, tree)).toContain(says);
  });

  it.each([
    ['the same folder (a re-run, or a cluster rebuilt from Git)', 'clusters/prod'],
    ['a sibling', 'clusters/staging'],
    ['a prefix that is not a parent folder', 'clusters/pro'],
    ['a folder where a sync.yaml stands alone (not a bootstrap)', 'apps'],
  ])('allows %s', (_what, path) => {
    expect(nestedClusterProblem({ path, namespace: 'capstan-system' }, tree)).toBeUndefined();
  });

  it('reads a long listing in linear time (no backtracking on hostile paths)', () => {
    const hostile = Array.from({ length: 2000 }, (_, i) => `${'a/'.repeat(2000)}${i}/sync.yaml`);
    expect(
      nestedClusterProblem({ path: 'clusters/prod', namespace: 'capstan-system' }, hostile),
    ).toBeUndefined();
  });

  it('refuses a second namespace in the same folder (each Application would apply both Capstans)', () => {
    expect(nestedClusterProblem({ path: 'clusters/prod', namespace: 'capstan-b' }, tree)).toContain(
      "'capstan-system'",
    );
  });
});
