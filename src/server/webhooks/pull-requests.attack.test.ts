/**
 * Attacks on pull-request webhooks (src/server/server.ts, src/server/webhooks/*): forged or missing
 * signatures, and signed payloads with hostile values, must never reach the planner.
 */
import { createHmac } from 'node:crypto';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../test/support/fake-clock.js';
import { CapstanMetrics } from '../metrics.js';
import { createServer, type PullRequestEvent } from '../server.js';

const SECRET = 'atk-w3bhook-s3cret';
const servers: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

function setup() {
  const delivered: PullRequestEvent[] = [];
  const logLines: string[] = [];
  const app = createServer({
    metrics: new CapstanMetrics({ defaultMetrics: false }),
    isReady: () => true,
    webhookSecrets: { github: SECRET, gitlab: SECRET, gitea: SECRET, bitbucket: SECRET, generic: SECRET },
    onPush: () => undefined,
    onPullRequest: (event) => void delivered.push(event),
    logger: pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) }),
    clock: new FakeClock(),
  });
  servers.push(app);
  return { app, delivered, logLines };
}

const sign = (body: string, secret = SECRET) => createHmac('sha256', secret).update(body).digest('hex');
const SHA = 'a'.repeat(40);

function giteaPull(
  overrides: { number?: unknown; sha?: unknown; base?: unknown; head?: unknown } = {},
): string {
  return JSON.stringify({
    action: 'opened',
    number: 'number' in overrides ? overrides.number : 7,
    pull_request: {
      number: 'number' in overrides ? overrides.number : 7,
      head: {
        ref: 'head' in overrides ? overrides.head : 'feature',
        sha: 'sha' in overrides ? overrides.sha : SHA,
        repo_id: 1,
      },
      base: { ref: 'base' in overrides ? overrides.base : 'main', sha: SHA, repo_id: 1 },
    },
    repository: { clone_url: 'https://git.example.com/team-a/apps.git' },
  });
}

async function post(app: ReturnType<typeof setup>['app'], body: string, signature: string | undefined) {
  return app.inject({
    method: 'POST',
    url: '/hooks/gitea',
    headers: {
      'content-type': 'application/json',
      'x-gitea-event': 'pull_request',
      ...(signature === undefined ? {} : { 'x-gitea-signature': signature }),
    },
    payload: body,
  });
}

describe('pull-request webhooks', () => {
  it('refuses a missing, forged, other-secret, prefixed or truncated signature', async () => {
    const { app, delivered } = setup();
    const body = giteaPull();
    for (const signature of [
      undefined,
      '',
      '0'.repeat(64),
      sign(body, 'guess'),
      `sha256=${sign(body)}`,
      sign(body).slice(0, 63),
      sign(`${body} `),
      sign(body).toUpperCase() + '0',
    ]) {
      const answer = await post(app, body, signature);
      expect(answer.statusCode, String(signature)).toBe(401);
    }
    expect(delivered).toEqual([]);
  });

  for (const [what, overrides] of [
    ['a non-hex SHA', { sha: 'g'.repeat(40) }],
    ['a SHA with a path', { sha: `../../${'a'.repeat(34)}` }],
    ['a short SHA', { sha: 'abc123' }],
    ['a huge number', { number: 1e300 }],
    ['a negative number', { number: -1 }],
    ['a fractional number', { number: 1.5 }],
    ['a numeric string', { number: '7' }],
    ['a base with ..', { base: 'main/../x' }],
    ['an option as base', { base: '--upload-pack=touch /tmp/pwned' }],
    ['a base with a newline', { base: 'main\nx' }],
    ['a very long head', { head: 'h'.repeat(100_000) }],
    ['an object as base', { base: { toString: 'main' } }],
  ] as const) {
    it(`rejects a signed payload with ${what} and plans nothing`, async () => {
      const { app, delivered } = setup();
      const body = giteaPull(overrides as never);
      const answer = await post(app, body, sign(body));
      expect(answer.statusCode).toBe(400);
      expect(delivered).toEqual([]);
    });
  }

  it('never echoes the secret or the signature back, nor logs them', async () => {
    const { app, logLines } = setup();
    const body = giteaPull({ sha: 'nothex' });
    const answer = await post(app, body, sign(body));
    expect(answer.body).not.toContain(SECRET);
    expect(logLines.join('\n')).not.toContain(SECRET);
    expect(logLines.join('\n')).not.toContain(sign(body));
  });
});
