import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { Application, Condition, Repository } from '../../api/v1alpha1.js';
import {
  formatAge,
  formatApplicationDescription,
  formatApplicationTable,
  formatObjects,
  formatRepositoryTable,
  truncate,
  type KubeEvent,
} from '../apps-output.js';
import { progressLines, syncVerdict } from './apps-run.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const ago = (seconds: number): string => new Date(NOW.getTime() - seconds * 1000).toISOString();
const SHA = '0123456789abcdef0123456789abcdef01234567';
const ESC = '\u001b[';

const condition = (
  type: string,
  status: Condition['status'],
  reason: string,
  message: string,
): Condition => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: ago(90),
  observedGeneration: 3,
});

function app(name: string, overrides: Partial<Application> = {}): Application {
  return {
    apiVersion: 'capstan.dev/v1alpha1',
    kind: 'Application',
    metadata: {
      name,
      namespace: 'shop',
      generation: 3,
      uid: 'u-1',
      creationTimestamp: ago(3 * 3600),
      managedFields: [{ manager: 'kubectl', operation: 'Apply' }],
    },
    spec: {
      sourceRef: { name: 'apps' },
      ref: 'main',
      path: 'web',
      render: {
        type: 'helm',
        helm: { releaseName: 'web', valueFiles: ['prod.yaml'], values: { password: 'hunter2' } },
      },
      dependsOn: [{ name: 'db' }],
      serviceAccountName: 'deployer',
    },
    status: {
      observedGeneration: 3,
      conditions: [
        condition('Ready', 'True', 'Synced', `${SHA.slice(0, 12)} applied and healthy (2 objects)`),
      ],
      sync: { status: 'Synced', revision: SHA },
      health: { status: 'Current' },
      lastAppliedRevision: {
        sha: SHA,
        ref: 'main',
        message: 'web: blue\n\nlonger body',
        author: 'Ada <ada@example.com>',
        date: ago(600),
      },
      inventory: { configMap: 'capstan-inventory-web', entries: 2 },
      resources: [
        {
          group: 'apps',
          kind: 'Deployment',
          namespace: 'shop',
          name: 'web',
          sync: 'configured',
          health: 'Current',
        },
        { group: '', kind: 'Secret', namespace: 'shop', name: 'creds', sync: 'failed', message: 'forbidden' },
      ],
      history: [
        {
          revision: SHA,
          startedAt: ago(125),
          finishedAt: ago(120),
          durationSeconds: 4.5,
          result: 'Succeeded',
          health: 'Current',
          message: '1 configured, 1 unchanged',
        },
      ],
      lastHandledRequest: 'req-1',
    },
    ...overrides,
  };
}

const repo: Repository = {
  apiVersion: 'capstan.dev/v1alpha1',
  kind: 'Repository',
  metadata: { name: 'apps', namespace: 'shop', creationTimestamp: ago(86_400 * 3) },
  spec: { url: 'https://token123@git.example.com/team/apps.git' },
  status: {
    conditions: [condition('Ready', 'True', 'Fetched', 'fetched main')],
    revisions: [{ ref: 'main', sha: SHA, fetchedAt: ago(10) }],
  },
};

describe('formatAge', () => {
  it('reads like kubectl', () => {
    expect(formatAge(ago(45), NOW)).toBe('45s');
    expect(formatAge(ago(330), NOW)).toBe('5m30s');
    expect(formatAge(ago(45 * 60), NOW)).toBe('45m');
    expect(formatAge(ago(3 * 3600 + 20 * 60), NOW)).toBe('3h20m');
    expect(formatAge(ago(30 * 3600), NOW)).toBe('30h');
    expect(formatAge(ago(52 * 3600), NOW)).toBe('2d4h');
    expect(formatAge(ago(400 * 86_400), NOW)).toBe('400d');
    expect(formatAge(undefined, NOW)).toBe('<none>');
  });
});

describe('truncate', () => {
  it('keeps one line and marks the cut', () => {
    expect(truncate('a\n  b')).toBe('a b');
    expect(truncate('x'.repeat(100), 10)).toBe(`${'x'.repeat(9)}…`);
  });
});

