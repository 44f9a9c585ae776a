import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { crdsYaml, toStructural } from './crds.js';
import { applicationSpecSchema } from './v1alpha1.js';

describe('CRDs', () => {
  it.each(['deploy/crds.yaml', 'deploy/chart/capstan/crds/crds.yaml'])(
    '%s is what the API types generate (run `npm run generate` after changing them)',
    async (file) => {
      expect(await readFile(new URL(`../../${file}`, import.meta.url), 'utf8')).toBe(crdsYaml());
    },
  );

  it('makes zod JSON schemas structural', () => {
    expect(toStructural({ type: 'object', additionalProperties: {}, $schema: 'x' })).toEqual({
      type: 'object',
      'x-kubernetes-preserve-unknown-fields': true,
    });
    expect(toStructural({ type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER })).toEqual({
      type: 'integer',
      minimum: 1,
    });
    expect(
      toStructural({ type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false }),
    ).toEqual({
      type: 'object',
      properties: { a: { type: 'string' } },
    });
  });

  it('defaults an Application spec the way the API server does', () => {
    expect(applicationSpecSchema.parse({ sourceRef: { name: 'repo' } })).toMatchObject({
      ref: 'main',
      path: '',
      render: { type: 'auto' },
      syncPolicy: { automated: true, prune: true, selfHeal: true },
      healthTimeout: '5m',
      dependsOn: [],
      suspend: false,
    });
  });
});
