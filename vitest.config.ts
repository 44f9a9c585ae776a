import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          // The real-node layer is the `node` project below.
          exclude: [...configDefaults.exclude, 'test/node/**'],
          // One control plane for the whole run; each test gets a namespace of its own.
          globalSetup: ['test/setup/control-plane.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'node',
          // A real kubelet, containerd and kube-proxy (src/dev/node.ts): real pods, probes, crashes.
          include: ['test/node/**/*.test.ts'],
          globalSetup: ['test/setup/real-node.ts'],
          // One real node per host at a time: each file starts its own, so files run one by one.
          fileParallelism: false,
          // After the other projects, so that it never competes with them for the cores.
          sequence: { groupOrder: 1 },
          testTimeout: 180_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
