import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { API_VERSION, type Repository } from '../api/v1alpha1.js';
import { forgeTargetOf as targetWithPurpose, type ForgeSecret } from './repository-forge.js';

const TOKEN = 'tok-91c3e2a7b5d4f6081a2b';

const targetOf = (repository: Repository, secret: ForgeSecret | undefined) =>
  targetWithPurpose(repository, secret, { feature: 'gitRevert: pullRequest' });

function repository(spec: Partial<Repository['spec']> = {}): Repository {
  return {
    apiVersion: API_VERSION,
    kind: 'Repository',
    metadata: { name: 'apps', namespace: 'team-a' },
    spec: {
      url: 'https://git.example.com/team-a/apps.git',
      secretRef: { name: 'git' },
      forge: { kind: 'gitea' },
      ...spec,
    },
  };
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

function secret(
  annotations: Record<string, string> = { 'capstan.dev/git-urls': 'https://git.example.com/team-a/' },
  data: Record<string, string> = { username: 'bot', password: 'pw-unused', token: TOKEN },
): ForgeSecret {
  return {
    metadata: { annotations },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  };
}

/** A forge API on loopback answering Gitea's two calls; records the Authorization headers it got. */
const closers: (() => void)[] = [];
afterEach(() => closers.splice(0).forEach((close) => close()));
async function fakeGitea() {
  const auth: string[] = [];
  const server = createServer((request, response) => {
    auth.push(request.headers.authorization ?? '');
    request.resume();
    request.on('end', () => {
      const json = (status: number, body: unknown) =>
        response.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
      if (request.method === 'GET') return json(200, []);
      json(201, { number: 3, html_url: 'http://forge.example/team-a/apps/pulls/3' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return { auth, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const pr = {
  head: 'capstan/rollback-team-a-web-0123456789ab',
  base: 'main',
  title: 'Revert',
  body: '',
};

describe('forgeTargetOf', () => {
  it('names the repository on its host, from spec.forge and the Secret', () => {
    const target = targetOf(repository(), secret());
    expect(target.repo).toBe('team-a/apps');
    expect(target.forge.kind).toBe('gitea');
  });

  it('says what is missing: spec.forge, a Secret, a token', () => {
    expect(() => targetOf(repository({ forge: undefined }), secret())).toThrow(
      /needs spec.forge on Repository team-a\/apps/,
    );
    expect(() => targetOf(repository({ secretRef: undefined }), undefined)).toThrow(/has no spec.secretRef/);
    expect(() => targetOf(repository(), undefined)).toThrow(/Secret team-a\/git .* does not exist/);
    expect(() =>
      targetOf(repository(), secret(undefined, { username: 'bot', sshPrivateKey: 'key' })),
    ).toThrow(/has no token \(or password\)/);
  });

  it("refuses before reading the token when the Secret does not serve the Repository's URL", () => {
    expect(() =>
      targetOf(repository(), secret({ 'capstan.dev/git-urls': 'https://git.example.com/team-b/' })),
    ).toThrow(/may not be used for .*git-urls/);
  });

  it('refuses an apiUrl on another host unless the Secret covers it, never quoting the token', () => {
    let message = '';
    try {
      targetOf(repository({ forge: { kind: 'gitea', apiUrl: 'https://evil.example/api/v1' } }), secret());
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/spec.forge.apiUrl of Repository team-a\/apps is not on the host of spec.url/);
    expect(message).toMatch(/capstan.dev\/git-urls/);
    expect(message).not.toContain(TOKEN);

    const covered = secret({
      'capstan.dev/git-urls': 'https://git.example.com/team-a/, https://api.example.com/api/',
    });
    expect(
      targetOf(repository({ forge: { kind: 'github', apiUrl: 'https://api.example.com/api/v3' } }), covered)
        .repo,
    ).toBe('team-a/apps');
    // Covered host, other path: not covered.
    expect(() =>
      targetOf(repository({ forge: { kind: 'github', apiUrl: 'https://api.example.com/v3' } }), covered),
    ).toThrow(/no prefix/);
  });

  it('sends the token over plain http:// only when the Secret allows it', async () => {
    const api = await fakeGitea();
    const url = `${api.origin}/team-a/apps.git`;
    const plain = { 'capstan.dev/git-urls': `${api.origin}/team-a/` };
    expect(() => targetOf(repository({ url }), secret(plain))).toThrow(/plain http/);
    const target = targetOf(
      repository({ url }),
      secret({ ...plain, 'capstan.dev/allow-insecure-http': 'true' }),
    );
    await expect(target.forge.openPullRequest({ repo: target.repo, ...pr })).resolves.toMatchObject({
      number: 3,
    });
    expect(api.auth.every((header) => header === `token ${TOKEN}`)).toBe(true);
  });

  it('uses the password (basic auth) when the Secret has no token, and a covered apiUrl elsewhere', async () => {
    const api = await fakeGitea();
    const target = targetOf(
      repository({ forge: { kind: 'gitea', apiUrl: `${api.origin}/api/v1` } }),
      secret(
        {
          'capstan.dev/git-urls': `https://git.example.com/team-a/\n${api.origin}/api/`,
          'capstan.dev/allow-insecure-http': 'true',
        },
        { username: 'bot', password: 'app-password\n' },
      ),
    );
    await target.forge.openPullRequest({ repo: target.repo, ...pr });
    expect(api.auth.length).toBeGreaterThan(0);
    expect(api.auth.every((header) => header === `Basic ${b64('bot:app-password')}`)).toBe(true);
  });
});
