import { describe, expect, it } from 'vitest';
import type { Application, Repository } from '../api/v1alpha1.js';
import type { AppSpec } from '../engine/app.js';
import type { Engine, SyncOptions, SyncResult } from '../engine/sync.js';
import type { KubeClient } from '../kube/index.js';
import type { Revision } from '../source/index.js';
import type { CheckDeps } from './app-checks.js';
import {
  controllerPreparer,
  previewApplication,
  PreviewUnavailableError,
  type PreviewDeps,
} from './preview.js';
import type { RepositoryAccess } from './repository.js';
import type { ServiceAccountRef } from './tenancy.js';

const HEAD = 'b'.repeat(40);
const APPLIED = 'a'.repeat(40);
const NOW = new Date('2026-12-01T10:00:00Z');

function revision(sha: string): Revision {
  return { sha, ref: 'refs/heads/main', message: 'a commit', author: { name: 'a', email: 'a@x' }, date: '' };
}

function application(
  spec: Partial<Application['spec']> = {},
  status: Application['status'] = {},
): Application {
  return {
    apiVersion: 'capstan.dev/v1alpha1',
    kind: 'Application',
    metadata: { namespace: 'team-a', name: 'web', uid: 'uid-web', generation: 3 },
    spec: { sourceRef: { name: 'apps' }, ref: 'main', path: 'web', serviceAccountName: 'deployer', ...spec },
    status,
  };
}

const repository: Repository = {
  apiVersion: 'capstan.dev/v1alpha1',
  kind: 'Repository',
  metadata: { namespace: 'team-a', name: 'apps' },
  spec: { url: 'https://git.example/apps.git' },
};

/** An engine that records what it was asked to sync, and answers "nothing changes". */
function recordingEngine(): Engine & { synced: { app: AppSpec; options: SyncOptions }[] } {
  const synced: { app: AppSpec; options: SyncOptions }[] = [];
  return {
    synced,
    async sync(app, options): Promise<SyncResult> {
      synced.push({ app, options });
      return {
        app: app.identity,
        mode: options.mode,
        revision: { id: app.source.type === 'git' ? (app.source.revision?.sha ?? '') : '' },
        renderKind: 'plain',
        objects: [
          { ref: { group: '', kind: 'ConfigMap', namespace: 'team-a', name: 'x' }, action: 'unchanged' },
        ],
        changed: false,
        failed: false,
      };
    },
    uninstall: async () => ({ objects: [], failed: false }) as never,
  };
}

function setup(options: { apps?: Application[]; managed?: boolean; tenancy?: CheckDeps['tenancy'] } = {}) {
  const engine = recordingEngine();
  const identities: string[] = [];
  const client = { get: async () => undefined } as unknown as KubeClient;
  const apps = new Map((options.apps ?? []).map((a) => [a.metadata.name, a]));
  const checks: CheckDeps = {
    applications: { get: (name) => apps.get(name) },
    repositories: { get: (name) => (name === 'apps' ? repository : undefined) },
    tenancy: options.tenancy ?? {},
  };
  const access = {
    source: async () => ({ url: 'https://git.example/apps.git' }),
    revision: async (_repo: Repository, ref: string) => revision(ref === 'main' ? HEAD : ref),
  } as unknown as RepositoryAccess;
  const deps: PreviewDeps = {
    prepare: controllerPreparer({
      checks,
      manages: () => options.managed ?? true,
      engineFor: (serviceAccount: ServiceAccountRef) => {
        identities.push(`engine ${serviceAccount.namespace}/${serviceAccount.name}`);
        return engine;
      },
      clientFor: (serviceAccount: ServiceAccountRef) => {
        identities.push(`client ${serviceAccount.namespace}/${serviceAccount.name}`);
        return client;
      },
    }),
    access,
    application: async (_ns, name) => apps.get(name),
    repository: async (_ns, name) => (name === 'apps' ? repository : undefined),
    now: () => NOW,
  };
  return { deps, engine, identities };
}

