/**
 * AccessPolicy against the real control plane: the cluster-scoped CRD, the policy index reading it
 * through a real watch, and the engine refusing a render before it touches anything.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { crds } from '../../src/api/crds.js';
import { API_VERSION, type AccessPolicy } from '../../src/api/v1alpha1.js';
import { startPolicyIndex, type PolicyIndex } from '../../src/controller/policies.js';
import { PolicyViolationError, type EffectivePolicy } from '../../src/plan/index.js';
import { freshNamespace, kubectl, kubectlOk } from '../support/cluster.js';
import { actions, configMap, createTestEngine, gitApp, type TestEngine } from '../support/engine.js';
import { createTestRepo, makeTempDir } from '../support/git-servers.js';
import { sleep } from '../../src/core/time.js';

let t: TestEngine;
let index: PolicyIndex;
const stop = new AbortController();

beforeAll(async () => {
  t = await createTestEngine();
  for (const crd of crds()) await t.kube.apply(crd, { force: true });
  await kubectlOk(['wait', '--for=condition=Established', 'crd/accesspolicies.capstan.dev', '--timeout=60s']);
  await t.kube.mapper.waitForMapping('capstan.dev', 'AccessPolicy', { timeoutMs: 30_000 });
  index = startPolicyIndex(t.kube, { signal: stop.signal });
  await index.synced;
});
afterAll(async () => {
  stop.abort();
  await index?.stopped;
  t.close();
});

/** Creates (or replaces) a cluster-scoped AccessPolicy, deleted when the test finishes. */
async function putPolicy(name: string, spec: AccessPolicy['spec']): Promise<void> {
  const policy: AccessPolicy = { apiVersion: API_VERSION, kind: 'AccessPolicy', metadata: { name }, spec };
  await t.kube.apply(policy, { force: true });
  onTestFinished(async () => {
    await kubectl(['delete', 'accesspolicies.capstan.dev', name, '--ignore-not-found']);
  });
}

/** The policy binding `namespace`, once the index has seen `check` hold for it. */
async function policyFor(
  namespace: string,
  check: (policy: EffectivePolicy) => boolean,
): Promise<EffectivePolicy> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const policy = index.forNamespace(namespace);
    if (policy && check(policy)) return policy;
    if (Date.now() > deadline) throw new Error(`the policy index never saw the policy of ${namespace}`);
    await sleep(100);
  }
}

async function exists(kind: string, name: string, namespace?: string): Promise<boolean> {
  const scope = namespace ? ['-n', namespace] : [];
  const out = await kubectlOk(['get', kind, name, ...scope, '--ignore-not-found', '-o', 'name']);
  return out.trim() !== '';
}

async function refusal(promise: Promise<unknown>): Promise<PolicyViolationError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PolicyViolationError);
  return error as PolicyViolationError;
}

const clusterRoleBinding = (name: string, namespace: string): string =>
  JSON.stringify({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
    subjects: [{ kind: 'ServiceAccount', name: 'default', namespace }],
  });

const configMapIn = (name: string, namespace: string): string =>
  JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data: { a: '1' } });

