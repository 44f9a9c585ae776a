/**
 * Recording a rollback on a real Gitea (the run's shared forge, test/support/forge.ts): a revert
 * pushed to the branch, a pull request opened through Gitea's API (and found again, not doubled),
 * a protected branch and a read-only collaborator refused with clear messages.
 */
import { rm } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ForgeClient, ForgeRepo, ForgeUser } from '../../src/dev/forge.js';
import { revertCommits, type RevertRequest } from '../../src/source/index.js';
import { forgeTargetFor } from '../../src/forge/index.js';
import { sharedForge } from '../support/forge.js';
import { createTestRepo, git, makeTempDir } from '../support/git-servers.js';

const GOOD_YAML = 'kind: Deployment\nimage: app:v1\nreplicas: 2\n';
const BAD_YAML = 'kind: Deployment\nimage: app:v2-broken\nreplicas: 2\n';

let forge: ForgeClient;
let owner: ForgeUser;
let token: string;
let count = 0;

beforeAll(async () => {
  forge = await sharedForge();
  owner = await forge.createUser();
  token = await forge.token(owner, ['write:repository']);
});

interface Fixture {
  repo: ForgeRepo;
  good: string;
  bad: string;
}

/** A Gitea repository holding `good` (healthy) then `bad`, pushed from a local clone. */
async function fixture(): Promise<Fixture> {
  const repo = await forge.createRepo(owner.username, `apps-${++count}-${Date.now().toString(36)}`);
  const root = await makeTempDir('writeback-gitea');
  try {
    const local = await createTestRepo(root, 'local');
    const good = await local.commit(
      { 'apps/a/deploy.yaml': GOOD_YAML, 'apps/b/deploy.yaml': 'b: 1\n' },
      'good',
    );
    const bad = await local.commit({ 'apps/a/deploy.yaml': BAD_YAML }, 'roll out v2');
    await git(local.bareDir, 'push', '--quiet', forge.cloneUrl(repo.owner, repo.name, owner), 'main:main');
    return { repo, good, bad };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

function request(f: Fixture, overrides: Partial<RevertRequest> = {}): RevertRequest {
  return {
    repository: {
      url: f.repo.cloneUrl,
      // As a Repository's Secret would hold it: the user name and a token as the password.
      credentials: { kind: 'basic', username: owner.username, password: token, allowInsecureHttp: true },
    },
    branch: 'main',
    good: f.good,
    bad: f.bad,
    appPath: 'apps/a',
    app: { namespace: 'team-a', name: 'web' },
    evidence: 'Deployment web: ProgressDeadlineExceeded',
    mode: 'commit',
    ...overrides,
  };
}

async function fileAt(f: Fixture, ref: string, path: string): Promise<string> {
  const file = await forge.api<{ content: string }>(
    'GET',
    `/repos/${f.repo.fullName}/contents/${path}?ref=${encodeURIComponent(ref)}`,
  );
  return Buffer.from(file.content, 'base64').toString('utf8');
}

describe('revertCommits on Gitea', () => {
  it('pushes the revert to the branch', async () => {
    const f = await fixture();
    const result = await revertCommits(request(f));
    expect(result.outcome).toBe('pushed');
    if (result.outcome !== 'pushed') throw new Error(result.message);
    const branch = await forge.api<{ commit: { id: string; message: string } }>(
      'GET',
      `/repos/${f.repo.fullName}/branches/main`,
    );
    expect(branch.commit.id).toBe(result.sha);
    expect(branch.commit.message).toContain(`Capstan-Rollback: ${f.bad}`);
    expect(await fileAt(f, 'main', 'apps/a/deploy.yaml')).toBe(GOOD_YAML);
  });

  it('opens a pull request through the Gitea API, and finds it again instead of opening another', async () => {
    const f = await fixture();
    const target = forgeTargetFor(f.repo.cloneUrl, {
      kind: 'gitea',
      auth: { kind: 'token', token },
      allowInsecureHttp: true,
    });
    expect(target.repo).toBe(f.repo.fullName);
    const first = await revertCommits(request(f, { mode: 'pullRequest', forge: target }));
    expect(first).toMatchObject({ outcome: 'pullRequest', reused: false });
    if (first.outcome !== 'pullRequest') throw new Error(first.message);
    const pull = await forge.api<{
      state: string;
      title: string;
      body: string;
      head: { ref: string };
      base: { ref: string };
      html_url: string;
    }>('GET', `/repos/${f.repo.fullName}/pulls/${first.number}`);
    expect(pull).toMatchObject({
      state: 'open',
      title: `Revert team-a/web: roll back ${f.bad.slice(0, 12)} to ${f.good.slice(0, 12)}`,
      head: { ref: `capstan/rollback-team-a-web-${f.bad.slice(0, 12)}` },
      base: { ref: 'main' },
      html_url: first.url,
    });
    expect(pull.body).toContain(`Capstan-Rollback: ${f.bad}`);
    expect(await fileAt(f, first.branch, 'apps/a/deploy.yaml')).toBe(GOOD_YAML);
    expect(await fileAt(f, 'main', 'apps/a/deploy.yaml')).toBe(BAD_YAML);

    const again = await revertCommits(request(f, { mode: 'pullRequest', forge: target }));
    expect(again).toMatchObject({
      outcome: 'pullRequest',
      number: first.number,
      sha: first.sha,
      reused: true,
    });
    const open = await forge.api<unknown[]>('GET', `/repos/${f.repo.fullName}/pulls?state=open`);
    expect(open).toHaveLength(1);
  });

  it('is refused on a protected branch, with what Gitea said', async () => {
    const f = await fixture();
    await forge.api('POST', `/repos/${f.repo.fullName}/branch_protections`, {
      body: { rule_name: 'main', branch_name: 'main', enable_push: false },
      expect: [201],
    });
    const result = await revertCommits(request(f));
    expect(result).toMatchObject({ outcome: 'refused', reason: 'protected' });
    expect(result.message).toMatch(/refused the push to branch 'main'/);
    expect(result.message).not.toContain(token);
  });

  it('is refused for a collaborator who may only read', async () => {
    const f = await fixture();
    const reader = await forge.createUser();
    await forge.api('PUT', `/repos/${f.repo.fullName}/collaborators/${reader.username}`, {
      body: { permission: 'read' },
      expect: [204],
    });
    const readToken = await forge.token(reader, ['write:repository']);
    const result = await revertCommits(
      request(f, {
        repository: {
          url: f.repo.cloneUrl,
          credentials: {
            kind: 'basic',
            username: reader.username,
            password: readToken,
            allowInsecureHttp: true,
          },
        },
      }),
    );
    expect(result).toMatchObject({ outcome: 'refused', reason: 'permission' });
    expect(result.message).not.toContain(readToken);
  });
});
