import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../core/errors.js';
import * as bitbucket from './bitbucket.js';
import * as generic from './generic.js';
import * as gitea from './gitea.js';
import * as github from './github.js';
import * as gitlab from './gitlab.js';
import { decodeBody } from './payload.js';
import { hmacSha256Matches, tokenMatches } from './signature.js';
import type { ParsedWebhook } from './types.js';

const SECRET = 'It5-a-s3cret!';
const hex = (body: Buffer | string, secret = SECRET): string =>
  createHmac('sha256', secret).update(body).digest('hex');

describe('signature checks', () => {
  const body = Buffer.from('{"a":1}');

  it('accepts the HMAC of exactly these bytes under this secret, in either hex case', () => {
    expect(hmacSha256Matches(body, SECRET, hex(body))).toBe(true);
    expect(hmacSha256Matches(body, SECRET, hex(body).toUpperCase())).toBe(true);
  });

  it('refuses another body, another secret, malformed or truncated digests and an empty secret', () => {
    expect(hmacSha256Matches(Buffer.from('{"a":2}'), SECRET, hex(body))).toBe(false);
    expect(hmacSha256Matches(body, SECRET, hex(body, 'other'))).toBe(false);
    expect(hmacSha256Matches(body, SECRET, hex(body).slice(0, 63))).toBe(false);
    expect(hmacSha256Matches(body, SECRET, `${hex(body)}00`)).toBe(false);
    expect(hmacSha256Matches(body, SECRET, 'zz'.repeat(32))).toBe(false);
    expect(hmacSha256Matches(body, SECRET, undefined)).toBe(false);
    expect(hmacSha256Matches(body, '', hex(body, ''))).toBe(false);
  });

  it('compares plain tokens whatever their lengths', () => {
    expect(tokenMatches(SECRET, SECRET)).toBe(true);
    expect(tokenMatches(SECRET.slice(0, -1), SECRET)).toBe(false);
    expect(tokenMatches(`${SECRET}x`, SECRET)).toBe(false);
    expect(tokenMatches('', SECRET)).toBe(false);
    expect(tokenMatches(undefined, SECRET)).toBe(false);
    expect(tokenMatches('', '')).toBe(false);
  });
});

describe('decodeBody', () => {
  it('reads JSON, and the payload field of a form-encoded body', () => {
    expect(decodeBody(Buffer.from('{"x":1}'), 'application/json')).toEqual({ x: 1 });
    const form = `payload=${encodeURIComponent('{"x":"a&b=c"}')}`;
    expect(decodeBody(Buffer.from(form), 'application/x-www-form-urlencoded')).toEqual({ x: 'a&b=c' });
  });

  it('refuses malformed JSON and forms without a payload, without quoting the body', () => {
    expect(() => decodeBody(Buffer.from('{"secret-ish'), 'application/json')).toThrow(UserError);
    expect(() => decodeBody(Buffer.from('{"secret-ish'), 'application/json')).not.toThrow(/secret-ish/);
    expect(() => decodeBody(Buffer.from('other=1'), 'application/x-www-form-urlencoded')).toThrow(
      /no "payload" field/,
    );
  });
});

const githubRepository = {
  clone_url: 'https://github.com/acme/deploy.git',
  ssh_url: 'git@github.com:acme/deploy.git',
  git_url: 'git://github.com/acme/deploy.git',
  html_url: 'https://github.com/acme/deploy',
  url: 'https://github.com/acme/deploy',
};

