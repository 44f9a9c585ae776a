/**
 * A process that owns a control plane with a real node running one pod, for the test of what is left
 * when that owner is killed. Prints one JSON line (`{"owner":…,"node":…}`) when the pod is Ready,
 * then waits forever. Env: CAPSTAN_TEST_STATE_DIR, CAPSTAN_TEST_REGISTRY, CAPSTAN_TEST_IMAGE.
 */
import { startControlPlane } from '../../src/dev/controlplane.js';
import { runKubectl } from './support.js';

const controlPlane = await startControlPlane({
  workloads: true,
  realNode: { registry: process.env.CAPSTAN_TEST_REGISTRY ?? '' },
  stateDir: process.env.CAPSTAN_TEST_STATE_DIR,
  handleSignals: false,
});
const kubectl = async (args: string[], input?: string): Promise<void> => {
  const result = await runKubectl(controlPlane.tools.kubectl, controlPlane.kubeconfigPath, args, input);
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
};
const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'orphan-candidate', namespace: 'default' },
  spec: {
    containers: [
      {
        name: 'web',
        image: process.env.CAPSTAN_TEST_IMAGE,
        volumeMounts: [{ name: 'scratch', mountPath: '/srv' }],
      },
    ],
    volumes: [{ name: 'scratch', emptyDir: { medium: 'Memory' } }],
  },
};
await kubectl(['apply', '-f', '-'], JSON.stringify(pod));
await kubectl(['wait', '--for=condition=Ready', 'pod/orphan-candidate', '--timeout=120s']);
console.log(JSON.stringify({ owner: process.pid, node: controlPlane.realNode }));
setInterval(() => {}, 1 << 30);
