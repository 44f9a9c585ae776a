import { describe, expect, it } from 'vitest';
import { API_VERSION, type Application } from '../api/v1alpha1.js';
import {
  decideDependencies,
  dependencyStates,
  findCycle,
  readyOf,
  type DependencyState,
  type DependentState,
} from './dependencies.js';

const OLD = '1'.repeat(40);
const NEW = '2'.repeat(40);
const OTHER = '3'.repeat(40);

/** An Application `name` in `ns`, on Repository `apps` ref `main` unless told otherwise. */
function app(
  name: string,
  options: {
    repository?: string;
    ref?: string;
    generation?: number;
    ready?: { status: 'True' | 'False'; reason: string; observedGeneration?: number };
    applied?: string;
  } = {},
): Application {
  const generation = options.generation ?? 1;
  return {
    apiVersion: API_VERSION,
    kind: 'Application',
    metadata: { name, namespace: 'ns', generation },
    spec: { sourceRef: { name: options.repository ?? 'apps' }, ref: options.ref ?? 'main' },
    status: {
      ...(options.ready
        ? {
            conditions: [
              {
                type: 'Ready',
                status: options.ready.status,
                reason: options.ready.reason,
                message: '…',
                lastTransitionTime: '2026-01-01T00:00:00Z',
                observedGeneration: options.ready.observedGeneration ?? generation,
              },
            ],
          }
        : {}),
      ...(options.applied ? { lastAppliedRevision: { sha: options.applied } } : {}),
    },
  };
}

const readyAt = (name: string, sha: string, extra: Parameters<typeof app>[1] = {}): Application =>
  app(name, { ready: { status: 'True', reason: 'Synced' }, applied: sha, ...extra });

/** A dependency on the same Repository and ref as the dependent. */
const onSameRef = (dependency: Application | undefined, name = dependency?.metadata.name ?? 'web') =>
  ({ name, app: dependency, wanted: 'target' }) satisfies DependencyState;

/** The dependent `worker`: at OLD with generation 1, and NEW is the newest revision of its ref. */
const worker = (changes: Partial<DependentState> = {}): DependentState => ({
  target: NEW,
  generation: 1,
  applied: { sha: OLD, generation: 1 },
  ...changes,
});