describe('github', () => {
  it('verifies X-Hub-Signature-256 with its sha256= prefix', () => {
    const body = Buffer.from('{}');
    expect(github.verify({ 'x-hub-signature-256': `sha256=${hex(body)}` }, body, SECRET)).toBe(true);
    expect(github.verify({ 'x-hub-signature-256': hex(body) }, body, SECRET)).toBe(false);
    expect(github.verify({ 'x-hub-signature': `sha256=${hex(body)}` }, body, SECRET)).toBe(false);
    expect(github.verify({ 'x-hub-signature-256': [`sha256=${hex(body)}`] }, body, SECRET)).toBe(false);
  });

  it('reads every URL and the ref of a push', () => {
    const parsed = github.parse(
      { ref: 'refs/heads/main', repository: githubRepository },
      { 'x-github-event': 'push' },
    );
    expect(parsed).toEqual({
      kind: 'push',
      event: 'push',
      ref: 'refs/heads/main',
      urls: [
        'https://github.com/acme/deploy.git',
        'git@github.com:acme/deploy.git',
        'git://github.com/acme/deploy.git',
        'https://github.com/acme/deploy',
      ],
    });
  });

  it('answers ping, ignores other events and refuses a push without a repository', () => {
    expect(github.parse({ zen: 'Keep it simple.' }, { 'x-github-event': 'ping' }).kind).toBe('ping');
    expect(github.parse({ repository: githubRepository }, { 'x-github-event': 'issues' }).kind).toBe(
      'ignored',
    );
    expect(() => github.parse({ ref: 'refs/heads/main' }, { 'x-github-event': 'push' })).toThrow(UserError);
    expect(() => github.parse('just a string', { 'x-github-event': 'push' })).toThrow(UserError);
    expect(() =>
      github.parse({ repository: { clone_url: 42, html_url: null } }, { 'x-github-event': 'push' }),
    ).toThrow(UserError);
  });
});

describe('gitlab', () => {
  it('compares X-Gitlab-Token with the secret', () => {
    expect(gitlab.verify({ 'x-gitlab-token': SECRET }, Buffer.alloc(0), SECRET)).toBe(true);
    expect(gitlab.verify({ 'x-gitlab-token': 'nope' }, Buffer.alloc(0), SECRET)).toBe(false);
    expect(gitlab.verify({}, Buffer.alloc(0), SECRET)).toBe(false);
  });

  it('reads push and tag push events, project and legacy repository URLs', () => {
    const body = {
      object_kind: 'tag_push',
      ref: 'refs/tags/v1.2.0',
      project: {
        git_http_url: 'https://gitlab.example.com/group/sub/app.git',
        git_ssh_url: 'ssh://git@gitlab.example.com:2222/group/sub/app.git',
        web_url: 'https://gitlab.example.com/group/sub/app',
      },
      repository: { homepage: 'https://gitlab.example.com/group/sub/app' },
    };
    expect(gitlab.parse(body, { 'x-gitlab-event': 'Tag Push Hook' })).toEqual({
      kind: 'push',
      event: 'Tag Push Hook',
      ref: 'refs/tags/v1.2.0',
      urls: [
        'https://gitlab.example.com/group/sub/app.git',
        'ssh://git@gitlab.example.com:2222/group/sub/app.git',
        'https://gitlab.example.com/group/sub/app',
      ],
    });
    expect(gitlab.parse({ ...body, object_kind: 'push' }, { 'x-gitlab-event': 'System Hook' }).kind).toBe(
      'push',
    );
    expect(
      gitlab.parse({ object_kind: 'merge_request' }, { 'x-gitlab-event': 'Merge Request Hook' }),
    ).toEqual({ kind: 'ignored', event: 'Merge Request Hook', urls: [] });
  });
});

describe('gitea and forgejo', () => {
  const body = Buffer.from('{"ref":"refs/heads/main"}');

  it('verifies the bare hex signature under either header name', () => {
    expect(gitea.verify({ 'x-gitea-signature': hex(body) }, body, SECRET)).toBe(true);
    expect(gitea.verify({ 'x-forgejo-signature': hex(body) }, body, SECRET)).toBe(true);
    expect(gitea.verify({ 'x-gitea-signature': `sha256=${hex(body)}` }, body, SECRET)).toBe(false);
    expect(gitea.verify({ 'x-gitea-signature': hex(body, 'wrong') }, body, SECRET)).toBe(false);
  });

  it('reads a push', () => {
    const parsed = gitea.parse(
      {
        ref: 'refs/heads/main',
        repository: {
          clone_url: 'https://git.example.com/ops/site.git',
          ssh_url: 'git@git.example.com:ops/site.git',
          html_url: 'https://git.example.com/ops/site',
        },
      },
      { 'x-forgejo-event': 'push', 'x-gitea-event': 'push' },
    );
    expect(parsed.kind).toBe('push');
    expect(parsed.urls).toHaveLength(3);
    expect(gitea.parse({}, { 'x-gitea-event': 'issues' }).kind).toBe('ignored');
  });
});

