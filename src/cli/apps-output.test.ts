import { describe, expect, it } from 'vitest';
import { API_VERSION, type Application } from '../api/v1alpha1.js';
import { formatApplicationDescription } from './apps-output.js';

const app = (status: Application['status']): Application => ({
  apiVersion: API_VERSION,
  kind: 'Application',
  metadata: { name: 'web-production', namespace: 'shop', creationTimestamp: '2026-12-01T10:00:00Z' },
  spec: { sourceRef: { name: 'apps' }, ref: 'production', path: 'web' },
  ...(status ? { status } : {}),
});

const describeApp = (status: Application['status']) =>
  formatApplicationDescription(
    { app: app(status), events: [] },
    { color: false, now: new Date('2026-12-01T12:00:00Z') },
  );

describe('capstan describe app', () => {
  it('shows the last promotion into the app: state, source and revision, first line, pull request', () => {
    const text = describeApp({
      promotion: {
        id: 'p1',
        from: 'web-staging',
        sourceRevision: 'a'.repeat(40),
        state: 'PullRequestOpened',
        message: 'opened pull request #7\nmore detail',
        url: 'https://git.example.com/org/deploy/pulls/7',
        at: '2026-12-01T11:59:00Z',
      },
    });
    expect(text).toMatch(
      /Promotion: +PullRequestOpened from web-staging@aaaaaaa\w*: opened pull request #7 \(https:\/\/git\.example\.com\/org\/deploy\/pulls\/7\)/,
    );
    expect(text).not.toContain('more detail');
  });

  it('says nothing of promotion when there was none', () => {
    expect(describeApp({})).not.toContain('Promotion:');
  });
});