describe('decideDependencies', () => {
  it('syncs a new revision at once without dependencies', () => {
    expect(decideDependencies(worker(), [])).toEqual({ action: 'sync' });
  });

  it('syncs a new revision once each dependency on its ref is Ready at that very revision', () => {
    expect(decideDependencies(worker(), [onSameRef(readyAt('web', NEW))])).toEqual({ action: 'sync' });
  });

  it('does not take a dependency still Ready at the previous commit for Ready (a push just landed)', () => {
    expect(decideDependencies(worker(), [onSameRef(readyAt('web', OLD))])).toEqual({
      action: 'hold',
      sha: OLD,
      message:
        'waiting for Application web to be Ready at 222222222222 (it is at 111111111111: Synced); meanwhile 111111111111 stays applied',
    });
  });

  it('holds a new revision while a dependency progresses, stalls or fails at it, and says which', () => {
    const at = (reason: string, status: 'True' | 'False' = 'False') =>
      decideDependencies(worker(), [onSameRef(app('web', { ready: { status, reason }, applied: NEW }))]);
    expect(at('Progressing')).toMatchObject({
      action: 'hold',
      message: expect.stringMatching(
        /^waiting for Application web to be Ready at 222222222222 \(it is at 222222222222: Progressing\)/,
      ),
    });
    expect(at('HealthTimeout')).toMatchObject({
      message: expect.stringContaining('(it is at 222222222222: HealthTimeout)'),
    });
    expect(
      decideDependencies(worker(), [
        onSameRef(app('web', { ready: { status: 'False', reason: 'InvalidSpec' } })),
      ]),
    ).toMatchObject({
      action: 'hold',
      message: expect.stringContaining('(it has applied nothing yet: InvalidSpec)'),
    });
    expect(decideDependencies(worker(), [onSameRef(app('web'))])).toMatchObject({
      message: expect.stringContaining('(it has applied nothing yet: not reconciled yet)'),
    });
  });

  it('does not count a Ready condition from before the dependency’s last spec change', () => {
    const stale = readyAt('web', NEW, {
      generation: 3,
      ready: { status: 'True', reason: 'Synced', observedGeneration: 2 },
    });
    expect(decideDependencies(worker(), [onSameRef(stale)])).toMatchObject({
      action: 'hold',
      message: expect.stringContaining('(it is at 222222222222: Synced, and its spec changed since)'),
    });
  });

  it('still blocks new revisions on a dependency that does not exist', () => {
    expect(decideDependencies(worker(), [onSameRef(undefined, 'db')])).toEqual({
      action: 'hold',
      sha: OLD,
      message: 'waiting for Application db: it does not exist; meanwhile 111111111111 stays applied',
    });
  });

  it('never blocks self-heal: what is applied, with the same spec, is synced whatever the dependencies', () => {
    const upToDate = worker({ target: OLD });
    expect(decideDependencies(upToDate, [onSameRef(undefined, 'db')])).toEqual({ action: 'sync' });
    expect(
      decideDependencies(upToDate, [
        onSameRef(app('web', { ready: { status: 'False', reason: 'Progressing' } })),
      ]),
    ).toEqual({ action: 'sync' });
  });

  it('makes a new spec, or a first sync, wait without applying anything', () => {
    const notReady = [
      onSameRef(app('web', { ready: { status: 'False', reason: 'Progressing' }, applied: OLD })),
    ];
    // The spec changed since OLD was applied: even at the same revision, that is something new.
    expect(decideDependencies(worker({ target: OLD, generation: 2 }), notReady)).toEqual({
      action: 'wait',
      message: 'waiting for Application web to be Ready at 111111111111 (it is at 111111111111: Progressing)',
    });
    expect(decideDependencies(worker({ generation: 2 }), notReady)).toMatchObject({ action: 'wait' });
    expect(decideDependencies({ target: NEW, generation: 1 }, [onSameRef(undefined, 'db')])).toEqual({
      action: 'wait',
      message: 'waiting for Application db: it does not exist',
    });
    // With every dependency Ready at the target, a new spec goes ahead.
    expect(decideDependencies(worker({ generation: 2 }), [onSameRef(readyAt('web', NEW))])).toEqual({
      action: 'sync',
    });
  });

  it('on another Repository or ref, wants the dependency Ready at the newest revision of its own ref', () => {
    const db = (applied: string): DependencyState => ({
      name: 'db',
      app: readyAt('db', applied, { repository: 'infra', ref: 'v1' }),
      wanted: { sha: OTHER },
    });
    expect(decideDependencies(worker(), [db(OTHER)])).toEqual({ action: 'sync' });
    expect(decideDependencies(worker(), [db(OLD)])).toMatchObject({
      action: 'hold',
      message: expect.stringMatching(
        /^waiting for Application db to be Ready at 333333333333 \(it is at 111111111111/,
      ),
    });
    const unknown: DependencyState = {
      name: 'db',
      app: readyAt('db', OTHER, { repository: 'infra', ref: 'v1' }),
      wanted: { unknown: 'Repository ns/infra does not exist' },
    };
    expect(decideDependencies(worker(), [unknown])).toMatchObject({
      action: 'hold',
      message: expect.stringContaining(
        'to be Ready at the newest revision of v1 (Repository ns/infra does not exist) (it is at 333333333333: Synced)',
      ),
    });
  });

  it('names every dependency it waits for', () => {
    const decision = decideDependencies(worker(), [
      onSameRef(readyAt('web', NEW)),
      onSameRef(undefined, 'db'),
      onSameRef(readyAt('cache', OLD)),
    ]);
    expect(decision).toMatchObject({
      message:
        'waiting for Application db: it does not exist; waiting for Application cache to be Ready at 222222222222 (it is at 111111111111: Synced); meanwhile 111111111111 stays applied',
    });
  });
});

describe('dependencyStates', () => {
  it('wants the target on the same Repository and ref, and asks for the newest revision only of the others', async () => {
    const asked: string[] = [];
    const apps = new Map([
      ['web', app('web')],
      ['db', app('db', { repository: 'infra' })],
      ['cache', app('cache', { ref: 'stable' })],
    ]);
    const states = await dependencyStates(
      { repository: 'apps', ref: 'main' },
      [{ name: 'web' }, { name: 'db' }, { name: 'cache' }, { name: 'gone' }],
      {
        application: (name) => apps.get(name),
        newest: async (source) => {
          asked.push(`${source.repository}@${source.ref}`);
          if (source.repository === 'infra')
            throw new Error('git ls-remote https://user:hunter2@git.example.com/infra.git failed');
          return OTHER;
        },
      },
    );
    expect(asked.sort()).toEqual(['apps@stable', 'infra@main']);
    expect(states.map((s) => [s.name, s.wanted])).toEqual([
      ['web', 'target'],
      ['db', { unknown: expect.stringContaining('git ls-remote https://') }],
      ['cache', { sha: OTHER }],
      ['gone', 'target'],
    ]);
    expect(JSON.stringify(states[1]!.wanted)).not.toContain('hunter2');
    expect(states[3]!.app).toBeUndefined();
  });
});

describe('readyOf', () => {
  it('changes when a dependency applies a new revision, even if it was Ready before and after', () => {
    expect(readyOf(readyAt('web', OLD))).not.toBe(readyOf(readyAt('web', NEW)));
    expect(readyOf(readyAt('web', NEW))).toBe(readyOf(readyAt('web', NEW)));
    expect(readyOf(readyAt('web', NEW))).not.toBe(
      readyOf(app('web', { ready: { status: 'False', reason: 'Progressing' }, applied: NEW })),
    );
  });
});

describe('findCycle', () => {
  const graph: Record<string, string[]> = { a: ['b'], b: ['c'], c: ['a'], d: ['a'], e: [] };
  const next = (ref: { namespace: string; name: string }) =>
    (graph[ref.name] ?? []).map((name) => ({ namespace: 'ns', name }));

  it('reports the cycle through an Application, and nothing for one that only leads into it', () => {
    expect(findCycle({ namespace: 'ns', name: 'a' }, next)).toEqual(['a', 'b', 'c', 'a']);
    expect(findCycle({ namespace: 'ns', name: 'd' }, next)).toBeUndefined();
    expect(findCycle({ namespace: 'ns', name: 'e' }, next)).toBeUndefined();
  });
});
