/**
 * Workloads that fail on purpose, through kwok's chaos stage (src/dev/tools.ts installs it): Pods
 * labelled CHAOS_LABEL fail once they run.
 */
export const CHAOS_LABEL = 'pod-container-running-failed.stage.kwok.x-k8s.io';

/**
 * Deployment `web` (1 replica, image `registry.example/web:<version>`) whose Pods must stay Ready
 * 5 s to count as available; with `failing`, its Pods carry the chaos label and fail as soon as
 * they run — well inside minReadySeconds however busy kwok is — so it never becomes available.
 */
export function webDeployment(version: string, options: { failing?: boolean } = {}): string {
  const labels = { app: 'web' };
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: {
      replicas: 1,
      minReadySeconds: 5,
      selector: { matchLabels: labels },
      template: {
        metadata: {
          labels: { ...labels, ...(options.failing ? { [CHAOS_LABEL]: 'true' } : {}) },
          ...(options.failing
            ? { annotations: { [`${CHAOS_LABEL}/delay`]: '0s', [`${CHAOS_LABEL}/jitter-delay`]: '0s' } }
            : {}),
        },
        spec: { containers: [{ name: 'main', image: `registry.example/web:${version}` }] },
      },
    },
  });
}
