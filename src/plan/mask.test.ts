import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../core/objects.js';
import { SECRET_MASK, SECRET_MASK_AFTER, SECRET_MASK_BEFORE, maskObject, maskSecrets } from './mask.js';
import { LAST_APPLIED_ANNOTATION } from './normalize.js';

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

function secret(
  fields: Record<string, unknown>,
  annotations?: Record<string, string>,
  apiVersion = 'v1',
): KubeObject {
  return {
    apiVersion,
    kind: 'Secret',
    metadata: { name: 'db', namespace: 'shop', ...(annotations ? { annotations } : {}) },
    type: 'Opaque',
    ...fields,
  };
}

/** Every form a value could leak in: as written, and in the other encoding. */
function forms(values: readonly string[]): string[] {
  return values.flatMap((value) => [value, b64(value)]);
}

function expectNoLeak(output: unknown, values: readonly string[]): void {
  const text = typeof output === 'string' ? output : JSON.stringify(output);
  for (const form of forms(values)) expect(text).not.toContain(form);
}

describe('maskSecrets on Secret data', () => {
  it.each<[string, Record<string, unknown>, Record<string, unknown>, unknown, unknown]>([
    [
      'equal values',
      { data: { password: b64('hunter2-old') } },
      { data: { password: b64('hunter2-old') } },
      { password: SECRET_MASK },
      { password: SECRET_MASK },
    ],
    [
      'a changed value',
      { data: { password: b64('hunter2-old') } },
      { data: { password: b64('hunter2-new') } },
      { password: SECRET_MASK_BEFORE },
      { password: SECRET_MASK_AFTER },
    ],
    [
      'an added and a removed key',
      { data: { old: b64('one-value') } },
      { data: { new: b64('two-value') } },
      { old: SECRET_MASK },
      { new: SECRET_MASK },
    ],
    [
      'a mix',
      { data: { same: b64('same-value'), changed: b64('value-a'), gone: b64('value-c') } },
      { data: { same: b64('same-value'), changed: b64('value-b'), added: b64('value-d') } },
      { same: SECRET_MASK, changed: SECRET_MASK_BEFORE, gone: SECRET_MASK },
      { same: SECRET_MASK, changed: SECRET_MASK_AFTER, added: SECRET_MASK },
    ],
    [
      'empty and non-string values',
      { data: { empty: '', odd: 42 } },
      { data: { empty: '', odd: { nested: 'x' } } },
      { empty: SECRET_MASK, odd: SECRET_MASK_BEFORE },
      { empty: SECRET_MASK, odd: SECRET_MASK_AFTER },
    ],
    ['data only on one side', {}, { data: { token: b64('abc-token') } }, undefined, { token: SECRET_MASK }],
  ])('%s', (_name, liveFields, desiredFields, expectedLive, expectedDesired) => {
    const { live, desired } = maskSecrets(secret(liveFields), secret(desiredFields));
    expect(live?.data).toEqual(expectedLive);
    expect(desired?.data).toEqual(expectedDesired);
  });

  it('masks stringData the same way, and independently of data', () => {
    const { live, desired } = maskSecrets(
      secret({ data: { password: b64('p4ssw0rd') } }),
      secret({ stringData: { password: 'p4ssw0rd', user: 'admin-user' } }),
    );
    expect(live?.data).toEqual({ password: SECRET_MASK });
    expect(live?.stringData).toBeUndefined();
    expect(desired?.stringData).toEqual({ password: SECRET_MASK, user: SECRET_MASK });
    expectNoLeak([live, desired], ['p4ssw0rd', 'admin-user']);
  });

  it.each<[string, unknown]>([
    ['a string', 'cGFzc3dvcmQ='],
    ['a list', ['cGFzc3dvcmQ=']],
    ['a number', 1234],
  ])('masks a malformed data field that is %s as a whole', (_name, data) => {
    const { live, desired } = maskSecrets(secret({ data }), secret({ data }));
    expect(live?.data).toBe(SECRET_MASK);
    expect(desired?.data).toBe(SECRET_MASK);
  });

  it('keeps a null data field null (it holds nothing)', () => {
    expect(maskSecrets(secret({ data: null }), undefined).live?.data).toBeNull();
  });

  it.each([
    ['the core group', 'v1'],
    ['a look-alike custom resource (fail closed)', 'example.com/v1'],
  ])('masks kind Secret in %s', (_name, apiVersion) => {
    const { desired } = maskSecrets(
      undefined,
      secret({ data: { k: b64('top-secret') } }, undefined, apiVersion),
    );
    expect(desired?.data).toEqual({ k: SECRET_MASK });
  });

  it('leaves other kinds’ data alone', () => {
    const configMap: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c' },
      data: { a: 'b' },
    };
    expect(maskSecrets(configMap, configMap).desired?.data).toEqual({ a: 'b' });
  });

  it('does not modify its inputs', () => {
    const live = secret({ data: { password: b64('hunter2-old') } }, { [LAST_APPLIED_ANNOTATION]: '{}' });
    const desired = secret({ stringData: { password: 'hunter2-new' } });
    const before = structuredClone([live, desired]);
    const masked = maskSecrets(live, desired);
    expect([live, desired]).toEqual(before);
    expect(masked.live).not.toBe(live);
  });

  it('returns undefined for an absent side', () => {
    expect(maskSecrets(undefined, undefined)).toEqual({ live: undefined, desired: undefined });
  });
});

