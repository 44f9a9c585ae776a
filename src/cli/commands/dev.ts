/**
 * `capstan dev …`: the local Kubernetes control plane for trying Capstan and for its tests.
 */
import type { Command } from '@commander-js/extra-typings';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { startControlPlane } from '../../dev/controlplane.js';
import { ensureTools } from '../../dev/tools.js';
import { EXIT } from '../exit-codes.js';

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export function registerDevCommands(program: Command): void {
  const dev = program
    .command('dev')
    .description('a local Kubernetes control plane, built from Go modules, for trying Capstan');

  dev
    .command('tools')
    .description('build (once) and list the control-plane binaries, kubectl, kwok, helm and kustomize')
    .action(async () => {
      const tools = await ensureTools({ progress: (line) => console.error(line) });
      for (const [name, path] of Object.entries(tools)) console.log(`${name}\t${path}`);
    });

  dev
    .command('cluster')
    .description(
      'start etcd, kube-apiserver, controller-manager, scheduler and kwok on loopback; Ctrl-C stops them',
    )
    .option('--no-workloads', 'only etcd and kube-apiserver (no controller-manager, scheduler, kwok)')
    .option('--kubeconfig <file>', 'also write the admin kubeconfig to this file')
    .addHelpText(
      'after',
      `
Examples:
  capstan dev cluster                     # full control plane with one fake node
  capstan dev cluster --kubeconfig ./kc   # and write the kubeconfig to ./kc`,
    )
    .action(async (options) => {
      const started = Date.now();
      const controlPlane = await startControlPlane({
        workloads: options.workloads,
        progress: (line) => console.error(line),
        // This command stops it itself on Ctrl-C, after saying so.
        handleSignals: false,
      });
      let kubeconfigPath = controlPlane.kubeconfigPath;
      if (options.kubeconfig) {
        kubeconfigPath = resolve(options.kubeconfig);
        await writeFile(kubeconfigPath, controlPlane.kubeconfig, { mode: 0o600 });
      }
      console.log(
        `control plane ready in ${((Date.now() - started) / 1000).toFixed(1)} s at ${controlPlane.server}`,
      );
      console.log(`pids: ${controlPlane.processes.map((p) => `${p.name}=${p.pid}`).join(' ')}`);
      console.log('');
      console.log(`  export KUBECONFIG=${kubeconfigPath}`);
      console.log(`  ${controlPlane.tools.kubectl} get nodes`);
      console.log('');
      console.log('Press Ctrl-C to stop.');
      // Signal listeners do not keep Node running, and the control plane's processes are unref'd.
      const keepAlive = setInterval(() => {}, 1 << 30);
      // Ctrl-C often arrives twice (from the terminal, and relayed by npm/tsx): the listener stays
      // until the control plane has stopped, so a repeat cannot kill us halfway.
      let onSignal: (signal: NodeJS.Signals) => void = () => {};
      const signal = await new Promise<NodeJS.Signals>((done) => {
        onSignal = (s) => done(s);
        for (const s of STOP_SIGNALS) process.on(s, onSignal);
      });
      console.error(`${signal}: stopping the control plane …`);
      await controlPlane.stop();
      for (const s of STOP_SIGNALS) process.removeListener(s, onSignal);
      clearInterval(keepAlive);
      console.error('stopped.');
      process.exitCode = EXIT.ok;
    });
}
