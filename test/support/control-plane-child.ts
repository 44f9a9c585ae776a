/**
 * A process that owns a control plane, for tests of what happens when its owner is signalled or
 * killed. Prints one JSON line (`{"owner":…,"pids":[…]}`) when ready, then waits forever.
 */
import { startControlPlane } from '../../src/dev/controlplane.js';

const controlPlane = await startControlPlane({
  workloads: process.env.CAPSTAN_TEST_WORKLOADS === '1',
  stateDir: process.env.CAPSTAN_TEST_STATE_DIR,
});
console.log(JSON.stringify({ owner: process.pid, pids: controlPlane.processes.map((p) => p.pid) }));
setInterval(() => {}, 1 << 30);