describe('maskSecrets on annotations', () => {
  const password = 'correct horse battery staple';

  it.each<[string, Record<string, string>, Record<string, string>]>([
    ['equal to a value', { note: password }, { note: SECRET_MASK }],
    ['equal to a value in base64', { note: b64(password) }, { note: SECRET_MASK }],
    ['containing a value', { note: `password is ${password}!` }, { note: SECRET_MASK }],
    ['unrelated', { owner: 'team-a', note: 'rotated monthly' }, { owner: 'team-a', note: 'rotated monthly' }],
  ])('masks a Secret’s annotation %s', (_name, annotations, expected) => {
    const object = secret({ data: { password: b64(password) } }, annotations);
    expect(maskSecrets(object, object).desired?.metadata.annotations).toEqual(expected);
  });

  it('masks annotations matching stringData values and values of the other side', () => {
    const live = secret({ data: { token: b64('old-token-value') } }, { hint: 'new-token-value' });
    const desired = secret({ stringData: { token: 'new-token-value' } }, { hint: 'old-token-value' });
    const masked = maskSecrets(live, desired);
    expect(masked.live?.metadata.annotations).toEqual({ hint: SECRET_MASK_BEFORE });
    expect(masked.desired?.metadata.annotations).toEqual({ hint: SECRET_MASK_AFTER });
    expectNoLeak(masked, ['old-token-value', 'new-token-value']);
  });

  it('does not mask annotations because of very short values unless equal', () => {
    const object = secret({ data: { flag: b64('on') } }, { mode: 'online', exact: 'on' });
    expect(maskSecrets(object, object).live?.metadata.annotations).toEqual({
      mode: 'online',
      exact: SECRET_MASK,
    });
  });

  it.each([
    ['a ConfigMap', 'v1', 'ConfigMap'],
    ['a Deployment', 'apps/v1', 'Deployment'],
    ['a Secret', 'v1', 'Secret'],
  ])('masks last-applied-configuration on %s', (_name, apiVersion, kind) => {
    const withLastApplied = (value: string): KubeObject => ({
      apiVersion,
      kind,
      metadata: { name: 'x', annotations: { [LAST_APPLIED_ANNOTATION]: value, other: 'kept' } },
    });
    const lastApplied = JSON.stringify({ kind: 'Secret', data: { password: b64('leaked-password') } });
    const same = maskSecrets(withLastApplied(lastApplied), withLastApplied(lastApplied));
    expect(same.live?.metadata.annotations).toEqual({
      [LAST_APPLIED_ANNOTATION]: SECRET_MASK,
      other: 'kept',
    });
    const changed = maskSecrets(withLastApplied(lastApplied), withLastApplied('{}'));
    expect(changed.live?.metadata.annotations?.[LAST_APPLIED_ANNOTATION]).toBe(SECRET_MASK_BEFORE);
    expect(changed.desired?.metadata.annotations?.[LAST_APPLIED_ANNOTATION]).toBe(SECRET_MASK_AFTER);
    expectNoLeak([same, changed], ['leaked-password']);
  });
});

describe('maskObject', () => {
  it('masks a single Secret (an object about to be pruned, say)', () => {
    const masked = maskObject(
      secret(
        { data: { a: b64('alpha-secret') }, stringData: { b: 'beta-secret' } },
        { [LAST_APPLIED_ANNOTATION]: '{}' },
      ),
    );
    expect(masked.data).toEqual({ a: SECRET_MASK });
    expect(masked.stringData).toEqual({ b: SECRET_MASK });
    expect(masked.metadata.annotations).toEqual({ [LAST_APPLIED_ANNOTATION]: SECRET_MASK });
    expectNoLeak(masked, ['alpha-secret', 'beta-secret']);
  });
});

describe('maskSecrets on labels', () => {
  it('masks a Secret’s label that equals one of its values', () => {
    const object = secret({ data: { key: b64('label-leak') } });
    object.metadata.labels = { app: 'db', copied: 'label-leak' };
    expect(maskSecrets(object, undefined).live.metadata.labels).toEqual({ app: 'db', copied: SECRET_MASK });
  });
});
