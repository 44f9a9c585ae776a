import { afterEach, describe, expect, it } from 'vitest';
import type { Application } from '../../api/v1alpha1.js';
import type { ObjectResult } from '../../apply/applier.js';
import { refOf, type KubeObject } from '../../core/objects.js';
import { previewOf } from '../../engine/preview.js';
import type { SyncResult } from '../../engine/sync.js';
import { diffObjects } from '../../plan/index.js';
import { FakeClock } from '../../../test/support/fake-clock.js';
import { kubeEventRecorder } from '../../controller/events.js';
import { AppIndex } from './app-index.js';
import { DryRunBusyError, DryRuns, DryRunTimeoutError, type DryRunPlan, type PlanDiff } from './dry-run.js';
import type { Authenticator } from './identity.js';
import { apiErrorSchema, appDiffSchema } from './schema.js';
import { createDashboardServer } from './server.js';
import { FakeCluster } from './testdata/fake-cluster.js';

const HOST = 'dash.example';
const ORIGIN = `http://${HOST}`;
const PASSWORD = 'correct-horse-battery';
const b64 = (text: string): string => Buffer.from(text).toString('base64');

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  return { promise, resolve, reject };
}

/** Lets pending promise chains run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

function app(namespace: string, name: string, generation = 1): Application {
  return {
    apiVersion: 'capstan.dev/v1alpha1',
    kind: 'Application',
    metadata: { namespace, name, uid: `uid-${namespace}-${name}`, generation, resourceVersion: '1' },
    spec: { sourceRef: { name: 'apps' }, ref: 'main', path: name },
    status: { sync: { status: 'OutOfSync', revision: 'a'.repeat(40) } },
  };
}

const plan = (revision = 'a'.repeat(40)): DryRunPlan => ({
  revision,
  objects: [],
  omitted: 0,
  unchanged: 3,
  actor: 'ServiceAccount team-a/deployer',
  notes: [],
});

describe('DryRuns: what a dry-run may cost', () => {
  it('shares one computation between concurrent requests, and reuses it for ttlMs', async () => {
    const clock = new FakeClock();
    let calls = 0;
    const pending = deferred<DryRunPlan>();
    const dryRuns = new DryRuns(
      async () => {
        calls++;
        return calls === 1 ? pending.promise : plan('b'.repeat(40));
      },
      { clock, limits: { ttlMs: 10_000 } },
    );
    const first = dryRuns.outcome(app('team-a', 'web'));
    const second = dryRuns.outcome(app('team-a', 'web'));
    pending.resolve(plan());
    expect(await first).toEqual(await second);
    expect(calls).toBe(1);

    clock.advance(9_999);
    expect(await dryRuns.outcome(app('team-a', 'web'))).toBe(await first);
    expect(calls).toBe(1);
    // A health update rewrites status (a new resourceVersion) but changes nothing a sync would do.
    const healthUpdate = app('team-a', 'web');
    healthUpdate.metadata.resourceVersion = '7';
    healthUpdate.status!.health = { status: 'Progressing', message: 'a pod is starting' };
    expect(await dryRuns.outcome(healthUpdate)).toBe(await first);
    expect(calls).toBe(1);
    // A spec change, or a new revision synced or diffed, is a new question.
    await dryRuns.outcome(app('team-a', 'web', 2));
    const synced = app('team-a', 'web');
    synced.status!.sync = { status: 'Synced', revision: 'd'.repeat(40) };
    await dryRuns.outcome(synced);
    expect(calls).toBe(3);
    clock.advance(1);
    const later = await dryRuns.outcome(app('team-a', 'web'));
    expect(calls).toBe(4);
    expect(later.ok && later.plan.revision).toBe('b'.repeat(40));
  });

  it('keeps a failure for ttlMs too: a broken repository is not fetched on every request', async () => {
    const clock = new FakeClock();
    let calls = 0;
    const dryRuns = new DryRuns(
      async () => {
        calls++;
        throw new Error('render failed');
      },
      { clock },
    );
    const outcome = await dryRuns.outcome(app('team-a', 'web'));
    expect(outcome.ok).toBe(false);
    await dryRuns.outcome(app('team-a', 'web'));
    expect(calls).toBe(1);
  });

  it('runs at most `concurrency` at once, queues a few, refuses the rest', async () => {
    const clock = new FakeClock();
    const started: string[] = [];
    const gates = new Map<string, ReturnType<typeof deferred<DryRunPlan>>>();
    const dryRuns = new DryRuns(
      (target) => {
        started.push(target.metadata.name);
        const gate = deferred<DryRunPlan>();
        gates.set(target.metadata.name, gate);
        return gate.promise;
      },
      { clock, limits: { concurrency: 2, maxWaiting: 1 } },
    );
    const a = dryRuns.outcome(app('ns', 'a'));
    const b = dryRuns.outcome(app('ns', 'b'));
    const c = dryRuns.outcome(app('ns', 'c'));
    await expect(dryRuns.outcome(app('ns', 'd'))).rejects.toBeInstanceOf(DryRunBusyError);
    await settle();
    expect(started).toEqual(['a', 'b']);
    expect(dryRuns.running).toBe(2);

    gates.get('a')!.resolve(plan());
    await a;
    await settle();
    expect(started).toEqual(['a', 'b', 'c']);
    gates.get('b')!.resolve(plan());
    gates.get('c')!.resolve(plan());
    expect((await b).ok && (await c).ok).toBe(true);
    expect(dryRuns.running).toBe(0);
    // A refusal is not remembered: once there is room, the same app is computed.
    const d = dryRuns.outcome(app('ns', 'd'));
    await settle();
    gates.get('d')!.resolve(plan());
    expect((await d).ok).toBe(true);
  });

  it('gives up waiting for a slot after maxWaitMs (429), and on a computation after timeoutMs', async () => {
    const clock = new FakeClock();
    const signals: AbortSignal[] = [];
    const dryRuns = new DryRuns(
      (_target, signal) => {
        signals.push(signal);
        return new Promise<DryRunPlan>(() => {});
      },
      { clock, limits: { concurrency: 1, maxWaitMs: 5_000, timeoutMs: 60_000 } },
    );
    const stuck = dryRuns.outcome(app('ns', 'stuck'));
    const waiting = dryRuns.outcome(app('ns', 'waiting'));
    await settle();
    clock.advance(5_000);
    await expect(waiting).rejects.toBeInstanceOf(DryRunBusyError);

    clock.advance(55_000);
    const outcome = await stuck;
    expect(outcome.ok).toBe(false);
    expect(!outcome.ok && outcome.error).toBeInstanceOf(DryRunTimeoutError);
    expect(signals[0]!.aborted).toBe(true);
    // Its slot is free again although the work never ended.
    expect(dryRuns.running).toBe(0);
  });
});

// ── through the API ─────────────────────────────────────────────────────────────────────────────

function liveSecret(): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      namespace: 'team-a',
      name: 'creds',
      annotations: { hint: `it is ${PASSWORD}` },
      managedFields: [
        { manager: 'kubectl-edit', operation: 'Update', fieldsV1: { 'f:data': { 'f:password': {} } } },
      ],
    },
    data: { password: b64(PASSWORD) },
  };
}

function liveConfigMap(namespace: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      namespace,
      name: 'settings',
      managedFields: [
        { manager: 'capstan', operation: 'Apply', fieldsV1: { 'f:data': { 'f:mode': {} } } },
        { manager: 'kubectl-edit', operation: 'Update', fieldsV1: { 'f:data': { 'f:level': {} } } },
      ],
    },
    data: { mode: 'fast', level: 'debug' },
  };
}

/** The plan the engine would make: real diffs (real masking) through the real preview. */
async function realPlan(fake: FakeCluster): Promise<DryRunPlan> {
  const secret = liveSecret();
  const settings = liveConfigMap('team-a');
  const elsewhere = liveConfigMap('team-b');
  const objects: ObjectResult[] = [
    {
      ref: refOf(secret),
      action: 'configured',
      diff: diffObjects(secret, { ...secret, data: { password: b64('n3w-passw0rd') } }),
    },
    {
      ref: refOf(settings),
      action: 'configured',
      diff: diffObjects(settings, { ...settings, data: { mode: 'fast', level: 'info' } }),
    },
    {
      ref: refOf(elsewhere),
      action: 'configured',
      diff: diffObjects(elsewhere, { ...elsewhere, data: { mode: 'slow', level: 'debug' } }),
    },
    { ref: { group: 'example.com', kind: 'Widget', namespace: 'team-a', name: 'w' }, action: 'created' },
    { ref: { group: '', kind: 'ConfigMap', namespace: 'team-a', name: 'same' }, action: 'unchanged' },
  ];
  const result: SyncResult = {
    app: { namespace: 'team-a', name: 'web' },
    mode: 'diff',
    revision: { id: 'c'.repeat(40) },
    renderKind: 'plain',
    objects,
    changed: true,
    failed: false,
  };
  const preview = await previewOf(result, fake.clientFor('admin-token'));
  return { ...preview, actor: 'ServiceAccount team-a/deployer', notes: ['A sync would not prune.'] };
}

