/**
 * `capstan dev …`: the local Kubernetes control plane for trying Capstan and for its tests.
 */
import type { Command } from '@commander-js/extra-typings';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
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
    .command('image')
    .description(
      "build Capstan's container image with buildah (no Docker, no base image pulled; reused while its inputs are unchanged)",
    )
    .option(
      '--push <host:port>',
      'also push it to this registry as <host:port>/capstan:<version> (plain http on loopback)',
    )
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Examples:
  npm run image                                  # localhost/capstan:<version> in buildah/podman storage
  npm run image -- --push 127.0.0.1:5000 --json  # and push it to a local registry`,
    )
    .action(async (options) => {
      const [{ buildCapstanImage }, { pushLocalImage }] = await Promise.all([
        import('../../dev/image.js'),
        import('../../dev/buildah.js'),
      ]);
      const started = Date.now();
      const image = await buildCapstanImage({ progress: (line) => console.error(line) });
      const buildSeconds = (Date.now() - started) / 1000;
      let pushed: { reference: string; digest: string; seconds: number } | undefined;
      if (options.push !== undefined) {
        const pushStarted = Date.now();
        const reference = `${options.push}/capstan:${image.version}`;
        const { digest } = await pushLocalImage(image.reference, reference);
        pushed = { reference, digest, seconds: (Date.now() - pushStarted) / 1000 };
      }
      if (options.json) {
        console.log(JSON.stringify({ ...image, buildSeconds, ...(pushed ? { pushed } : {}) }, null, 2));
        return;
      }
      console.log(
        `${image.reference}\t${image.id}\t${image.cached ? 'reused' : 'built'} in ${buildSeconds.toFixed(1)} s`,
      );
      if (pushed)
        console.log(`${pushed.reference}@${pushed.digest}\tpushed in ${pushed.seconds.toFixed(1)} s`);
    });

  dev
    .command('chart')
    .description(
      "package Capstan's Helm chart (deploy/chart/capstan) with the real helm, or publish it as an OCI artifact",
    )
    .option(
      '--push <oci-url>',
      'helm push it to oci://HOST[:PORT]/PATH (it lands at …/PATH/capstan:<version>)',
    )
    .option('--plain-http', 'plain http to the registry (a local one)')
    .option('--destination <dir>', 'where the .tgz is written when not pushing', '.')
    .addHelpText(
      'after',
      `
Examples:
  capstan dev chart                                                # ./capstan-<version>.tgz
  capstan dev chart --push oci://127.0.0.1:5000/charts --plain-http
  helm install capstan oci://127.0.0.1:5000/charts/capstan --plain-http -n capstan-system --create-namespace`,
    )
    .action(async (options) => {
      const { packageChart, publishChart } = await import('../../dev/chart.js');
      const { helm } = await ensureTools({ progress: (line) => console.error(line) });
      if (options.push === undefined) {
        const chart = await packageChart(helm, resolve(options.destination));
        console.log(chart.file);
        return;
      }
      const published = await publishChart({
        helm,
        destination: options.push,
        plainHttp: options.plainHttp ?? false,
      });
      console.log(`oci://${published.reference}@${published.digest}`);
    });

  dev
    .command('demo')
    .description(
      'the demo: control plane, a Git server with an example repository, and the controller; Ctrl-C stops all',
    )
    .option('-v, --verbose', "print the controller's log")
    .option(
      '--real-node',
      "run the apps' Pods on a real kubelet + containerd node (real images, probes, crashes) instead of kwok's fake one",
    )
    .action(async (options) => {
      const started = Date.now();
      // Loaded on use (see controller.ts): the demo runs the whole operator.
      const [{ pino }, { startDemo }, { engineParts, metricsHooks }] = await Promise.all([
        import('pino'),
        import('../../dev/demo.js'),
        import('../wiring.js'),
      ]);
      const log = pino({ level: options.verbose ? 'info' : 'warn' }, pino.destination(2));
      const demo = await startDemo({
        progress: (line) => console.error(line),
        log,
        engineParts: (stateDir) =>
          engineParts({ stateDir, allowFileUrls: false, progress: (line) => console.error(line) }),
        metricsHooks,
        realNode: options.realNode ?? false,
      });
      const kubectl = demo.controlPlane.tools.kubectl;
      console.log(`
Capstan demo is running (ready in ${((Date.now() - started) / 1000).toFixed(1)} s).

  export KUBECONFIG=${demo.controlPlane.kubeconfigPath}
  alias kubectl=${kubectl}
  npm run capstan -- get apps -n capstan-demo        # or: kubectl get applications.capstan.dev -n capstan-demo

Push a change to staging and watch it converge (the Git server sends a signed webhook):
  git clone -q -b staging ${demo.repositoryUrl} demo && cd demo
  sed -i 's/replicas: 2/replicas: 4/' apps/web/deployment.yaml
  git commit -qam 'staging: four web replicas' && git push -q
  kubectl -n staging get deployment web -w

Break something and watch it heal:
  kubectl -n staging delete deployment worker
  kubectl -n production scale deployment web --replicas=9

${demo.realNode ? REAL_NODE_HEALTH : KWOK_HEALTH}
  npm run capstan -- describe app web-staging -n capstan-demo   # Rollback: <bad> → <good>, Git revert: Pushed
  git pull -q && git log --oneline -3                           # Revert capstan-demo/web-staging: roll back …
  npm run capstan -- history web-staging -n capstan-demo

Publish a new image: the registry tells Capstan, which commits the new tag to staging (the
ImagePolicy web; apps/web/deployment.yaml carries its setter comment), and the sync rolls it out:
  ${demo.registry.crane} tag ${demo.registry.image}:1.0.0 1.1.0
  npm run capstan -- get images -n capstan-demo                 # LATEST 1.1.0, GIT staging:pushed
  git pull -q && git log -1 --stat                              # images: capstan-demo/web … 1.0.0 → 1.1.0
  kubectl -n staging get deployment web -o jsonpath='{.spec.template.spec.containers[0].image}'
  ${demo.registry.crane} tag ${demo.registry.image}:1.0.0 2.0.0-rc.1   # outside the range: ignored

Roll back by hand (auto-sync stays on; the revision left is rejected until a newer commit):
  npm run capstan -- rollback web-staging -n capstan-demo       # to the healthy revision before
  npm run capstan -- rollback web-staging --clear -n capstan-demo

Dashboard: ${demo.dashboard.url}
  log in with the token of the demo's dashboard user (it reads and acts on the demo's apps, and
  reads their namespaces, as RBAC grants it; the web app's RoleBinding is in Git):
  ${demo.dashboard.token}

Metrics: ${demo.metricsUrl}
Press Ctrl-C to stop everything.`);
      await untilSignal(() => demo.stop());
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
      const { startControlPlane } = await import('../../dev/controlplane.js');
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
      await untilSignal(() => controlPlane.stop());
      process.exitCode = EXIT.ok;
    });
}