describe('AccessPolicy', () => {
  it('is cluster-scoped, defaulted and validated by the API server', async () => {
    const name = `capstan-test-${Date.now().toString(36)}`;
    await putPolicy(name, { namespaces: ['nothing-binds-this-*'] });
    const stored = JSON.parse(await kubectlOk(['get', 'accesspolicies.capstan.dev', name, '-o', 'json']));
    expect(stored.metadata.namespace).toBeUndefined();
    expect(stored.spec).toEqual({
      namespaces: ['nothing-binds-this-*'],
      destinationNamespaces: [],
      clusterResources: [],
      namespacedResources: { deny: [] },
      sourceUrls: [],
      serviceAccounts: [],
    });
    const invalid = await kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: API_VERSION,
        kind: 'AccessPolicy',
        metadata: { name: `${name}-bad` },
        spec: { namespaces: ['Team_A'], clusterResources: [{ kind: 'ClusterRole' }] },
      }),
    });
    expect(invalid.code).not.toBe(0);
    expect(invalid.stderr).toMatch(/spec\.namespaces\[0\]/);
    expect(invalid.stderr).toMatch(/spec\.clusterResources\[0\]\.group: Required value/);
  });

  it('refuses a render that leaves its namespace: every violation named, nothing created', async () => {
    const namespace = await freshNamespace('policy');
    const other = await freshNamespace('policy-other');
    const binding = `capstan-test-${namespace}`;
    onTestFinished(async () => {
      await kubectl(['delete', 'clusterrolebinding', binding, '--ignore-not-found']);
    });
    await putPolicy(namespace, { namespaces: [namespace] });
    const repo = await createTestRepo(await makeTempDir('repo'));
    await repo.commit({
      'app/ok.yaml': configMap('ok', { a: '1' }),
      'app/binding.yaml': clusterRoleBinding(binding, namespace),
      'app/elsewhere.yaml': configMapIn('elsewhere', other),
    });
    const policy = await policyFor(namespace, (p) => p.policies.length === 1);
    const app = gitApp(repo.fileUrl, namespace, 'app', { policy });

    for (const mode of ['diff', 'apply'] as const) {
      const error = await refusal(t.sync(app, mode));
      expect(error.violations.map((v) => v.message).sort()).toEqual([
        `ClusterRoleBinding/${binding}: cluster-scoped kinds are not allowed by AccessPolicy ${namespace}`,
        `ConfigMap/elsewhere in ${other}: namespace ${other} is not allowed by AccessPolicy ${namespace} (destinationNamespaces)`,
      ]);
      expect(error.message).toMatch(/^2 AccessPolicy violation\(s\): /);
      expect(error.kind).toBe('user');
    }

    // Nothing at all was written, not even what the policy allows, nor the inventory.
    expect(await exists('clusterrolebinding', binding)).toBe(false);
    expect(await exists('configmap', 'elsewhere', other)).toBe(false);
    expect(await exists('configmap', 'ok', namespace)).toBe(false);
    expect(await exists('configmap', 'capstan-inventory-app', namespace)).toBe(false);
  });

  it('refuses a source URL outside sourceUrls before fetching anything', async () => {
    const namespace = await freshNamespace('policy');
    await putPolicy(namespace, { namespaces: [namespace], sourceUrls: ['https://git.example.com/team-a'] });
    const repo = await createTestRepo(await makeTempDir('repo'));
    await repo.commit({ 'app/ok.yaml': configMap('ok', { a: '1' }) });
    const policy = await policyFor(namespace, (p) => p.policies[0]?.valid === true);
    const eventsBefore = t.events.length;
    const error = await refusal(t.sync(gitApp(repo.fileUrl, namespace, 'app', { policy })));
    expect(error.violations).toMatchObject([{ policy: namespace, rule: 'sourceUrls' }]);
    expect(error.message).toContain('file:// URLs never match a prefix');
    // Refused before the source stage began: nothing was resolved or fetched.
    expect(t.events.slice(eventsBefore).some((e) => e.type === 'stage' && e.stage === 'source')).toBe(false);
    expect(await exists('configmap', 'ok', namespace)).toBe(false);
  });

  it('judges scope by what the API server serves: a rendered "CRD" cannot make a cluster-scoped kind namespaced', async () => {
    const namespace = await freshNamespace('policy');
    const binding = `capstan-test-scope-${namespace}`;
    onTestFinished(async () => {
      await kubectl(['delete', 'clusterrolebinding', binding, '--ignore-not-found']);
    });
    await putPolicy(namespace, { namespaces: [namespace] });
    const repo = await createTestRepo(await makeTempDir('repo'));
    // The red team's bypass: an object named like a CRD (but in the core group, so never a real
    // one) declaring ClusterRoleBinding namespaced, and the binding with a namespace.
    await repo.commit({
      'app/lie.yaml': JSON.stringify({
        apiVersion: 'v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: 'scope-lie', namespace, annotations: { 'capstan.dev/wave': '9' } },
        spec: {
          group: 'rbac.authorization.k8s.io',
          scope: 'Namespaced',
          names: { kind: 'ClusterRoleBinding' },
        },
      }),
      'app/binding.yaml': JSON.stringify({
        ...JSON.parse(clusterRoleBinding(binding, namespace)),
        metadata: { name: binding, namespace },
      }),
    });
    const policy = await policyFor(namespace, (p) => p.policies.length === 1);
    const error = await refusal(t.sync(gitApp(repo.fileUrl, namespace, 'app', { policy })));
    expect(error.violations.map((v) => v.message)).toContain(
      `ClusterRoleBinding/${binding}: cluster-scoped kinds are not allowed by AccessPolicy ${namespace}`,
    );
    expect(await exists('clusterrolebinding', binding)).toBe(false);
  });

  it('never writes a cluster-scoped object under a namespace it names: refused, not sent cluster-wide', async () => {
    const binding = `capstan-test-ns-${Date.now().toString(36)}`;
    onTestFinished(async () => {
      await kubectl(['delete', 'clusterrolebinding', binding, '--ignore-not-found']);
    });
    const object = {
      ...JSON.parse(clusterRoleBinding(binding, 'default')),
      metadata: { name: binding, namespace: 'default' },
    };
    await expect(t.kube.apply(object, { force: true })).rejects.toThrow(
      /is cluster-scoped but names namespace "default"/,
    );
    expect(await exists('clusterrolebinding', binding)).toBe(false);
  });

  it('lets an allowed render through, and a later refused one neither applies nor prunes', async () => {
    const namespace = await freshNamespace('policy');
    const other = await freshNamespace('policy-other');
    const binding = `capstan-test-${namespace}`;
    onTestFinished(async () => {
      await kubectl(['delete', 'clusterrolebinding', binding, '--ignore-not-found']);
    });
    await putPolicy(namespace, {
      namespaces: [namespace],
      destinationNamespaces: [`${other.slice(0, -4)}*`],
      clusterResources: [{ group: 'rbac.authorization.k8s.io', kind: 'ClusterRoleBinding' }],
      namespacedResources: { deny: [{ group: '', kind: 'Secret' }] },
    });
    const repo = await createTestRepo(await makeTempDir('repo'));
    await repo.commit({
      'app/ok.yaml': configMap('ok', { a: '1' }),
      'app/binding.yaml': clusterRoleBinding(binding, namespace),
      'app/elsewhere.yaml': configMapIn('elsewhere', other),
    });
    const allowing = await policyFor(namespace, (p) => p.policies[0]?.valid === true);
    const app = gitApp(repo.fileUrl, namespace, 'app', { policy: allowing });

    expect(actions(await t.sync(app))).toEqual({
      [`ClusterRoleBinding/${binding}`]: 'created',
      'ConfigMap/ok': 'created',
      'ConfigMap/elsewhere': 'created',
    });

    // The next commit drops two objects (prune would delete them) and adds a denied Secret.
    await repo.commit({
      'app/binding.yaml': null,
      'app/elsewhere.yaml': null,
      'app/secret.yaml': JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'token' },
        stringData: { token: 'x' },
      }),
    });
    const error = await refusal(t.sync(app));
    expect(error.violations.map((v) => v.message)).toEqual([
      `Secret/token in ${namespace}: kind Secret is denied by AccessPolicy ${namespace} (namespacedResources.deny)`,
    ]);
    expect(await exists('secret', 'token', namespace)).toBe(false);
    expect(await exists('clusterrolebinding', binding)).toBe(true);
    expect(await exists('configmap', 'elsewhere', other)).toBe(true);
  });
});