const servers: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

function setup(planDiff: PlanDiff, limits: ConstructorParameters<typeof DryRuns>[1]['limits'] = {}) {
  const fake = new FakeCluster();
  // Alice reads Applications and ConfigMaps of team-a, nothing of team-b, and no Secrets.
  fake.addUser('alice-token', {
    username: 'alice',
    can: (verb, group, resource, namespace) =>
      namespace === 'team-a' && ['get', 'list'].includes(verb) && !(group === '' && resource === 'secrets'),
  });
  fake.addUser('admin-token', { username: 'admin', can: () => true });
  fake.unservedKinds.add('Widget');
  for (const object of [liveSecret(), liveConfigMap('team-a'), liveConfigMap('team-b')]) fake.put(object);
  const index = new AppIndex();
  index.upsert(fake.put(app('team-a', 'web')) as Application);
  index.markSynced();
  const authenticate: Authenticator = async (token) => {
    const user = fake.users.get(token);
    return user
      ? { identity: { username: user.username, groups: [] }, kube: fake.clientFor(token) }
      : undefined;
  };
  const server = createDashboardServer({
    mode: 'controller',
    index,
    authenticate,
    eventRecorder: () => kubeEventRecorder(fake.clientFor('admin-token'), 'capstan-dashboard'),
    clock: new FakeClock(),
    assets: false,
    planDiff,
    limits: { dryRun: limits },
  });
  servers.push(server);
  const as = async (token: string) => {
    const login = await server.inject({
      method: 'POST',
      url: '/api/v1/session',
      headers: { origin: ORIGIN, host: HOST, 'content-type': 'application/json' },
      payload: { token },
    });
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    return (url: string) => server.inject({ method: 'GET', url, headers: { cookie, host: HOST } });
  };
  return { fake, as };
}

