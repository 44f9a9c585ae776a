import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.js';
import * as gitea from './commit-status/gitea.js';
import * as github from './commit-status/github.js';
import * as gitlab from './commit-status/gitlab.js';
import { commitState, description, MAX_DESCRIPTION_CHARS } from './commit-status/common.js';
import * as slack from './slack.js';
import type { NotificationEvent, NotificationSecret, TargetInput, TargetRequest } from './types.js';
import * as webhook from './webhook.js';

const SHA = '0123456789abcdef0123456789abcdef01234567';
const OLD_SHA = 'fedcba9876543210fedcba9876543210fedcba98';
const NOW = new Date('2024-05-01T12:00:00Z');
const TOKEN = 'ghp_S3cretTokenValue1234';
const HMAC_KEY = 'hm4c-k3y-value';
const SLACK_URL = 'https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX';

const event = (overrides: Partial<NotificationEvent> = {}): NotificationEvent => ({
  type: 'SyncSucceeded',
  application: { namespace: 'team-a', name: 'web' },
  revision: SHA,
  ref: 'main',
  message: 'applied 3 objects',
  health: 'Current',
  time: NOW,
  repositoryUrl: 'https://github.com/acme/deploy.git',
  ...overrides,
});

const secretOf = (
  data: Record<string, string>,
  annotations: Record<string, string> = {},
): NotificationSecret => ({
  namespace: 'team-a',
  name: 'notify',
  annotations,
  data,
});

const input = (overrides: Partial<TargetInput> = {}): TargetInput => ({
  event: event(),
  target: { type: 'webhook' },
  deliveryId: 'delivery-1',
  now: NOW,
  ...overrides,
});

function built(result: TargetRequest | { skip: string }): TargetRequest {
  if ('skip' in result) throw new Error(`skipped: ${result.skip}`);
  return result;
}

describe('webhook', () => {
  it('signs the exact body with the Secret hmacKey and carries id and timestamp in it', () => {
    const { request, urlSource, display } = built(
      webhook.build(
        input({
          target: { type: 'webhook', url: 'https://hooks.example.com/capstan' },
          secret: secretOf({ hmacKey: `${HMAC_KEY}\n` }),
        }),
      ),
    );
    expect(request.method).toBe('POST');
    expect(request.url).toBe('https://hooks.example.com/capstan');
    expect(urlSource).toBe('spec');
    expect(display).toBe("'https://hooks.example.com/capstan'");
    const expected = createHmac('sha256', HMAC_KEY).update(request.body).digest('hex');
    expect(request.headers['X-Capstan-Signature']).toBe(`sha256=${expected}`);
    expect(request.headers['X-Capstan-Delivery']).toBe('delivery-1');
    expect(request.headers['X-Capstan-Timestamp']).toBe(String(NOW.getTime() / 1000));
    expect(request.headers['X-Capstan-Event']).toBe('SyncSucceeded');
    expect(JSON.parse(request.body)).toEqual({
      id: 'delivery-1',
      timestamp: NOW.getTime() / 1000,
      type: 'SyncSucceeded',
      application: { namespace: 'team-a', name: 'web' },
      revision: SHA,
      ref: 'main',
      health: 'Current',
      summary: 'team-a/web synced at 0123456789ab',
      message: 'applied 3 objects',
      time: NOW.toISOString(),
      repository: 'https://github.com/acme/deploy.git',
    });
  });

  it('prefers the Secret url and never names it', () => {
    const result = built(
      webhook.build(
        input({
          target: { type: 'webhook', url: 'https://ignored.example.com/' },
          secret: secretOf({ url: 'https://private.example.com/hook?key=abc' }),
        }),
      ),
    );
    expect(result.request.url).toBe('https://private.example.com/hook?key=abc');
    expect(result.urlSource).toBe('secret');
    expect(result.display).toBe('the url of the Secret team-a/notify');
    expect(result.request.headers['X-Capstan-Signature']).toBeUndefined();
  });

  it('carries rollbacks, redacts credentials in the repository URL and messages', () => {
    const { request } = built(
      webhook.build(
        input({
          target: { type: 'webhook', url: 'https://h.example.com/' },
          event: event({
            type: 'RolledBack',
            previousRevision: OLD_SHA,
            repositoryUrl: 'https://user:pa55word@git.example.com/a/b.git',
            message: 'fetch https://x:tok3nvalue@git.example.com failed; password=hunter22',
          }),
        }),
      ),
    );
    const payload = JSON.parse(request.body) as webhook.WebhookPayload;
    expect(payload.previousRevision).toBe(OLD_SHA);
    expect(payload.summary).toBe('team-a/web rolled back from fedcba987654 to 0123456789ab');
    expect(request.body).not.toMatch(/pa55word|tok3nvalue|hunter22/);
  });

  it('refuses a webhook with no URL anywhere', () => {
    expect(() => webhook.build(input({ target: { type: 'webhook' } }))).toThrow(UserError);
  });

  it('verifyDelivery accepts what build sends and refuses tampering, other keys and stale timestamps', () => {
    const { request } = built(
      webhook.build(
        input({
          target: { type: 'webhook', url: 'https://h.example.com/' },
          secret: secretOf({ hmacKey: HMAC_KEY }),
        }),
      ),
    );
    const headers = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v]));
    const body = Buffer.from(request.body);
    expect(webhook.verifyDelivery(body, headers, HMAC_KEY, { now: NOW })).toMatchObject({
      ok: true,
      payload: { id: 'delivery-1' },
    });
    expect(webhook.verifyDelivery(body, headers, 'other-key', { now: NOW }).ok).toBe(false);
    const tampered = Buffer.from(request.body.replace('team-a', 'team-b'));
    expect(webhook.verifyDelivery(tampered, headers, HMAC_KEY, { now: NOW }).ok).toBe(false);
    const later = new Date(NOW.getTime() + 301_000);
    expect(webhook.verifyDelivery(body, headers, HMAC_KEY, { now: later })).toEqual({
      ok: false,
      reason: 'timestamp outside the tolerance',
    });
  });
});

