import { describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.js';
import { formatRef, refOf, type KubeObject, type ObjectRef } from '../core/objects.js';
import {
  WAVE_ANNOTATION,
  applyOrder,
  compareForApply,
  isDefinition,
  kindPriority,
  sortForApply,
  sortForPrune,
  waveOf,
} from './order.js';

function object(
  apiVersion: string,
  kind: string,
  name: string,
  namespace?: string,
  wave?: unknown,
): KubeObject {
  return {
    apiVersion,
    kind,
    metadata: {
      name,
      ...(namespace ? { namespace } : {}),
      ...(wave !== undefined ? { annotations: { [WAVE_ANNOTATION]: wave as string } } : {}),
    },
  };
}

const names = (objects: readonly KubeObject[]): string[] => objects.map((o) => formatRef(refOf(o)));

const crd = object('apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'widgets.example.com');
const namespace = object('v1', 'Namespace', 'shop');
const deployment = object('apps/v1', 'Deployment', 'web', 'shop');
const service = object('v1', 'Service', 'web', 'shop');
const configMap = object('v1', 'ConfigMap', 'web-config', 'shop');
const secret = object('v1', 'Secret', 'web-tls', 'shop');
const widget = object('example.com/v1', 'Widget', 'blue', 'shop');
const webhook = object('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', 'policy');
const mutating = object('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', 'inject');
const clusterRole = object('rbac.authorization.k8s.io/v1', 'ClusterRole', 'reader');
const role = object('rbac.authorization.k8s.io/v1', 'Role', 'reader', 'shop');

describe('kindPriority', () => {
  // The documented order, pairwise: each kind applies strictly before the next.
  const documentedOrder: [string, string][] = [
    ['', 'Namespace'],
    ['', 'ResourceQuota'],
    ['storage.k8s.io', 'StorageClass'],
    ['apiextensions.k8s.io', 'CustomResourceDefinition'],
    ['', 'ServiceAccount'],
    ['policy', 'PodSecurityPolicy'],
    ['rbac.authorization.k8s.io', 'Role'],
    ['rbac.authorization.k8s.io', 'ClusterRole'],
    ['rbac.authorization.k8s.io', 'RoleBinding'],
    ['rbac.authorization.k8s.io', 'ClusterRoleBinding'],
    ['', 'ConfigMap'],
    ['', 'Secret'],
    ['', 'Endpoints'],
    ['', 'Service'],
    ['', 'LimitRange'],
    ['scheduling.k8s.io', 'PriorityClass'],
    ['', 'PersistentVolume'],
    ['', 'PersistentVolumeClaim'],
    ['apps', 'Deployment'],
    ['apps', 'StatefulSet'],
    ['batch', 'CronJob'],
    ['policy', 'PodDisruptionBudget'],
    ['example.com', 'Widget'],
    ['admissionregistration.k8s.io', 'MutatingWebhookConfiguration'],
    ['admissionregistration.k8s.io', 'ValidatingWebhookConfiguration'],
  ];
  it.each(documentedOrder.slice(0, -1).map((first, i) => [first, documentedOrder[i + 1]!]))(
    '%j before %j',
    ([groupA, kindA], [groupB, kindB]) => {
      expect(kindPriority({ group: groupA, kind: kindA })).toBeLessThan(
        kindPriority({ group: groupB, kind: kindB }),
      );
    },
  );

  it.each([
    ['serving.knative.dev', 'Service'],
    ['example.com', 'Namespace'],
    ['example.com', 'Deployment'],
    ['cert-manager.io', 'Certificate'],
  ])('treats %s/%s as a custom resource', (group, kind) => {
    expect(kindPriority({ group, kind })).toBe(kindPriority({ group: 'example.com', kind: 'Widget' }));
  });

  it('knows the legacy groups of kinds that moved', () => {
    expect(kindPriority({ group: 'extensions', kind: 'Deployment' })).toBe(
      kindPriority({ group: 'apps', kind: 'Deployment' }),
    );
    expect(kindPriority({ group: 'extensions', kind: 'Ingress' })).toBe(
      kindPriority({ group: 'networking.k8s.io', kind: 'Ingress' }),
    );
  });
});

describe('isDefinition', () => {
  it.each<[string, string, boolean]>([
    ['', 'Namespace', true],
    ['apiextensions.k8s.io', 'CustomResourceDefinition', true],
    ['example.com', 'Namespace', false],
    ['example.com', 'CustomResourceDefinition', false],
    ['', 'ConfigMap', false],
  ])('%s/%s → %s', (group, kind, expected) => {
    expect(isDefinition({ group, kind })).toBe(expected);
  });
});

describe('waveOf', () => {
  it.each<[string, unknown, number]>([
    ['absent', undefined, 0],
    ['zero', '0', 0],
    ['positive', '3', 3],
    ['negative', '-2', -2],
    ['explicit plus', '+4', 4],
    ['minus zero', '-0', 0],
    ['leading zeros', '007', 7],
  ])('%s (%j) → %i', (_name, value, expected) => {
    expect(waveOf(object('v1', 'ConfigMap', 'c', 'ns', value))).toBe(expected);
  });

  it.each<[string, unknown, string]>([
    ['a word', 'first', '"first"'],
    ['a decimal', '1.5', '"1.5"'],
    ['empty', '', '""'],
    ['spaces', ' 1', '" 1"'],
    ['exponent', '1e3', '"1e3"'],
    ['too large', '99999999999999999999', '"99999999999999999999"'],
    ['an unquoted YAML number', 2, 'quote it in YAML'],
  ])('rejects %s with a UserError naming the object', (_name, value, fragment) => {
    const bad = object('v1', 'ConfigMap', 'settings', 'shop', value);
    expect(() => waveOf(bad)).toThrow(UserError);
    expect(() => waveOf(bad)).toThrow('ConfigMap/shop/settings');
    expect(() => waveOf(bad)).toThrow(fragment);
  });
});

describe('sortForApply', () => {
  it('returns no phases for no objects', () => {
    expect(sortForApply([])).toEqual([]);
  });

  it('puts CRDs and Namespaces in a first phase, then everything else by kind priority', () => {
    const phases = sortForApply([webhook, widget, deployment, service, crd, secret, namespace, configMap]);
    expect(phases.map((p) => [p.stage, p.label])).toEqual([
      ['definitions', 'definitions (CustomResourceDefinitions, Namespaces)'],
      ['wave', 'wave 0'],
    ]);
    expect(names(phases[0]!.objects)).toEqual([
      'Namespace/shop',
      'CustomResourceDefinition.apiextensions.k8s.io/widgets.example.com',
    ]);
    expect(names(phases[1]!.objects)).toEqual([
      'ConfigMap/shop/web-config',
      'Secret/shop/web-tls',
      'Service/shop/web',
      'Deployment.apps/shop/web',
      'Widget.example.com/shop/blue',
      'ValidatingWebhookConfiguration.admissionregistration.k8s.io/policy',
    ]);
  });

  it('orders waves ascending, kind priority within a wave, definitions first whatever their wave', () => {
    const migrate = object('batch/v1', 'Job', 'migrate', 'shop', '-1');
    const database = object('apps/v1', 'StatefulSet', 'db', 'shop', '-1');
    const lateNamespace = object('v1', 'Namespace', 'late', undefined, '5');
    const smoke = object('batch/v1', 'Job', 'smoke', 'shop', '10');
    const phases = sortForApply([smoke, deployment, migrate, lateNamespace, database, service]);
    expect(phases.map((p) => p.label)).toEqual([
      'definitions (CustomResourceDefinitions, Namespaces)',
      'wave -1',
      'wave 0',
      'wave 10',
    ]);
    expect(phases.map((p) => (p.stage === 'wave' ? p.wave : null))).toEqual([null, -1, 0, 10]);
    expect(phases.map((p) => names(p.objects))).toEqual([
      ['Namespace/late'],
      ['StatefulSet.apps/shop/db', 'Job.batch/shop/migrate'],
      ['Service/shop/web', 'Deployment.apps/shop/web'],
      ['Job.batch/shop/smoke'],
    ]);
  });

  it('breaks ties by namespace (cluster-scoped first) then name, independent of input order', () => {
    const inputs = [
      object('v1', 'ConfigMap', 'b', 'beta'),
      object('v1', 'ConfigMap', 'a', 'beta'),
      object('v1', 'ConfigMap', 'z', 'alpha'),
      clusterRole,
      role,
      object('rbac.authorization.k8s.io/v1', 'ClusterRole', 'admin'),
    ];
    const expected = [
      'Role.rbac.authorization.k8s.io/shop/reader',
      'ClusterRole.rbac.authorization.k8s.io/admin',
      'ClusterRole.rbac.authorization.k8s.io/reader',
      'ConfigMap/alpha/z',
      'ConfigMap/beta/a',
      'ConfigMap/beta/b',
    ];
    expect(names(applyOrder(sortForApply(inputs)))).toEqual(expected);
    expect(names(applyOrder(sortForApply([...inputs].reverse())))).toEqual(expected);
  });

  it('keeps custom resources of one kind together, after the built-ins and before webhooks', () => {
    const gadget = object('example.com/v1', 'Gadget', 'a', 'shop');
    const other = object('other.io/v1', 'Widget', 'a', 'shop');
    const order = names(applyOrder(sortForApply([mutating, widget, other, gadget, deployment, webhook])));
    expect(order).toEqual([
      'Deployment.apps/shop/web',
      'Gadget.example.com/shop/a',
      'Widget.example.com/shop/blue',
      'Widget.other.io/shop/a',
      'MutatingWebhookConfiguration.admissionregistration.k8s.io/inject',
      'ValidatingWebhookConfiguration.admissionregistration.k8s.io/policy',
    ]);
  });

  it('fails the whole plan on one invalid wave, naming the object', () => {
    const bad = object('v1', 'ConfigMap', 'broken', 'shop', 'soon');
    expect(() => sortForApply([deployment, bad])).toThrow(/ConfigMap\/shop\/broken.*capstan\.dev\/wave/);
  });

  it('validates wave annotations on definitions too', () => {
    expect(() => sortForApply([object('v1', 'Namespace', 'x', undefined, 'later')])).toThrow(UserError);
  });

  it('does not modify its input', () => {
    const input = [deployment, namespace, service];
    sortForApply(input);
    expect(input).toEqual([deployment, namespace, service]);
  });
});

describe('compareForApply', () => {
  it('is a consistent total order', () => {
    const refs = [crd, namespace, deployment, service, widget, webhook, clusterRole, role].map(refOf);
    for (const a of refs) {
      expect(compareForApply(a, a)).toBe(0);
      for (const b of refs) {
        if (a !== b) expect(Math.sign(compareForApply(a, b))).toBe(-Math.sign(compareForApply(b, a)));
      }
    }
  });
});

describe('sortForPrune', () => {
  it('reverses kind priority: webhooks first, CRDs and Namespaces last', () => {
    const refs: ObjectRef[] = [
      namespace,
      crd,
      configMap,
      deployment,
      webhook,
      widget,
      service,
      clusterRole,
    ].map(refOf);
    expect(sortForPrune(refs).map(formatRef)).toEqual([
      'ValidatingWebhookConfiguration.admissionregistration.k8s.io/policy',
      'Widget.example.com/shop/blue',
      'Deployment.apps/shop/web',
      'Service/shop/web',
      'ConfigMap/shop/web-config',
      'ClusterRole.rbac.authorization.k8s.io/reader',
      'CustomResourceDefinition.apiextensions.k8s.io/widgets.example.com',
      'Namespace/shop',
    ]);
  });

  it('keeps ties in ascending namespace and name order', () => {
    const refs: ObjectRef[] = [
      { group: '', kind: 'ConfigMap', namespace: 'b', name: 'x' },
      { group: '', kind: 'ConfigMap', namespace: 'a', name: 'y' },
      { group: '', kind: 'ConfigMap', namespace: 'a', name: 'x' },
    ];
    expect(sortForPrune(refs).map(formatRef)).toEqual(['ConfigMap/a/x', 'ConfigMap/a/y', 'ConfigMap/b/x']);
  });

  it('does not modify its input', () => {
    const refs = [namespace, deployment].map(refOf);
    const copy = [...refs];
    sortForPrune(refs);
    expect(refs).toEqual(copy);
  });
});
