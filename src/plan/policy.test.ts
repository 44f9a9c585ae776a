import { describe, expect, it } from 'vitest';
import { accessPolicySpecSchema, type AccessPolicy } from '../api/v1alpha1.js';
import { isCapstanError } from '../core/errors.js';
import type { KubeObject } from '../core/objects.js';
import { parseRepoUrl } from '../source/url.js';
import {
  assertObjectsAllowed,
  checkObjects,
  checkServiceAccount,
  checkSourceUrl,
  compilePolicy,
  effectivePolicyFor,
  invalidPolicy,
  PolicyViolationError,
  type BoundPolicy,
  type EffectivePolicy,
} from './policy.js';

/** A policy as the API server would store it (defaults applied). */
function policy(name: string, spec: AccessPolicy['spec']): BoundPolicy {
  return compilePolicy(name, accessPolicySpecSchema.parse(spec));
}

const effective = (...policies: BoundPolicy[]): EffectivePolicy => ({ policies });

const object = (apiVersion: string, kind: string, name: string, namespace?: string): KubeObject => ({
  apiVersion,
  kind,
  metadata: namespace ? { name, namespace } : { name },
});
const configMap = (name: string, namespace: string) => object('v1', 'ConfigMap', name, namespace);
const secret = (name: string, namespace: string) => object('v1', 'Secret', name, namespace);
const clusterRoleBinding = (name: string) =>
  object('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', name);
const namespaceObject = (name: string) => object('v1', 'Namespace', name);

const messages = (p: EffectivePolicy, appNamespace: string, objects: KubeObject[]) =>
  checkObjects(p, appNamespace, objects).map((v) => v.message);

describe('AccessPolicy: which policies bind a namespace', () => {
  const teamA = policy('team-a', { namespaces: ['team-a'] });
  const teams = policy('teams', { namespaces: ['team-*', 'ops'] });

  it('matches names and globs, and sorts the binding policies by name', () => {
    expect(effectivePolicyFor([teams, teamA], 'team-a')?.policies.map((p) => p.name)).toEqual([
      'team-a',
      'teams',
    ]);
    expect(effectivePolicyFor([teams, teamA], 'team-b')?.policies.map((p) => p.name)).toEqual(['teams']);
    expect(effectivePolicyFor([teams, teamA], 'ops')?.policies.map((p) => p.name)).toEqual(['teams']);
  });

  it('gives no policy (only RBAC) where none binds', () => {
    expect(effectivePolicyFor([teams, teamA], 'other')).toBeUndefined();
    expect(effectivePolicyFor([teams, teamA], 'ops-2')).toBeUndefined();
  });

  it('binds every namespace with an invalid policy whose namespaces cannot be read', () => {
    const broken = invalidPolicy('broken', 'spec.namespaces: required');
    expect(effectivePolicyFor([broken], 'anything')?.policies).toEqual([broken]);
    const scoped = invalidPolicy('scoped', 'spec.clusterResources: bad', ['team-*']);
    expect(effectivePolicyFor([scoped], 'team-x')?.policies).toEqual([scoped]);
    expect(effectivePolicyFor([scoped], 'other')).toBeUndefined();
  });
});