describe('previewApplication in the controller', () => {
  it("dry-runs the head as the app's ServiceAccount, with the engine its syncs use", async () => {
    const { deps, engine, identities } = setup();
    const preview = await previewApplication(deps, application());
    expect(identities).toEqual(['engine team-a/deployer', 'client team-a/deployer']);
    expect(engine.synced).toHaveLength(1);
    const [{ app, options }] = engine.synced as [{ app: AppSpec; options: SyncOptions }];
    expect(options.mode).toBe('diff');
    expect(app.source).toMatchObject({ type: 'git', ref: 'main', path: 'web', revision: { sha: HEAD } });
    expect(preview).toMatchObject({
      revision: HEAD,
      actor: 'ServiceAccount team-a/deployer',
      unchanged: 1,
      objects: [],
      notes: [],
    });
  });

  it('refuses what a reconcile would refuse, before anything is rendered', async () => {
    const noServiceAccount = setup();
    await expect(
      previewApplication(noServiceAccount.deps, application({ serviceAccountName: undefined })),
    ).rejects.toThrow(PreviewUnavailableError);
    await expect(
      previewApplication(noServiceAccount.deps, application({ serviceAccountName: undefined })),
    ).rejects.toThrow(/ServiceAccountRequired/);
    expect(noServiceAccount.engine.synced).toEqual([]);

    const elsewhere = setup({ managed: false });
    await expect(previewApplication(elsewhere.deps, application())).rejects.toThrow(
      /does not reconcile this Application/,
    );
    expect(elsewhere.identities).toEqual([]);
  });

  it('uses the default ServiceAccount the controller would, never its own client', async () => {
    const { deps, identities } = setup({
      tenancy: { defaultServiceAccount: { scope: 'namespace', name: 'applier' } },
    });
    const preview = await previewApplication(deps, application({ serviceAccountName: undefined }));
    expect(identities).toEqual(['engine team-a/applier', 'client team-a/applier']);
    expect(preview.actor).toBe('ServiceAccount team-a/applier');
  });

  it('previews the revision a rollback holds, not the rejected head', async () => {
    const { deps, engine } = setup();
    const app = application(
      {},
      {
        lastAppliedRevision: { sha: APPLIED, message: 'good' },
        rejectedRevisions: [{ sha: HEAD, reason: 'unhealthy', rejectedAt: NOW.toISOString() }],
        rollback: { from: HEAD, to: APPLIED, at: NOW.toISOString(), automatic: true, reason: 'unhealthy' },
      },
    );
    const preview = await previewApplication(deps, app);
    expect(engine.synced[0]!.app.source).toMatchObject({ revision: { sha: APPLIED } });
    expect(preview.notes.join(' ')).toContain('is rejected');
    // The Application itself is never changed by a preview.
    expect(app.status?.rollback?.to).toBe(APPLIED);
  });

  it('previews the revision applied last while a dependency holds the new one', async () => {
    const db: Application = {
      ...application(),
      metadata: { namespace: 'team-a', name: 'db', uid: 'uid-db', generation: 1 },
      status: { conditions: [] },
    };
    const { deps, engine } = setup({ apps: [db] });
    const app = application(
      { dependsOn: [{ name: 'db' }] },
      { lastAppliedRevision: { sha: APPLIED }, lastAppliedGeneration: 3 },
    );
    const preview = await previewApplication(deps, app);
    expect(engine.synced[0]!.app.source).toMatchObject({ revision: { sha: APPLIED } });
    expect(preview.notes.join(' ')).toContain('waiting for Application db');
  });

  it('previews a suspended app as if resumed, and says so', async () => {
    const { deps, engine } = setup();
    const preview = await previewApplication(deps, application({ suspend: true }));
    expect(engine.synced).toHaveLength(1);
    expect(preview.notes).toContain('Reconciliation is suspended: this is what resuming it would change.');
  });
});
