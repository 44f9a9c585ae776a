import { describe, expect, it } from 'vitest';
import { API_VERSION, type Application } from '../api/v1alpha1.js';
import type { ImagePolicy } from '../api/image-policy.js';
import { formatApplicationDescription, formatImagePolicyTable } from './apps-output.js';

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

describe('capstan get images', () => {
  it('shows the image, the newest allowed tag and what each branch holds', () => {
    const policy: ImagePolicy = {
      apiVersion: API_VERSION,
      kind: 'ImagePolicy',
      metadata: { name: 'web', namespace: 'shop', creationTimestamp: '2026-12-01T10:00:00Z' },
      spec: { image: 'registry.example.com/shop/web', policy: { semver: { range: '1.x' } } },
      status: {
        latest: { tag: '1.2.0', digest: `sha256:${'a'.repeat(64)}`, since: '2026-12-01T11:00:00Z' },
        updates: [
          {
            repository: 'apps',
            branch: 'staging',
            tag: '1.2.0',
            outcome: 'pushed',
            at: '2026-12-01T11:00:01Z',
          },
          {
            repository: 'apps',
            branch: 'production',
            tag: '1.2.0',
            outcome: 'pullRequest',
            pullRequest: { number: 7, url: 'https://git.example.com/shop/apps/pulls/7' },
            at: '2026-12-01T11:00:02Z',
          },
        ],
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'PullRequestOpen',
            message: '1.2.0 is proposed in pull request #7',
            lastTransitionTime: '2026-12-01T11:00:02Z',
          },
        ],
      },
    };
    const table = formatImagePolicyTable([policy], {
      color: false,
      now: new Date('2026-12-01T12:00:00Z'),
      allNamespaces: false,
    });
    const [header, row] = table.trimEnd().split('\n');
    expect(header).toMatch(/^NAME\s+IMAGE\s+LATEST\s+GIT\s+READY\s+AGE\s+REASON\s+MESSAGE$/);
    expect(row).toMatch(
      /^web\s+registry\.example\.com\/shop\/web\s+1\.2\.0\s+staging:pushed,production:pullRequest#7\s+True\s+120m\s+PullRequestOpen\s+1\.2\.0 is proposed/,
    );
  });
});