const refOf = (parsed: ParsedWebhook): string | undefined =>
  parsed.kind === 'pullRequest' || parsed.kind === 'image' ? undefined : parsed.ref;

describe('bitbucket cloud', () => {
  const push = (changes: unknown[]): unknown => ({
    repository: {
      full_name: 'acme/Deploy-Repo',
      links: { html: { href: 'https://bitbucket.org/acme/Deploy-Repo' } },
    },
    push: { changes },
  });

  it('verifies X-Hub-Signature with its sha256= prefix', () => {
    const body = Buffer.from('{}');
    expect(bitbucket.verify({ 'x-hub-signature': `sha256=${hex(body)}` }, body, SECRET)).toBe(true);
    expect(bitbucket.verify({ 'x-hub-signature': `sha1=${hex(body)}` }, body, SECRET)).toBe(false);
  });

  it('derives the clone URLs from full_name and reports a single ref', () => {
    const parsed = bitbucket.parse(push([{ new: { type: 'branch', name: 'main' } }]), {
      'x-event-key': 'repo:push',
    });
    expect(parsed).toEqual({
      kind: 'push',
      event: 'repo:push',
      ref: 'refs/heads/main',
      urls: [
        'https://bitbucket.org/acme/Deploy-Repo',
        'https://bitbucket.org/acme/Deploy-Repo.git',
        'git@bitbucket.org:acme/Deploy-Repo.git',
      ],
    });
  });

  it('reports no ref when a push moved several, and the old side of a deletion', () => {
    const headers = { 'x-event-key': 'repo:push' };
    const several = push([{ new: { type: 'branch', name: 'main' } }, { new: { type: 'tag', name: 'v1' } }]);
    expect(refOf(bitbucket.parse(several, headers))).toBeUndefined();
    const deletion = push([{ new: null, old: { type: 'tag', name: 'v0' } }]);
    expect(refOf(bitbucket.parse(deletion, headers))).toBe('refs/tags/v0');
  });

  it('does not build URLs out of an odd full_name, and ignores other events', () => {
    const odd = { repository: { full_name: 'acme/x y@evil:z' } };
    expect(() => bitbucket.parse(odd, { 'x-event-key': 'repo:push' })).toThrow(UserError);
    expect(bitbucket.parse({}, { 'x-event-key': 'pullrequest:created' }).kind).toBe('ignored');
  });
});

describe('generic', () => {
  it('verifies X-Capstan-Signature and reads repository and ref', () => {
    const body = Buffer.from('{}');
    expect(generic.verify({ 'x-capstan-signature': `sha256=${hex(body)}` }, body, SECRET)).toBe(true);
    expect(generic.verify({ 'x-capstan-signature': `sha256=${hex('x')}` }, body, SECRET)).toBe(false);
    expect(generic.parse({ repository: 'https://example.com/r.git', ref: 'refs/heads/x' }, {})).toEqual({
      kind: 'push',
      event: 'push',
      urls: ['https://example.com/r.git'],
      ref: 'refs/heads/x',
    });
  });

  it('refuses a body of another shape', () => {
    expect(() => generic.parse({ repo: 'x' }, {})).toThrow(UserError);
    expect(() => generic.parse({ repository: 'https://e.com/r', ref: 7 }, {})).toThrow(/"ref"/);
    expect(() => generic.parse([], {})).toThrow(UserError);
  });
});