describe('formatApplicationTable', () => {
  it('shows source, revision, sync, health and readiness, sorted, without colour off a TTY', () => {
    const failing = app('api', {
      status: {
        conditions: [condition('Ready', 'False', 'SyncFailed', `boom ${'x'.repeat(200)}`)],
        sync: { status: 'Unknown' },
        health: { status: 'Unknown' },
      },
    });
    const text = formatApplicationTable([app('web'), failing], {
      now: NOW,
      color: false,
      allNamespaces: false,
    });
    const [header, first, second] = text.trimEnd().split('\n');
    expect(header!.split(/\s{3,}/)).toEqual([
      'NAME',
      'REPOSITORY',
      'REF',
      'REVISION',
      'SYNC',
      'HEALTH',
      'READY',
      'AGE',
      'REASON',
      'MESSAGE',
    ]);
    expect(first).toMatch(/^api\s+apps\s+main\s+Unknown\s+Unknown\s+False\s+3h\s+SyncFailed\s+boom x+…$/);
    expect(first!.length).toBeLessThan(200);
    expect(second!.split(/\s{3,}/)).toEqual([
      'web',
      'apps',
      'main',
      SHA.slice(0, 12),
      'Synced',
      'Current',
      'True',
      '3h',
      'Synced',
      `${SHA.slice(0, 12)} applied and healthy (2 objects)`,
    ]);
    expect(text).not.toContain(ESC);
  });

  it('adds NAMESPACE with -A, says Suspended, and colours statuses on a TTY', () => {
    const suspended = app('web', { spec: { ...app('web').spec, suspend: true } });
    const text = formatApplicationTable([suspended], { now: NOW, color: true, allNamespaces: true });
    expect(text.split('\n')[0]).toMatch(/^NAMESPACE\s+NAME/);
    expect(text).toContain('Suspended');
    expect(text).toContain(`${ESC}32mTrue`);
  });
});

describe('formatRepositoryTable', () => {
  it('shows the URL without credentials and the fetched revisions', () => {
    const text = formatRepositoryTable([repo], { now: NOW, color: false, allNamespaces: false });
    expect(text).not.toContain('token123');
    expect(text).toContain('https://***@git.example.com/team/apps.git');
    expect(text).toContain(`main@${SHA.slice(0, 12)}`);
    expect(text).toMatch(/True\s+3d\s+Fetched\s+fetched main/);
  });
});

describe('formatApplicationDescription', () => {
  const events: KubeEvent[] = [
    {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'e2' },
      type: 'Normal',
      reason: 'Synced',
      message: `${SHA.slice(0, 12)} (web: blue): 1 configured`,
      lastTimestamp: ago(120),
    },
    {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'e1' },
      type: 'Warning',
      reason: 'SyncFailed',
      message: 'forbidden',
      lastTimestamp: ago(3000),
      count: 3,
    },
  ];
  const text = formatApplicationDescription(
    {
      app: app('web', { status: { ...app('web').status, lastError: 'Secret/creds: forbidden' } }),
      repository: repo,
      events,
    },
    { now: NOW, color: false },
  );

  it('summarises the spec with its defaults, hiding inline Helm values and URL credentials', () => {
    expect(text).toMatch(/^Name:\s+web$/m);
    expect(text).toMatch(
      /^Source:\s+Repository apps \(https:\/\/\*\*\*@git\.example\.com\/team\/apps\.git\)$/m,
    );
    expect(text).toMatch(/^Ref:\s+main$/m);
    expect(text).toMatch(/^Path:\s+web$/m);
    expect(text).toMatch(/^Render:\s+helm, release web, values files prod\.yaml, 1 inline values$/m);
    expect(text).toMatch(/^Destination:\s+namespace shop \(the app's\)$/m);
    expect(text).toMatch(/^Sync policy:\s+automated, prune, self-heal$/m);
    expect(text).toMatch(/^Depends on:\s+db$/m);
    expect(text).toMatch(/^Service account:\s+deployer$/m);
    expect(text).toMatch(/^Suspended:\s+false$/m);
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('token123');
  });

  it('lists conditions, the last applied revision, objects, history, the last error and events', () => {
    expect(text).toMatch(
      /Conditions:\n\s+TYPE\s+STATUS\s+REASON\s+AGE\s+MESSAGE\n\s+Ready\s+True\s+Synced\s+90s\s+0123/,
    );
    expect(text).toMatch(/^\s+SHA:\s+0123456789abcdef0123456789abcdef01234567$/m);
    expect(text).toMatch(/^\s+Message:\s+web: blue$/m);
    expect(text).not.toContain('longer body');
    expect(text).toMatch(/^\s+Author:\s+Ada <ada@example\.com>$/m);
    expect(text).toMatch(/^\s+Date:\s+\S+ \(10m ago\)$/m);
    expect(text).toMatch(/^\s+Deployment\.apps\s+shop\s+web\s+configured\s+Current$/m);
    expect(text).toMatch(/^\s+Secret\s+shop\s+creds\s+failed\s+forbidden$/m);
    expect(text).toMatch(
      /History:\n.*\n\s+0123456789ab\s+2m ago\s+Succeeded\s+Current\s+4\.5s\s+1 configured, 1 unchanged/,
    );
    expect(text).toMatch(/Last error:\n\s+Secret\/creds: forbidden/);
    // Oldest first, with repeat counts.
    expect(text).toMatch(
      /Events:\n.*\n\s+Warning\s+SyncFailed\s+50m \(x3\)\s+forbidden\n\s+Normal\s+Synced\s+2m/,
    );
  });

  it('says <none> for an app the controller has not seen yet', () => {
    const fresh = formatApplicationDescription(
      { app: app('new', { status: undefined }), repository: undefined, events: [] },
      { now: NOW, color: false },
    );
    expect(fresh).toMatch(/Source:\s+Repository apps \(not found\)/);
    expect(fresh).toMatch(/Conditions:\n\s+<none>/);
    expect(fresh).toMatch(/Objects:\n\s+<none>/);
    expect(fresh).toMatch(/Events:\n\s+<none>/);
    expect(fresh).not.toContain('Last error');
  });
});

