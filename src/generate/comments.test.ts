import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.js';
import {
  ENVIRONMENT_URL_ANNOTATION,
  GENERATOR_LABEL,
  PULL_REQUEST_ANNOTATION,
  type ApplicationGenerator,
} from '../api/generator.js';
import type { Application, Repository } from '../api/v1alpha1.js';
import { ForgeError, type CommentInput, type Forge } from '../forge/index.js';
import { PreviewComments } from './comments.js';

const TOKEN = 'tok-very-secret-123';

const repository = {
  apiVersion: 'capstan.dev/v1alpha1',
  kind: 'Repository',
  metadata: { name: 'apps', namespace: 'team' },
  spec: { url: 'https://git.example.com/team/apps.git' },
} as Repository;

function generator(comment?: boolean): ApplicationGenerator {
  return {
    apiVersion: 'capstan.dev/v1alpha1',
    kind: 'ApplicationGenerator',
    metadata: { name: 'previews', namespace: 'team', uid: 'gen-uid', generation: 1 },
    spec: {
      sourceRef: { name: 'apps' },
      pullRequests: comment === undefined ? {} : { comment },
      template: { metadata: { name: 'preview-{{number}}' }, spec: {} },
    },
  };
}

function app(number: number, ready: 'True' | 'False' | undefined, sha = 'a'.repeat(40)): Application {
  return {
    apiVersion: 'capstan.dev/v1alpha1',
    kind: 'Application',
    metadata: {
      name: `preview-${number}`,
      namespace: 'team',
      generation: 1,
      labels: { [GENERATOR_LABEL]: 'previews' },
      annotations: {
        [PULL_REQUEST_ANNOTATION]: String(number),
        [ENVIRONMENT_URL_ANNOTATION]: `http://pr-${number}.preview.test`,
      },
      ownerReferences: [
        {
          apiVersion: 'capstan.dev/v1alpha1',
          kind: 'ApplicationGenerator',
          name: 'previews',
          uid: 'gen-uid',
          controller: true,
        },
      ],
    },
    spec: { sourceRef: { name: 'apps' }, ref: `refs/pull/${number}/head` },
    status: {
      ...(ready
        ? {
            conditions: [
              {
                type: 'Ready',
                status: ready,
                reason: ready === 'True' ? 'Synced' : 'HealthDegraded',
                message: 'pods crash',
                lastTransitionTime: '2026-01-01T00:00:00Z',
              },
            ],
          }
        : {}),
      lastAppliedRevision: { sha },
    },
  } as Application;
}

interface Logged {
  level: string;
  fields: Record<string, unknown>;
  message: string;
}

function harness(options: { comment?: boolean; failures?: unknown[] } = {}) {
  const clock = new FakeClock();
  const apps = new Map<string, Application>();
  const written: { repo: string; number: number; comment: CommentInput }[] = [];
  const failures = [...(options.failures ?? [])];
  const logged: Logged[] = [];
  const log = (level: string) => (fields: Record<string, unknown>, message: string) =>
    logged.push({ level, fields, message });
  let gen = generator(options.comment);
  const forge = {
    kind: 'gitea',
    upsertComment: async (repo: string, number: number, comment: CommentInput) => {
      const failure = failures.shift();
      if (failure) throw failure;
      written.push({ repo, number, comment });
      return { id: 1, created: written.length === 1 };
    },
  } as unknown as Forge;
  const comments = new PreviewComments({
    generators: { get: (name, namespace) => (name === 'previews' && namespace === 'team' ? gen : undefined) },
    applications: { list: () => [...apps.values()] },
    repositories: { get: (name) => (name === 'apps' ? repository : undefined) },
    forgeOf: async () => ({ forge, repo: 'team/apps' }),
    log: { debug: log('debug'), info: log('info'), warn: log('warn') },
    clock,
    backoff: { jitter: 0 },
  });
  const put = (object: Application) => {
    apps.set(object.metadata.name, object);
    comments.applicationChanged(object);
  };
  const remove = (object: Application) => {
    apps.delete(object.metadata.name);
    comments.applicationChanged(object);
  };
  const setGenerator = (next: ApplicationGenerator) => {
    const previous = gen;
    gen = next;
    comments.generatorChanged(next, previous);
  };
  return {
    clock,
    apps,
    written,
    logged,
    comments,
    put,
    remove,
    setGenerator,
    settle: () => clock.advanceAsync(0),
  };
}

