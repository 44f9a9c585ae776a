import { describe, expect, it } from 'vitest';
import { notificationCrd } from '../api/crds.js';
import { notificationSpecSchema } from '../api/v1alpha1.js';

describe('Notification spec', () => {
  it('defaults to every application and event of the namespace', () => {
    expect(notificationSpecSchema.parse({ target: { type: 'slack', secretRef: { name: 's' } } })).toEqual({
      applications: [],
      events: [],
      target: { type: 'slack', secretRef: { name: 's' } },
      suspend: false,
    });
  });

  it('refuses unknown targets and events, and names that are not names', () => {
    expect(notificationSpecSchema.safeParse({ target: { type: 'email' } }).success).toBe(false);
    expect(
      notificationSpecSchema.safeParse({ events: ['Deployed'], target: { type: 'webhook' } }).success,
    ).toBe(false);
    expect(
      notificationSpecSchema.safeParse({ applications: ['Web!'], target: { type: 'webhook' } }).success,
    ).toBe(false);
    expect(
      notificationSpecSchema.safeParse({ applications: ['*', 'web'], target: { type: 'webhook' } }).success,
    ).toBe(true);
  });

  it('generates a structural, namespaced CRD', () => {
    const crd = notificationCrd() as unknown as {
      spec: { scope: string; names: { shortNames: string[] }; versions: { schema: unknown }[] };
    };
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.names.shortNames).toEqual(['cnotif']);
    expect(JSON.stringify(crd.spec.versions[0]?.schema)).not.toMatch(/anyOf|oneOf|allOf/);
  });
});