describe('AccessPolicy: objects', () => {
  it('allows namespaced objects in the app namespace with the defaults', () => {
    const p = effective(policy('team-a', { namespaces: ['team-a'] }));
    expect(checkObjects(p, 'team-a', [configMap('a', 'team-a'), secret('s', 'team-a')])).toEqual([]);
  });

  it('refuses other namespaces unless destinationNamespaces allows them (globs)', () => {
    const strict = effective(policy('team-a', { namespaces: ['team-a'] }));
    expect(messages(strict, 'team-a', [configMap('a', 'team-b')])).toEqual([
      'ConfigMap/a in team-b: namespace team-b is not allowed by AccessPolicy team-a (destinationNamespaces)',
    ]);
    const wider = effective(
      policy('team-a', { namespaces: ['team-a'], destinationNamespaces: ['team-a-*'] }),
    );
    expect(checkObjects(wider, 'team-a', [configMap('a', 'team-a-web'), configMap('b', 'team-a')])).toEqual(
      [],
    );
    expect(messages(wider, 'team-a', [configMap('a', 'team-ab')])).toHaveLength(1);
  });

  it('refuses cluster-scoped kinds by default', () => {
    const p = effective(policy('team-a', { namespaces: ['team-a'] }));
    expect(checkObjects(p, 'team-a', [clusterRoleBinding('x')])).toEqual([
      {
        policy: 'team-a',
        rule: 'clusterResources',
        object: { group: 'rbac.authorization.k8s.io', kind: 'ClusterRoleBinding', name: 'x' },
        message: 'ClusterRoleBinding/x: cluster-scoped kinds are not allowed by AccessPolicy team-a',
      },
    ]);
  });

  it('allows listed cluster-scoped kinds, by group and kind with globs', () => {
    const p = effective(
      policy('team-a', {
        namespaces: ['team-a'],
        clusterResources: [
          { group: 'rbac.authorization.k8s.io', kind: 'ClusterRole' },
          { group: '*.example.com', kind: '*' },
        ],
      }),
    );
    expect(
      checkObjects(p, 'team-a', [
        object('rbac.authorization.k8s.io/v1', 'ClusterRole', 'r'),
        object('widgets.example.com/v1', 'Widget', 'w'),
      ]),
    ).toEqual([]);
    expect(messages(p, 'team-a', [clusterRoleBinding('x'), object('example.com/v1', 'Widget', 'w')])).toEqual(
      [
        'ClusterRoleBinding/x: cluster-scoped kind rbac.authorization.k8s.io/ClusterRoleBinding is not allowed by AccessPolicy team-a (clusterResources)',
        'Widget/w: cluster-scoped kind example.com/Widget is not allowed by AccessPolicy team-a (clusterResources)',
      ],
    );
  });

  it('allows a Namespace only when listed, and only with a name it may deploy into', () => {
    const unlisted = effective(
      policy('team-a', { namespaces: ['team-a'], destinationNamespaces: ['team-a-*'] }),
    );
    expect(messages(unlisted, 'team-a', [namespaceObject('team-a-web')])).toEqual([
      'Namespace/team-a-web: cluster-scoped kinds are not allowed by AccessPolicy team-a',
    ]);
    const listed = effective(
      policy('team-a', {
        namespaces: ['team-a'],
        destinationNamespaces: ['team-a-*'],
        clusterResources: [{ group: '', kind: 'Namespace' }],
      }),
    );
    expect(
      checkObjects(listed, 'team-a', [namespaceObject('team-a-web'), namespaceObject('team-a')]),
    ).toEqual([]);
    expect(messages(listed, 'team-a', [namespaceObject('kube-system')])).toEqual([
      'Namespace/kube-system: namespace kube-system is not allowed by AccessPolicy team-a (destinationNamespaces)',
    ]);
    // Even a wildcard over cluster-scoped kinds creates no namespace outside the destinations.
    const any = effective(
      policy('team-a', { namespaces: ['team-a'], clusterResources: [{ group: '*', kind: '*' }] }),
    );
    expect(messages(any, 'team-a', [namespaceObject('kube-system')])).toHaveLength(1);
    // A custom resource called Namespace is not one.
    expect(checkObjects(any, 'team-a', [object('example.com/v1', 'Namespace', 'kube-system')])).toEqual([]);
  });

  it('lets deny win over allow for namespaced kinds', () => {
    const p = effective(
      policy('team-a', {
        namespaces: ['team-a'],
        namespacedResources: {
          allow: [{ group: '', kind: '*' }],
          deny: [{ group: '', kind: 'Secret' }],
        },
      }),
    );
    expect(messages(p, 'team-a', [configMap('c', 'team-a'), secret('s', 'team-a')])).toEqual([
      'Secret/s in team-a: kind Secret is denied by AccessPolicy team-a (namespacedResources.deny)',
    ]);
    expect(messages(p, 'team-a', [object('apps/v1', 'Deployment', 'd', 'team-a')])).toEqual([
      'Deployment/d in team-a: kind apps/Deployment is not allowed by AccessPolicy team-a (namespacedResources.allow)',
    ]);
  });

  it('reads an empty allow list as "no namespaced kind"', () => {
    const p = effective(policy('none', { namespaces: ['team-a'], namespacedResources: { allow: [] } }));
    expect(messages(p, 'team-a', [configMap('c', 'team-a')])).toHaveLength(1);
  });

  it('requires every binding policy to allow (two policies intersect)', () => {
    const wide = policy('wide', {
      namespaces: ['team-*'],
      destinationNamespaces: ['*'],
      clusterResources: [{ group: '*', kind: '*' }],
    });
    const narrow = policy('narrow', {
      namespaces: ['team-a'],
      destinationNamespaces: ['shared'],
      namespacedResources: { deny: [{ group: '', kind: 'Secret' }] },
    });
    const p = effectivePolicyFor([wide, narrow], 'team-a')!;
    expect(checkObjects(p, 'team-a', [configMap('a', 'shared')])).toEqual([]);
    expect(
      messages(p, 'team-a', [configMap('a', 'elsewhere'), secret('s', 'team-a'), clusterRoleBinding('x')]),
    ).toEqual([
      'ConfigMap/a in elsewhere: namespace elsewhere is not allowed by AccessPolicy narrow (destinationNamespaces)',
      'Secret/s in team-a: kind Secret is denied by AccessPolicy narrow (namespacedResources.deny)',
      'ClusterRoleBinding/x: cluster-scoped kinds are not allowed by AccessPolicy narrow',
    ]);
    // The wide one alone, where the narrow one does not bind, allows all of it.
    expect(
      checkObjects(effectivePolicyFor([wide, narrow], 'team-b')!, 'team-b', [
        configMap('a', 'elsewhere'),
        clusterRoleBinding('x'),
      ]),
    ).toEqual([]);
  });

  it('fails closed on an invalid policy: it allows nothing and says why', () => {
    const broken = invalidPolicy('broken', 'spec.clusterResources.0.kind: too long', ['team-a']);
    const p = effectivePolicyFor([broken, policy('ok', { namespaces: ['team-a'] })], 'team-a')!;
    expect(messages(p, 'team-a', [configMap('a', 'team-a')])).toEqual([
      'ConfigMap/a in team-a: AccessPolicy broken is invalid and allows nothing until it is fixed (spec.clusterResources.0.kind: too long)',
    ]);
  });

  it.each([
    ['https://git.example.com/team-*', 'no wildcards'],
    ['https://user:pw@git.example.com/team-a', 'password'],
    ['https://git.example.com/team-a?x=1', 'query'],
    ['https://git.example.com/team-a/../team-b', '".."'],
  ])('fails closed on the sourceUrls entry %j', (entry, reason) => {
    const p = policy('bad-url', { namespaces: ['team-a'], sourceUrls: ['https://ok.example/', entry] });
    expect(p).toMatchObject({ valid: false, namespaces: ['team-a'] });
    const problem = p.valid ? '' : p.problem;
    expect(problem).toMatch(/^spec\.sourceUrls\[1\]: '.*' is not a URL prefix: /);
    expect(problem).toContain(reason);
    expect(problem).not.toContain(':pw@');
    expect(checkObjects(effective(p), 'team-a', [configMap('a', 'team-a')])[0]?.rule).toBe('invalid');
    expect(checkSourceUrl(effective(p), 'https://ok.example/x')?.rule).toBe('invalid');
  });

  it('throws one user error listing at most ten violations and the count', () => {
    const p = effective(policy('team-a', { namespaces: ['team-a'] }));
    const objects = Array.from({ length: 12 }, (_, i) => configMap(`c${i}`, 'elsewhere'));
    let thrown: unknown;
    try {
      assertObjectsAllowed(p, 'team-a', objects);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(PolicyViolationError);
    expect(isCapstanError(thrown) && thrown.kind).toBe('user');
    const error = thrown as PolicyViolationError;
    expect(error.violations).toHaveLength(12);
    expect(error.message).toMatch(/^12 AccessPolicy violation\(s\): ConfigMap\/c0 in elsewhere: /);
    expect(error.message).toContain('ConfigMap/c9 in elsewhere');
    expect(error.message).not.toContain('ConfigMap/c10 ');
    expect(error.message).toMatch(/; and 2 more$/);
    expect(() => assertObjectsAllowed(p, 'team-a', [configMap('ok', 'team-a')])).not.toThrow();
  });
});

describe('AccessPolicy: source URLs', () => {
  const restricted = policy('team-a', {
    namespaces: ['team-a'],
    sourceUrls: ['https://git.example.com/team-a', 'ssh://git@github.com/acme/'],
  });
  const allowed = (url: string, p: BoundPolicy = restricted) =>
    checkSourceUrl(effective(p), url) === undefined;

  it('allows any URL when no policy lists sourceUrls', () => {
    expect(allowed('https://evil.example/x', policy('open', { namespaces: ['*'] }))).toBe(true);
  });

  it('allows the prefix and what lies below it, at whole path segments only', () => {
    expect(allowed('https://git.example.com/team-a/app.git')).toBe(true);
    expect(allowed('https://git.example.com/team-a/group/app')).toBe(true);
    expect(allowed('https://GIT.example.com:443/team-a/app/')).toBe(true);
    expect(allowed('https://git.example.com/team-a-other/app')).toBe(false);
    expect(allowed('https://git.example.com/team/a')).toBe(false);
    expect(allowed('https://git.example.com/other/team-a')).toBe(false);
    expect(allowed('ssh://git@github.com/acme/app')).toBe(true);
    expect(checkSourceUrl(effective(restricted), parseRepoUrl('ssh://git@github.com/acme/app.git'))).toBe(
      undefined,
    );
  });

  it('requires the same scheme, host and port', () => {
    expect(allowed('http://git.example.com/team-a/app')).toBe(false);
    expect(allowed('ssh://git.example.com/team-a/app')).toBe(false);
    expect(allowed('https://git.example.com:8443/team-a/app')).toBe(false);
    expect(allowed('https://git.example.com.evil.io/team-a/app')).toBe(false);
  });

  it('refuses URLs that parsers could read two ways, and URLs it cannot match', () => {
    const host = policy('host', { namespaces: ['team-a'], sourceUrls: ['https://git.example.com/'] });
    expect(allowed('https://git.example.com/any/app', host)).toBe(true);
    // WHATWG reads git.example.com and a path; curl reads user `git.example.com\` at evil.io.
    expect(allowed('https://git.example.com\\@evil.io/team-a/app', host)).toBe(false);
    expect(allowed('https://git.example.com/team-a/%2e%2e/team-b/app')).toBe(false);
    expect(allowed('https://git.example.com/team-a/..%2fteam-b/app')).toBe(false);
    expect(allowed('file:///srv/git/team-a/app', host)).toBe(false);
    expect(checkSourceUrl(effective(restricted), 'ext::sh -c evil')?.message).toMatch(
      /AccessPolicy team-a cannot check it against sourceUrls/,
    );
  });

  it('refuses others, naming the URL (redacted), the policy and the prefixes', () => {
    const violation = checkSourceUrl(
      effective(restricted),
      'https://user@git.example.com/team-a-evil/app?token=s3cret',
    );
    expect(violation).toMatchObject({ policy: 'team-a', rule: 'sourceUrls' });
    expect(violation?.message).toMatch(
      /^repository URL 'https:\/\/\*\*\*@git\.example\.com\/team-a-evil\/app/,
    );
    expect(violation?.message).toContain(
      "not under 'https://git.example.com/team-a', 'ssh://git@github.com/acme/', as AccessPolicy team-a requires (sourceUrls)",
    );
    expect(violation?.message).not.toContain('s3cret');
  });

  it('requires every policy to allow the URL, and an invalid one allows none', () => {
    const other = policy('other', { namespaces: ['team-a'], sourceUrls: ['https://git.example.com/'] });
    const both = effective(restricted, other);
    expect(checkSourceUrl(both, 'https://git.example.com/team-a/app')).toBeUndefined();
    expect(checkSourceUrl(both, 'ssh://git@github.com/acme/app')?.policy).toBe('other');
    expect(
      checkSourceUrl(effective(invalidPolicy('broken', 'bad')), 'https://git.example.com/team-a/app')?.rule,
    ).toBe('invalid');
  });
});

describe('AccessPolicy schema', () => {
  it('defaults to: own namespace only, no cluster-scoped kinds, every namespaced kind, any URL', () => {
    expect(accessPolicySpecSchema.parse({ namespaces: ['team-a'] })).toEqual({
      namespaces: ['team-a'],
      destinationNamespaces: [],
      clusterResources: [],
      namespacedResources: { deny: [] },
      sourceUrls: [],
      serviceAccounts: [],
    });
  });

  it('refuses what cannot be a namespace glob or a kind', () => {
    expect(accessPolicySpecSchema.safeParse({ namespaces: [] }).success).toBe(false);
    expect(accessPolicySpecSchema.safeParse({ namespaces: ['Team_A'] }).success).toBe(false);
    expect(accessPolicySpecSchema.safeParse({ namespaces: ['team-*'] }).success).toBe(true);
    expect(
      accessPolicySpecSchema.safeParse({
        namespaces: ['a'],
        clusterResources: [{ group: 'rbac.authorization.k8s.io', kind: 'Cluster Role' }],
      }).success,
    ).toBe(false);
    expect(
      accessPolicySpecSchema.safeParse({ namespaces: ['a'], clusterResources: [{ kind: 'ClusterRole' }] })
        .success,
    ).toBe(false);
  });
});

describe('AccessPolicy: which ServiceAccounts apply', () => {
  const sa = (namespace: string, name: string) => ({ namespace, name });

  it("allows only the Application's own namespace by default", () => {
    const p = effective(policy('team-a', { namespaces: ['team-a'] }));
    expect(checkServiceAccount(p, 'team-a', sa('team-a', 'anything'))).toBeUndefined();
    // --default-service-account capstan-system/capstan-applier would make a tenant cluster-admin.
    expect(checkServiceAccount(p, 'team-a', sa('capstan-system', 'capstan-applier'))?.message).toBe(
      "ServiceAccount capstan-system/capstan-applier: not allowed by AccessPolicy team-a (serviceAccounts: default, the Application's own namespace only)",
    );
  });

  it('allows the names it lists: NAME in the own namespace, NAMESPACE/NAME anywhere, with globs', () => {
    const p = effective(
      policy('team-a', { namespaces: ['team-a'], serviceAccounts: ['deploy-*', 'shared/reader'] }),
    );
    expect(checkServiceAccount(p, 'team-a', sa('team-a', 'deploy-web'))).toBeUndefined();
    expect(checkServiceAccount(p, 'team-a', sa('shared', 'reader'))).toBeUndefined();
    expect(checkServiceAccount(p, 'team-a', sa('team-a', 'admin'))?.rule).toBe('serviceAccounts');
    // A bare name never matches another namespace's ServiceAccount of that name.
    expect(checkServiceAccount(p, 'team-a', sa('team-b', 'deploy-web'))?.rule).toBe('serviceAccounts');
  });

  it('needs every binding policy to allow it, and an invalid one allows nothing', () => {
    const p = effective(
      policy('loose', { namespaces: ['team-a'], serviceAccounts: ['*'] }),
      policy('strict', { namespaces: ['team-a'], serviceAccounts: ['deployer'] }),
    );
    expect(checkServiceAccount(p, 'team-a', sa('team-a', 'deployer'))).toBeUndefined();
    expect(checkServiceAccount(p, 'team-a', sa('team-a', 'other'))?.policy).toBe('strict');
    const broken = effective(invalidPolicy('broken', 'spec.namespaces: required'));
    expect(checkServiceAccount(broken, 'team-a', sa('team-a', 'deployer'))?.rule).toBe('invalid');
  });
});