describe('slack', () => {
  it('sends text and one attachment, escaping what could ping or disguise a link', () => {
    const result = built(
      slack.build(
        input({
          target: { type: 'slack' },
          secret: secretOf({ url: SLACK_URL }),
          event: event({
            type: 'SyncFailed',
            message: 'boom <!channel> & <https://evil|click>',
            health: 'Failed',
          }),
        }),
      ),
    );
    expect(result.request.url).toBe(SLACK_URL);
    expect(result.request.headers['Content-Type']).toBe('application/json');
    expect(result.display).toBe('the url of the Secret team-a/notify');
    const payload = JSON.parse(result.request.body) as slack.SlackPayload;
    expect(payload.text).toBe('team-a/web sync failed at 0123456789ab');
    expect(payload.attachments).toHaveLength(1);
    const [attachment] = payload.attachments;
    expect(attachment).toMatchObject({
      color: 'danger',
      title: 'SyncFailed',
      text: 'boom &lt;!channel&gt; &amp; &lt;https://evil|click&gt;',
      footer: 'capstan',
      ts: NOW.getTime() / 1000,
    });
    expect(attachment?.fields).toEqual([
      { title: 'Revision', value: '`0123456789ab`', short: true },
      { title: 'Ref', value: 'main', short: true },
      { title: 'Health', value: 'Failed', short: true },
      { title: 'Repository', value: 'https://github.com/acme/deploy.git', short: false },
    ]);
  });

  it('names only the origin of a Slack URL written in the spec', () => {
    const result = built(slack.build(input({ target: { type: 'slack', url: SLACK_URL } })));
    expect(result.display).toBe("'https://hooks.slack.com/…'");
    expect(result.display).not.toContain('XXXX');
  });
});