/** Waits for Ctrl-C (or SIGTERM/SIGHUP), then runs `stop` and says so. */
async function untilSignal(stop: () => Promise<void>): Promise<void> {
  // Signal listeners do not keep Node running, and the control plane's processes are unref'd.
  const keepAlive = setInterval(() => {}, 1 << 30);
  // Ctrl-C often arrives twice (from the terminal, and relayed by npm/tsx): the listener stays
  // until everything has stopped, so a repeat cannot kill us halfway.
  let onSignal: (signal: NodeJS.Signals) => void = () => {};
  const signal = await new Promise<NodeJS.Signals>((done) => {
    onSignal = (s) => done(s);
    for (const s of STOP_SIGNALS) process.on(s, onSignal);
  });
  console.error(`${signal}: stopping …`);
  await stop();
  for (const s of STOP_SIGNALS) process.removeListener(s, onSignal);
  clearInterval(keepAlive);
  console.error('stopped.');
}

const KWOK_HEALTH = `Health is watched all the time. Make the running web Pods fail (kwok's chaos stage fails Pods
with this label); web-staging turns Degraded within seconds, and Healthy again once the
Deployment's replacements have been Ready 5 s (minReadySeconds):
  kubectl -n capstan-demo get applications.capstan.dev -w &
  kubectl -n staging label pod -l app=web pod-container-running-failed.stage.kwok.x-k8s.io=true
  kubectl -n capstan-demo get events        # HealthDegraded, then HealthRecovered

Push a bad commit (its Pods fail) and watch Capstan roll it back after the 30 s health timeout,
with auto-sync still on, and record the rollback in Git as a revert commit it then applies:
  sed -i 's/^      labels: { app: web }$/      labels: { app: web, pod-container-running-failed.stage.kwok.x-k8s.io: "true" }/' apps/web/deployment.yaml
  git commit -qam 'web: a bad change' && git push -q`;

const REAL_NODE_HEALTH = `The Pods run on a real node (kubelet + containerd): real images, probes, logs and crashes.
  kubectl get nodes -o wide; kubectl -n staging get pods -o wide; kubectl -n staging logs deploy/worker
Health is watched all the time: kill a web container's process and watch web-staging turn
Degraded, then Healthy once the kubelet has restarted it and it has been Ready 5 s:
  kubectl -n capstan-demo get applications.capstan.dev -w &
  kubectl -n staging exec deploy/web -- killall httpd

Push a bad commit whose container really crashes at start (MODE=crash: CrashLoopBackOff) and watch
Capstan roll it back after the 30 s health timeout, with auto-sync still on, and record the
rollback in Git as a revert commit it then applies:
  sed -i 's/MODE=serve/MODE=crash/' apps/web/kustomization.yaml
  git commit -qam 'web: a bad change' && git push -q
  kubectl -n staging get pods -w                                # CrashLoopBackOff, then gone`;