describe('PreviewComments', () => {
  it('writes one comment per pull request when the text changes, and "removed" when the app goes', async () => {
    const h = harness();
    h.apps.set('preview-3', app(3, undefined));
    h.comments.start();
    await h.settle();
    expect(h.written).toHaveLength(1);
    expect(h.written[0]).toMatchObject({ repo: 'team/apps', number: 3 });
    expect(h.written[0]!.comment.marker).toBe('<!-- capstan:preview team/previews -->');
    expect(h.written[0]!.comment.body).toContain('Progressing');

    // The same text: nothing written.
    h.put(app(3, undefined));
    await h.settle();
    expect(h.written).toHaveLength(1);

    h.put(app(3, 'True'));
    await h.settle();
    expect(h.written).toHaveLength(2);
    expect(h.written[1]!.comment.body).toContain('Ready at ` aaaaaaa `');
    expect(h.written[1]!.comment.body).toContain('(<http://pr-3.preview.test/>)');

    h.put(app(3, 'True', 'b'.repeat(40)));
    await h.settle();
    expect(h.written.at(-1)!.comment.body).toContain('Ready at ` bbbbbbb `');

    h.put(app(3, 'False'));
    await h.settle();
    expect(h.written.at(-1)!.comment.body).toContain('Degraded');
    expect(h.written.at(-1)!.comment.body).toContain('pods crash');

    h.remove(app(3, 'False'));
    await h.settle();
    const last = h.written.at(-1)!.comment.body;
    expect(last).toContain('removed');
    expect(last).toContain('team/preview\\-3');
    expect(h.written.every((w) => w.number === 3)).toBe(true);
    await h.comments.close();
  });

  it('waits before start, writes nothing when comments are off, or for other generators', async () => {
    const h = harness({ comment: false });
    h.put(app(4, 'True'));
    await h.settle();
    expect(h.written).toHaveLength(0);
    h.comments.start();
    await h.settle();
    expect(h.written).toHaveLength(0);

    // Turned on: every pull request with an Application gets its comment.
    h.setGenerator(generator(true));
    await h.settle();
    expect(h.written.map((w) => w.number)).toEqual([4]);

    const other = harness();
    const stray = app(5, 'True');
    stray.metadata.labels = { [GENERATOR_LABEL]: 'someone-else' };
    other.comments.start();
    other.put(stray);
    await other.settle();
    expect(other.written).toHaveLength(0);
  });

  it('waits out a rate limit, logs without the token, and writes later', async () => {
    // src/forge keeps its token out of messages; whatever else credential-like is redacted again.
    const limited = new ForgeError('transient', `https://oauth2:${TOKEN}@git.example.com answered 429`, {
      status: 429,
      retryAfterMs: 30_000,
    });
    const h = harness({ failures: [limited] });
    h.comments.start();
    h.put(app(6, 'True'));
    await h.settle();
    expect(h.written).toHaveLength(0);
    const note = h.logged.find((entry) => entry.message.includes('rate limit'));
    expect(note?.fields.waitMs).toBe(30_000);
    await h.clock.advanceAsync(29_000);
    expect(h.written).toHaveLength(0);
    await h.clock.advanceAsync(1_000);
    expect(h.written).toHaveLength(1);
    expect(JSON.stringify(h.logged)).not.toContain(TOKEN);
  });

  it('retries a transient failure with backoff, and gives up on a refusal until the text changes', async () => {
    const h = harness({
      failures: [
        new ForgeError('transient', 'gitea answered 503', { status: 503 }),
        new ForgeError('user', 'the token may not comment (403)', { status: 403 }),
      ],
    });
    h.comments.start();
    h.put(app(7, 'True'));
    await h.settle();
    await h.clock.advanceAsync(1_000);
    // The retry met the refusal: not tried again as is.
    expect(h.written).toHaveLength(0);
    expect(h.logged.filter((entry) => entry.level === 'warn')).toHaveLength(2);
    h.put(app(7, 'True'));
    await h.clock.advanceAsync(60_000);
    expect(h.written).toHaveLength(0);
    h.put(app(7, 'False'));
    await h.settle();
    expect(h.written).toHaveLength(1);
  });

  it('gives a write that hangs up at its deadline, and does not wait for it when closed', async () => {
    const clock = new FakeClock();
    const signals: AbortSignal[] = [];
    const logged: string[] = [];
    const forge = {
      kind: 'gitea',
      // A host that never answers: the call ends only when its signal aborts.
      upsertComment: (
        _repo: string,
        _number: number,
        _comment: CommentInput,
        options?: { signal?: AbortSignal },
      ) =>
        new Promise((_resolve, reject) => {
          signals.push(options!.signal!);
          options!.signal!.addEventListener('abort', () => reject(new ForgeError('transient', 'abandoned')));
        }),
    } as unknown as Forge;
    const comments = new PreviewComments({
      generators: { get: (name) => (name === 'previews' ? generator() : undefined) },
      applications: { list: () => [app(3, 'True')] },
      repositories: { get: () => repository },
      forgeOf: async () => ({ forge, repo: 'team/apps' }),
      log: { debug: () => {}, info: () => {}, warn: (_fields, message) => void logged.push(message) },
      clock,
      backoff: { jitter: 0 },
    });
    comments.start();
    await clock.advanceAsync(0);
    expect(signals).toHaveLength(1);
    await clock.advanceAsync(2 * 60_000);
    expect(signals[0]!.aborted).toBe(true);
    expect(logged).toContain('writing the preview comment failed; retrying');
    await clock.advanceAsync(1_000); // the retry
    expect(signals).toHaveLength(2);
    await comments.close();
    expect(signals[1]!.aborted).toBe(true);
  });
});
