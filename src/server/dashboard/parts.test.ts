import { describe, expect, it } from 'vitest';
import { fieldOwners, shownObject } from './drift.js';
import { accessTokenAuthenticator, bearerTokenAuthenticator } from './identity.js';
import { blockingPath } from './details.js';
import { readCookie, sameOrigin } from './security.js';
import type { AppSummary } from './schema.js';
import { labelSelectorOf } from './tree.js';
import { FakeCluster } from './testdata/fake-cluster.js';

describe('the dashboard parts', () => {
  it('turns a parent selector into a label selector, or none it cannot express', () => {
    const object = (selector: unknown) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {},
      spec: { selector },
    });
    expect(
      labelSelectorOf(
        object({
          matchLabels: { app: 'web' },
          matchExpressions: [
            { key: 'tier', operator: 'In', values: ['a', 'b'] },
            { key: 'canary', operator: 'DoesNotExist' },
          ],
        }),
      ),
    ).toBe('app=web,tier in (a,b),!canary');
    expect(
      labelSelectorOf(object({ matchExpressions: [{ key: 'x', operator: 'Gt', values: ['1'] }] })),
    ).toBeUndefined();
    expect(labelSelectorOf(object(undefined))).toBeUndefined();
  });

  it('names field owners by JSON pointer, list items by their keys', () => {
    const owners = fieldOwners({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        managedFields: [
          {
            manager: 'capstan',
            operation: 'Apply',
            fieldsV1: {
              'f:spec': {
                'f:template': {
                  'f:spec': { 'f:containers': { 'k:{"name":"web"}': { '.': {}, 'f:image': {} } } },
                },
              },
              'f:metadata': { 'f:finalizers': { 'v:"a/b"': {} } },
            },
          },
          {
            manager: 'hpa',
            operation: 'Update',
            subresource: 'scale',
            fieldsV1: { 'f:spec': { 'f:replicas': {} } },
          },
        ],
      },
    });
    expect(owners).toEqual([
      {
        manager: 'capstan',
        operation: 'Apply',
        fields: ['/spec/template/spec/containers/[name=web]/image', '/metadata/finalizers/["a~1b"]'],
      },
      { manager: 'hpa', operation: 'Update', subresource: 'scale', fields: ['/spec/replicas'] },
    ]);
  });

  it('shows a Secret as metadata only, with values copied into annotations masked', () => {
    const shown = shownObject({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {
        name: 's',
        annotations: { hint: 'it is hunter2hunter2' },
        managedFields: [{ manager: 'x' }],
      },
      data: { password: Buffer.from('hunter2hunter2').toString('base64') },
      stringData: { other: 'plain-secret' },
    });
    expect(Object.keys(shown).sort()).toEqual(['apiVersion', 'kind', 'metadata', 'type']);
    expect(JSON.stringify(shown)).not.toContain('hunter2hunter2');
    expect(JSON.stringify(shown)).not.toContain('managedFields');
  });

  it('finds the blocking path down not-Ready dependencies, stopping at a cycle', () => {
    const apps = new Map<string, Pick<AppSummary, 'ready' | 'dependsOn'>>([
      ['front', { ready: 'False', dependsOn: ['api'] }],
      ['api', { ready: 'False', dependsOn: ['cache', 'db'] }],
      ['cache', { ready: 'True', dependsOn: [] }],
      ['db', { ready: 'False', dependsOn: ['front'] }],
    ]);
    const lookup = (name: string) => apps.get(name) as AppSummary | undefined;
    expect(blockingPath('front', lookup)).toEqual(['front', 'api', 'db']);
    expect(blockingPath('cache', lookup)).toEqual([]);
  });

  it('accepts a bearer token the API server accepts, and only the access token locally', async () => {
    const fake = new FakeCluster();
    fake.addUser('good', { username: 'alice', groups: ['dev'], can: () => false });
    const authenticate = bearerTokenAuthenticator((token) => fake.clientFor(token));
    expect((await authenticate('good'))?.identity).toEqual({ username: 'alice', groups: ['dev'] });
    expect(await authenticate('bad')).toBeUndefined();
    expect(await authenticate('has space')).toBeUndefined();
    const local = accessTokenAuthenticator('secret-run-token', {
      identity: { username: 'me', groups: [] },
      kube: fake.clientFor('good'),
    });
    expect(await local('secret-run-token')).toBeDefined();
    expect(await local('secret-run-toke')).toBeUndefined();
  });

  it('reads cookies and checks origins strictly', () => {
    expect(readCookie('a=1; capstan-session=xyz; b=2', 'capstan-session')).toBe('xyz');
    expect(readCookie('capstan-sessionx=1', 'capstan-session')).toBeUndefined();
    expect(sameOrigin({ origin: 'http://h:1' }, 'http', 'h:1')).toBe(true);
    expect(sameOrigin({ origin: 'http://h:1' }, 'https', 'h:1')).toBe(false);
    expect(sameOrigin({}, 'http', 'h:1')).toBe(false);
    expect(sameOrigin({ origin: 'null' }, 'http', 'h:1')).toBe(false);
  });
});
