/**
 * The CLI's credentials (CAPSTAN_GIT_*) are its user's own: they go where the user points them, but
 * never over plain http:// unless the user says so, and never in output.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capstan } from '../support/cli.js';
import { freshNamespace } from '../support/cluster.js';
import { configMap } from '../support/engine.js';
import {
  createTestRepo,
  makeTempDir,
  startCredentialTrap,
  startGitHttpServer,
  type GitHttpServer,
  type HttpStub,
} from '../support/git-servers.js';

const PASSWORD = 'cli-user-password-d41c8e';

let trap: HttpStub;
let guarded: GitHttpServer;
beforeAll(async () => {
  trap = await startCredentialTrap();
  const root = await makeTempDir('git-root');
  const repo = await createTestRepo(root, 'apps');
  await repo.commit({ 'app/cm.yaml': configMap('settings', { color: 'blue' }) });
  guarded = await startGitHttpServer({ root, auth: { username: 'deployer', password: PASSWORD } });
});
afterAll(async () => {
  await trap?.close();
  await guarded?.close();
});

const env = { CAPSTAN_GIT_USERNAME: 'deployer', CAPSTAN_GIT_PASSWORD: PASSWORD };

describe('capstan diff --repo with CAPSTAN_GIT_PASSWORD', () => {
  it('refuses plain http:// without CAPSTAN_GIT_ALLOW_HTTP=1, sending nothing', async () => {
    const namespace = await freshNamespace('cli-creds');
    const result = await capstan(
      ['diff', '--repo', trap.url('apps'), '--ref', 'main', '--path', 'app', '-n', namespace],
      env,
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `capstan: refusing to send CAPSTAN_GIT_PASSWORD (or CAPSTAN_GIT_TOKEN) over plain http:// to http://127.0.0.1:${trap.port}/apps.git, where anyone on the way can read it; use https://, or set CAPSTAN_GIT_ALLOW_HTTP=1 to allow it`,
    );
    expect(trap.requests).toEqual([]);
    expect(result.stdout + result.stderr).not.toContain(PASSWORD);
  });

  it('uses them over plain http:// when the user allows it, with no annotation to ask for', async () => {
    const namespace = await freshNamespace('cli-creds');
    const result = await capstan(
      ['diff', '--repo', guarded.url('apps'), '--ref', 'main', '--path', 'app', '-n', namespace],
      { ...env, CAPSTAN_GIT_ALLOW_HTTP: '1' },
    );
    expect(result.stderr).not.toMatch(/capstan: /);
    expect(result.code).toBe(3);
    expect(result.stdout).toMatch(/out of sync: 1 created \(dry run\)/);
    expect(result.stdout + result.stderr).not.toContain(PASSWORD);
  });
});
