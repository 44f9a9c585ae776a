import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CapstanMetrics } from './metrics.js';

const NAMES = [
  'capstan_reconcile_duration_seconds',
  'capstan_sync_results_total',
  'capstan_app_ready',
  'capstan_app_health',
  'capstan_git_fetch_duration_seconds',
  'capstan_git_fetch_errors_total',
  'capstan_queue_depth',
  'capstan_webhook_requests_total',
];

describe('CapstanMetrics', () => {
  it('keeps its series in a private registry, next to the default process metrics', async () => {
    const first = new CapstanMetrics();
    const second = new CapstanMetrics({ defaultMetrics: false });
    first.setQueueDepth(3);
    const text = await first.exposition();
    for (const name of NAMES) expect(text).toContain(`# TYPE ${name} `);
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toContain('capstan_queue_depth 3');
    expect(await second.exposition()).toContain('capstan_queue_depth 0');
    expect(await second.exposition()).not.toContain('process_cpu');
    expect(await globalRegistry.metrics()).not.toContain('capstan_');
    expect(first.contentType).toMatch(/^text\/plain/);
  });

  it('records reconciles, sync results and webhooks with their labels', async () => {
    const metrics = new CapstanMetrics({ defaultMetrics: false });
    metrics.observeReconcile('application', 'success', 0.3);
    metrics.observeReconcile('repository', 'failure', Number.NaN); // ignored, not thrown
    metrics.countSyncResult('configured', 4);
    metrics.countWebhook('github', 'rejected');
    const text = await metrics.exposition();
    expect(text).toContain('capstan_reconcile_duration_seconds_count{kind="application",result="success"} 1');
    expect(text).not.toContain('kind="repository"');
    expect(text).toContain('capstan_sync_results_total{outcome="configured"} 4');
    expect(text).toContain('capstan_sync_results_total{outcome="pruned"} 0');
    expect(text).toContain('capstan_webhook_requests_total{provider="github",outcome="rejected"} 1');
    expect(text).toContain('capstan_webhook_requests_total{provider="gitea",outcome="toolarge"} 0');
  });

  it('keeps one health series per app, and forgets apps', async () => {
    const metrics = new CapstanMetrics({ defaultMetrics: false });
    metrics.setAppHealth('team-a', 'web', false, 'InProgress');
    metrics.setAppHealth('team-a', 'web', true, 'Current');
    metrics.setAppHealth('team-b', 'api', false, 'Failed');
    let text = await metrics.exposition();
    expect(text).toContain('capstan_app_ready{namespace="team-a",name="web"} 1');
    expect(text).toContain('capstan_app_health{namespace="team-a",name="web",status="Current"} 1');
    expect(text).not.toContain('status="InProgress"');
    expect(text).toContain('capstan_app_ready{namespace="team-b",name="api"} 0');
    metrics.forgetApp('team-a', 'web');
    text = await metrics.exposition();
    expect(text).not.toContain('name="web"');
    expect(text).toContain('name="api"');
  });

  it('labels git fetches with redacted URLs', async () => {
    const metrics = new CapstanMetrics({ defaultMetrics: false });
    const url = 'https://user:hunter2secret@git.example.com/r.git?private_token=abc123';
    metrics.observeGitFetch(url, 1.5, false);
    metrics.observeGitFetch(url, 0.2, true);
    let text = await metrics.exposition();
    expect(text).not.toContain('hunter2secret');
    expect(text).not.toContain('abc123');
    expect(text).toMatch(
      /capstan_git_fetch_errors_total\{repository="https:\/\/\*\*\*@git\.example\.com[^"]*"\} 1/,
    );
    expect(text).toMatch(/capstan_git_fetch_duration_seconds_count\{repository="[^"]+"\} 2/);
    metrics.forgetRepository(url);
    text = await metrics.exposition();
    expect(text).not.toContain('git.example.com');
  });
});
