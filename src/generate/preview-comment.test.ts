import { describe, expect, it } from 'vitest';
import {
  applicationGeneratorSpecSchema,
  ENVIRONMENT_URL_ANNOTATION,
  GENERATOR_LABEL,
  PULL_REQUEST_ANNOTATION,
  type ApplicationGenerator,
} from '../api/generator.js';
import type { Application, Condition } from '../api/v1alpha1.js';
import {
  environmentOf,
  environmentUrl,
  MAX_MESSAGE_CHARS,
  previewCommentBody,
  previewMarker,
  previewState,
  pullRequestOf,
} from './preview-comment.js';
import { renderApplications } from './render.js';

const SHA = 'abcdef0123456789abcdef0123456789abcdef01';

function condition(type: string, status: string, extra: Partial<Condition> = {}): Condition {
  return {
    type,
    status,
    reason: 'R',
    message: '',
    lastTransitionTime: '2026-01-01T00:00:00Z',
    ...extra,
  } as Condition;
}

function app(fields: {
  conditions?: Condition[];
  annotations?: Record<string, string>;
  destination?: Record<string, unknown>;
  health?: { status: string; message?: string };
  generation?: number;
  deleting?: boolean;
}): Application {
  return {
    apiVersion: 'capstan.dev/v1alpha1',
    kind: 'Application',
    metadata: {
      name: 'preview-12',
      namespace: 'team',
      generation: fields.generation ?? 1,
      labels: { [GENERATOR_LABEL]: 'previews' },
      annotations: { [PULL_REQUEST_ANNOTATION]: '12', ...fields.annotations },
      ...(fields.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
    },
    spec: {
      sourceRef: { name: 'apps' },
      ref: 'refs/pull/12/head',
      ...(fields.destination ? { destination: fields.destination } : {}),
    },
    status: {
      ...(fields.conditions ? { conditions: fields.conditions } : {}),
      ...(fields.health ? { health: fields.health } : {}),
      lastAppliedRevision: { sha: SHA },
    },
  } as Application;
}

describe('previewState', () => {
  it('is Ready at the applied revision only for the current spec', () => {
    expect(
      previewState(app({ conditions: [condition('Ready', 'True', { observedGeneration: 1 })] })),
    ).toEqual({
      kind: 'ready',
      sha: SHA,
    });
    expect(
      previewState(
        app({ generation: 2, conditions: [condition('Ready', 'True', { observedGeneration: 1 })] }),
      ),
    ).toEqual({ kind: 'progressing' });
    expect(previewState(app({}))).toEqual({ kind: 'progressing' });
  });

  it('is Degraded when Ready is False and nothing rolls out, with the health message redacted', () => {
    const degraded = previewState(
      app({
        conditions: [condition('Ready', 'False', { message: 'abc: sync failed' })],
        health: { status: 'Degraded', message: 'fetch https://user:hunter2@git.example.com failed' },
      }),
    );
    expect(degraded.kind).toBe('degraded');
    expect(JSON.stringify(degraded)).not.toContain('hunter2');
    expect(
      previewState(app({ conditions: [condition('Ready', 'False', { message: 'x'.repeat(5000) })] })),
    ).toEqual({ kind: 'degraded', message: `${'x'.repeat(MAX_MESSAGE_CHARS - 1)}…` });
    expect(
      previewState(app({ conditions: [condition('Ready', 'False'), condition('Reconciling', 'True')] })),
    ).toEqual({ kind: 'progressing' });
    expect(previewState(app({ deleting: true }))).toEqual({ kind: 'removing' });
  });
});

describe('environmentUrl', () => {
  it('keeps http(s) URLs only, without credentials, with nothing Markdown could read', () => {
    expect(environmentUrl('http://pr-12.preview.example.com')).toBe('http://pr-12.preview.example.com/');
    expect(environmentUrl(' https://x.example.com/a?b=c ')).toBe('https://x.example.com/a?b=c');
    expect(environmentUrl('javascript:alert(1)')).toBeUndefined();
    expect(environmentUrl('ftp://x.example.com')).toBeUndefined();
    expect(environmentUrl('https://user:pw@x.example.com')).toBeUndefined();
    expect(environmentUrl('not a url')).toBeUndefined();
    expect(environmentUrl(`https://x.example.com/${'a'.repeat(3000)}`)).toBeUndefined();
    expect(environmentUrl(undefined)).toBeUndefined();
    const odd = environmentUrl('https://x.example.com/@team|x\\y<z>) "q"');
    expect(odd).not.toMatch(/[@|\\<> "]/);
  });
});

describe('previewCommentBody', () => {
  it('names the app, the namespace, the state and the URL, all escaped, behind the marker', () => {
    const ready = app({
      conditions: [condition('Ready', 'True')],
      destination: { namespace: 'team-pr-12', createNamespace: true },
      annotations: { [ENVIRONMENT_URL_ANNOTATION]: 'http://pr-12.preview.example.com' },
    });
    const body = previewCommentBody('team', 'previews', environmentOf(ready));
    expect(body.startsWith(previewMarker('team', 'previews'))).toBe(true);
    expect(previewMarker('team', 'previews')).toBe('<!-- capstan:preview team/previews -->');
    expect(body).toContain('Ready at ` abcdef0 `');
    expect(body).toContain('team/preview\\-12');
    expect(body).toContain('team\\-pr\\-12 (created for it)');
    expect(body).toContain('(<http://pr-12.preview.example.com/>)');
  });

  it('neutralises mentions, links and HTML in hostile values, and leaves a bad URL out', () => {
    const hostile = app({
      conditions: [condition('Ready', 'False')],
      health: { status: 'Degraded', message: '@admin <img src=x> [click](http://evil) | row\nbreak' },
      annotations: { [ENVIRONMENT_URL_ANNOTATION]: 'javascript:alert(1)' },
    });
    const body = previewCommentBody('team', 'previews', environmentOf(hostile));
    expect(body).toContain('Degraded');
    expect(body).not.toMatch(/@admin/);
    expect(body).not.toContain('<img');
    expect(body).not.toContain('[click]');
    expect(body).not.toContain('javascript');
    expect(body).not.toContain('URL |');
    // The message stays on its quote line.
    expect(body.split('\n').filter((line) => line.startsWith('> '))).toHaveLength(1);
  });

  it('says removed, naming what was removed when it is known', () => {
    const gone = app({ destination: { namespace: 'team-pr-12', createNamespace: true } });
    const { state: _state, url: _url, ...seen } = environmentOf(gone);
    const body = previewCommentBody('team', 'previews', undefined, seen);
    expect(body).toMatch(/removed/);
    expect(body).toContain('team/preview\\-12');
    expect(body).toContain('its namespace team\\-pr\\-12 included');
    expect(previewCommentBody('team', 'previews', undefined)).toMatch(/removed/);
  });
});

describe('the pull request an Application is for', () => {
  it('is an annotation the pullRequests generator sets last, which a template cannot change', () => {
    const generator = {
      apiVersion: 'capstan.dev/v1alpha1',
      kind: 'ApplicationGenerator',
      metadata: { name: 'previews', namespace: 'team', uid: 'u-1' },
      spec: {},
    } as ApplicationGenerator;
    const spec = applicationGeneratorSpecSchema.parse({
      sourceRef: { name: 'apps' },
      pullRequests: {},
      template: {
        metadata: {
          name: 'preview-{{number}}',
          annotations: {
            [PULL_REQUEST_ANNOTATION]: '999',
            [ENVIRONMENT_URL_ANNOTATION]: 'http://pr-{{number}}.preview.test',
          },
        },
        spec: { ref: '{{ref}}' },
      },
    });
    expect(spec.pullRequests?.comment).toBe(true);
    const [rendered] = renderApplications(generator, spec, [
      {
        key: '#12',
        pullRequest: 12,
        params: new Map([
          ['number', '12'],
          ['ref', 'refs/pull/12/head'],
        ]),
      },
    ]);
    expect(rendered?.object.metadata.annotations).toEqual({
      [PULL_REQUEST_ANNOTATION]: '12',
      [ENVIRONMENT_URL_ANNOTATION]: 'http://pr-12.preview.test',
    });
    expect(pullRequestOf(rendered!.object)).toBe(12);
    expect(pullRequestOf(app({ annotations: { [PULL_REQUEST_ANNOTATION]: '12abc' } }))).toBeUndefined();
  });
});