describe('GET /api/v1/apps/:ns/:name/diff as a dry-run', () => {
  it('shows the admin every change, with owners, and not one Secret value', async () => {
    const { fake, as } = setup(async () => realPlan(fake));
    const response = await (await as('admin-token'))('/api/v1/apps/team-a/web/diff');
    expect(response.statusCode).toBe(200);
    const diff = appDiffSchema.parse(response.json());
    expect(diff).toMatchObject({ mode: 'dryRun', revision: 'c'.repeat(40), unchanged: 1, omitted: 0 });
    expect(diff.note).toContain('as ServiceAccount team-a/deployer');
    expect(diff.note).toContain('A sync would not prune.');
    expect(diff.computedAt).toBeDefined();
    const [secret, settings] = diff.objects;
    expect(secret).toMatchObject({ kind: 'Secret', action: 'update', state: 'found' });
    expect(secret!.changes).toEqual([{ path: '/data/password', op: 'replace', managers: ['kubectl-edit'] }]);
    expect(secret!.unifiedDiff).toContain('*** (after)');
    expect(settings!.changes).toEqual([{ path: '/data/level', op: 'replace', managers: ['kubectl-edit'] }]);
    expect(settings!.owners.map((o) => o.manager)).toEqual(['capstan', 'kubectl-edit']);
    for (const value of [PASSWORD, b64(PASSWORD), 'n3w-passw0rd', b64('n3w-passw0rd')])
      expect(response.body).not.toContain(value);
    // A kind discovery does not serve cannot be reviewed: named only, even for the admin.
    expect(diff.objects[3]).toEqual({
      group: 'example.com',
      kind: 'Widget',
      namespace: 'team-a',
      name: 'w',
      action: 'hidden',
      state: 'forbidden',
      owners: [],
    });
  });

  it('names only, and nothing else, the objects a user may not get', async () => {
    const { fake, as } = setup(async () => realPlan(fake));
    const response = await (await as('alice-token'))('/api/v1/apps/team-a/web/diff');
    const diff = appDiffSchema.parse(response.json());
    expect(diff.objects.map((o) => `${o.kind}/${o.namespace}/${o.name}:${o.state}`)).toEqual([
      'Secret/team-a/creds:forbidden',
      'ConfigMap/team-a/settings:found',
      'ConfigMap/team-b/settings:forbidden',
      'Widget/team-a/w:forbidden',
    ]);
    expect(diff.objects[0]).toEqual({
      group: '',
      kind: 'Secret',
      namespace: 'team-a',
      name: 'creds',
      action: 'hidden',
      state: 'forbidden',
      owners: [],
    });
    expect(diff.objects[1]!.changes).toHaveLength(1);
    // Nothing of the Secret, nor of team-b's ConfigMap: not their owners, not their diffs.
    expect(response.body).not.toContain('/data/password');
    expect(response.body).not.toContain('slow');
    expect(diff.note).toContain('3 object(s) you may not get are named only');
    // Decided by reviews made as alice, once per resource and namespace.
    expect(fake.calls.filter((call) => call.startsWith('alice review get'))).toEqual([
      'alice review get /secrets team-a',
      'alice review get /configmaps team-a',
      'alice review get /configmaps team-b',
    ]);
  });

  it('answers the live mode when the dry-run cannot be made, saying why without credentials', async () => {
    const { as } = setup(async () => {
      throw new Error(
        'git fetch https://deploy:gh0-t0ken-value@git.example/shop.git failed: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.secret',
      );
    });
    const response = await (await as('admin-token'))('/api/v1/apps/team-a/web/diff');
    const diff = appDiffSchema.parse(response.json());
    expect(diff.mode).toBe('live');
    expect(diff.note).toMatch(/^The dry-run could not be made: git fetch .*git\.example/);
    expect(diff.note).toContain('Shown instead: the live state');
    expect(response.body).not.toContain('gh0-t0ken-value');
    expect(response.body).not.toContain('eyJhbGciOiJIUzI1NiJ9');
  });

  it('shares one dry-run between simultaneous requests', async () => {
    const gate = deferred<DryRunPlan>();
    let calls = 0;
    const { as } = setup(
      async () => {
        calls++;
        return gate.promise;
      },
      { concurrency: 1, maxWaiting: 0 },
    );
    const get = await as('admin-token');
    const first = get('/api/v1/apps/team-a/web/diff');
    const second = get('/api/v1/apps/team-a/web/diff');
    await settle();
    await settle();
    expect(calls).toBe(1);
    gate.resolve(plan());
    const answers = await Promise.all([first, second]);
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200]);
    expect(calls).toBe(1);
  });

  it('answers 429 with retry-after when every slot is taken', async () => {
    const gate = deferred<DryRunPlan>();
    const { fake, as } = setup(async (target) => (target.metadata.name === 'web' ? gate.promise : plan()), {
      concurrency: 1,
      maxWaiting: 0,
    });
    fake.put(app('team-a', 'api'));
    const get = await as('admin-token');
    const busy = get('/api/v1/apps/team-a/web/diff');
    await settle();
    await settle();
    const refused = await get('/api/v1/apps/team-a/api/diff');
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe('5');
    expect(apiErrorSchema.parse(refused.json()).error).toBe('too_many_requests');
    gate.resolve(plan());
    expect((await busy).statusCode).toBe(200);
  });
});