describe('commit statuses', () => {
  const tokenSecret = secretOf({ token: TOKEN });

  it('github: POST /repos/{owner}/{repo}/statuses/{sha} on api.github.com with a Bearer token', () => {
    const { request, urlSource } = built(
      github.build(input({ target: { type: 'github' }, secret: tokenSecret })),
    );
    expect(request.method).toBe('POST');
    expect(request.url).toBe(`https://api.github.com/repos/acme/deploy/statuses/${SHA}`);
    expect(urlSource).toBe('derived');
    expect(request.headers).toMatchObject({
      Accept: 'application/vnd.github+json',
      Authorization: `Bearer ${TOKEN}`,
      'X-GitHub-Api-Version': '2022-11-28',
    });
    expect(request.headers['User-Agent']).toBeTruthy();
    expect(JSON.parse(request.body)).toEqual({
      state: 'success',
      description: 'synced at 0123456789ab: applied 3 objects',
      context: 'capstan/team-a/web',
    });
  });

  it('github enterprise: <host>/api/v3 by default, target.url when given; ssh URLs too', () => {
    const ghe = event({ repositoryUrl: 'git@ghe.example.com:platform/site.git' });
    expect(
      built(github.build(input({ event: ghe, target: { type: 'github' }, secret: tokenSecret }))).request.url,
    ).toBe(`https://ghe.example.com/api/v3/repos/platform/site/statuses/${SHA}`);
    const custom = built(
      github.build(
        input({
          event: ghe,
          target: { type: 'github', url: 'https://api.ghe.example.com/v3/' },
          secret: tokenSecret,
        }),
      ),
    );
    expect(custom.request.url).toBe(`https://api.ghe.example.com/v3/repos/platform/site/statuses/${SHA}`);
    expect(custom.urlSource).toBe('spec');
  });

  it('gitlab: POST /api/v4/projects/<url-encoded path>/statuses/<sha> with PRIVATE-TOKEN', () => {
    const { request } = built(
      gitlab.build(
        input({
          event: event({
            type: 'HealthDegraded',
            health: 'Failed',
            message: 'Deployment/web: 0 of 2 replicas available',
            repositoryUrl: 'https://gitlab.example.com:8443/group/sub/app.git',
          }),
          target: { type: 'gitlab' },
          secret: tokenSecret,
        }),
      ),
    );
    expect(request.method).toBe('POST');
    expect(request.url).toBe(
      `https://gitlab.example.com:8443/api/v4/projects/group%2Fsub%2Fapp/statuses/${SHA}`,
    );
    expect(request.headers['PRIVATE-TOKEN']).toBe(TOKEN);
    expect(request.headers.Authorization).toBeUndefined();
    expect(JSON.parse(request.body)).toEqual({
      state: 'failed',
      name: 'capstan/team-a/web',
      description: 'health degraded at 0123456789ab: Deployment/web: 0 of 2 replicas available',
    });
  });

  it('gitea: POST /api/v1/repos/{owner}/{repo}/statuses/{sha} with Authorization: token', () => {
    const { request } = built(
      gitea.build(
        input({
          event: event({
            type: 'SyncSucceeded',
            health: 'InProgress',
            repositoryUrl: 'https://git.example.com/ops/site',
          }),
          target: { type: 'gitea' },
          secret: tokenSecret,
        }),
      ),
    );
    expect(request.url).toBe(`https://git.example.com/api/v1/repos/ops/site/statuses/${SHA}`);
    expect(request.headers.Authorization).toBe(`token ${TOKEN}`);
    expect(JSON.parse(request.body)).toMatchObject({ state: 'pending', context: 'capstan/team-a/web' });
  });

  it('maps every event to a state', () => {
    expect(commitState(event({ type: 'SyncSucceeded', health: 'Current' }))).toBe('success');
    expect(commitState(event({ type: 'SyncSucceeded', health: 'InProgress' }))).toBe('pending');
    expect(commitState(event({ type: 'SyncSucceeded', health: 'Failed' }))).toBe('failure');
    expect(commitState(event({ type: 'SyncFailed' }))).toBe('failure');
    expect(commitState(event({ type: 'HealthDegraded' }))).toBe('failure');
    expect(commitState(event({ type: 'HealthRecovered' }))).toBe('success');
    expect(commitState(event({ type: 'RolledBack' }))).toBe('success');
    expect(commitState(event({ type: 'RollbackFailed' }))).toBe('error');
    expect(gitlab.gitlabState('error')).toBe('failed');
  });

  it('bounds descriptions to 140 characters on one line', () => {
    const long = description(event({ message: `line one\nline two ${'x'.repeat(500)}` }));
    expect(long.length).toBe(MAX_DESCRIPTION_CHARS);
    expect(long).not.toContain('\n');
    expect(long.endsWith('…')).toBe(true);
  });

  it('skips events without a full SHA or repository, and refuses a missing or odd token', () => {
    const noSha = github.build(
      input({ event: event({ revision: undefined }), target: { type: 'github' }, secret: tokenSecret }),
    );
    expect(noSha).toEqual({ skip: 'the event names no commit' });
    const branch = github.build(
      input({ event: event({ revision: 'main' }), target: { type: 'github' }, secret: tokenSecret }),
    );
    expect('skip' in branch).toBe(true);
    expect(() => github.build(input({ target: { type: 'github' } }))).toThrow(/secretRef/);
    expect(() => github.build(input({ target: { type: 'github' }, secret: secretOf({}) }))).toThrow(
      'the Secret team-a/notify has no key token',
    );
    const crlf = secretOf({ token: `${TOKEN}\r\nX-Evil: 1` });
    const error = (() => {
      try {
        github.build(input({ target: { type: 'github' }, secret: crlf }));
      } catch (caught) {
        return caught as Error;
      }
      return undefined;
    })();
    expect(error?.message).toMatch(/characters a header cannot carry/);
    expect(error?.message).not.toContain(TOKEN);
  });

  it('refuses repository paths that could not be a repository', () => {
    const odd = event({ repositoryUrl: 'https://github.com/only-owner' });
    expect(() =>
      github.build(input({ event: odd, target: { type: 'github' }, secret: tokenSecret })),
    ).toThrow(UserError);
    const traversal = event({ repositoryUrl: 'https://github.com/a/%2e%2e/b' });
    expect(() =>
      github.build(input({ event: traversal, target: { type: 'github' }, secret: tokenSecret })),
    ).toThrow(UserError);
  });
});