describe('formatObjects', () => {
  it('prints a List as JSON or YAML, without managedFields', () => {
    const json = JSON.parse(formatObjects([app('web')], 'json', true));
    expect(json).toMatchObject({ apiVersion: 'v1', kind: 'List', items: [{ metadata: { name: 'web' } }] });
    expect(json.items[0].metadata.managedFields).toBeUndefined();
    const yaml = parseYaml(formatObjects([app('web')], 'yaml', false));
    expect(yaml).toMatchObject({ kind: 'Application', status: { sync: { status: 'Synced' } } });
  });
});

describe('syncVerdict', () => {
  const withStatus = (conditions: Condition[], request = 'req-2', generation = 3): Application =>
    app('web', { status: { observedGeneration: generation, conditions, lastHandledRequest: request } });

  it('waits until the controller handled this very request', () => {
    const verdict = syncVerdict(app('web'), 'req-2');
    expect(verdict).toMatchObject({ done: false });
    expect(verdict.done || verdict.waitingFor).toBe(
      `the controller to handle the request (is it running?); now Ready=True Synced: ${SHA.slice(0, 12)} applied and healthy (2 objects)`,
    );
    const blocked = app('web', {
      status: {
        conditions: [
          condition('Ready', 'False', 'DependencyNotReady', 'waiting for Application db'),
          condition('Reconciling', 'True', 'DependencyNotReady', 'waiting for Application db'),
        ],
      },
    });
    expect(syncVerdict(blocked, 'req-2')).toEqual({
      done: false,
      waitingFor:
        'the controller to handle the request; meanwhile DependencyNotReady: waiting for Application db',
    });
  });

  it('succeeds on Ready=True, fails on Stalled or on Ready=False with nothing in progress', () => {
    expect(syncVerdict(withStatus([condition('Ready', 'True', 'Synced', 'ok')]), 'req-2')).toEqual({
      done: true,
      ok: true,
      message: 'ok',
    });
    expect(
      syncVerdict(withStatus([condition('Ready', 'False', 'SyncFailed', 'forbidden')]), 'req-2'),
    ).toEqual({
      done: true,
      ok: false,
      message: 'SyncFailed: forbidden',
    });
    expect(
      syncVerdict(
        withStatus([
          condition('Ready', 'False', 'InvalidSpec', 'bad'),
          condition('Stalled', 'True', 'InvalidSpec', 'bad'),
        ]),
        'req-2',
      ),
    ).toMatchObject({ done: true, ok: false, message: 'InvalidSpec: bad' });
  });

  it('keeps waiting while the rollout is in progress or an older generation is reported', () => {
    const progressing = syncVerdict(
      withStatus([
        condition('Ready', 'False', 'Progressing', 'Deployment/web: 0 of 1 ready'),
        condition('Reconciling', 'True', 'Progressing', 'Deployment/web: 0 of 1 ready'),
      ]),
      'req-2',
    );
    expect(progressing).toEqual({
      done: false,
      waitingFor: 'the app to become Ready: Deployment/web: 0 of 1 ready',
    });
    const stale = syncVerdict(withStatus([condition('Ready', 'True', 'Synced', 'ok')], 'req-2', 2), 'req-2');
    expect(stale).toMatchObject({ done: false });
  });
});

describe('progressLines', () => {
  it('reports what changed: reconciling messages, a new revision, readiness and health', () => {
    const before = app('web', {
      status: {
        conditions: [condition('Ready', 'True', 'Synced', 'old ok')],
        health: { status: 'Current' },
        lastAppliedRevision: { sha: 'f'.repeat(40) },
      },
    });
    const rolling = app('web', {
      status: {
        conditions: [
          condition('Ready', 'False', 'Progressing', 'Deployment/web: 0 of 1 ready'),
          condition('Reconciling', 'True', 'Progressing', 'Deployment/web: 0 of 1 ready'),
        ],
        health: { status: 'InProgress' },
        lastAppliedRevision: { sha: SHA, message: 'web: blue\nbody' },
      },
    });
    expect(progressLines(before, rolling)).toEqual([
      `applied ${SHA.slice(0, 12)} (web: blue)`,
      'reconciling: Deployment/web: 0 of 1 ready',
      'health: InProgress',
    ]);
    expect(progressLines(rolling, rolling)).toEqual([]);
    const done = app('web', {
      status: {
        ...rolling.status,
        conditions: [condition('Ready', 'True', 'Synced', 'all good')],
        health: { status: 'Current' },
      },
    });
    expect(progressLines(rolling, done)).toEqual(['ready: True (Synced) all good', 'health: Current']);
  });
});
