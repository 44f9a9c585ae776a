/**
 * `capstan controller`: the operator. Runs beside a cluster (a kubeconfig) or in it (in-cluster
 * config), serves health, metrics and webhooks, and — when it holds the leader Lease, or when
 * leader election is off — reconciles Repositories and Applications.
 */
import type { Command } from '@commander-js/extra-typings';

export interface ControllerFlags {
  kubeconfig?: string;
  namespace?: string;
  concurrency: string;
  httpAddress: string;
  webhookSecretFile?: string;
  leaderElect: boolean;
  leaseNamespace?: string;
  defaultServiceAccount?: string;
  leaseDuration: string;
  stateDir?: string;
  resync: string;
  installCrds?: boolean;
  allowFileUrls?: boolean;
  logLevel: string;
  dashboardAddress?: string;
  dashboardReadOnly?: boolean;
  dashboardTrustProxy?: string;
}

export function registerControllerCommand(program: Command): void {
  program
    .command('controller')
    .description(
      'run the operator: reconcile Repositories and Applications, serve health, metrics and webhooks',
    )
    .option(
      '--kubeconfig <file>',
      'kubeconfig (default: $KUBECONFIG, ~/.kube/config, or the pod service account)',
    )
    .option('-n, --namespace <ns>', 'watch only this namespace (default: all)')
    .option('--concurrency <n>', 'reconciles at once', '4')
    .option('--http-address <host:port>', 'health, metrics and webhooks', '127.0.0.1:8080')
    .option(
      '--webhook-secret-file <file>',
      'secret shared with Git hosts for webhook signatures (or $CAPSTAN_WEBHOOK_SECRET)',
    )
    .option(
      '--default-service-account <name>',
      'ServiceAccount for Applications that name none: NAME in their own namespace, or NAMESPACE/NAME for all (single-team clusters); unset, they are refused',
    )
    .option('--leader-elect', 'several replicas, one reconciles: a coordination.k8s.io Lease (default)', true)
    .option(
      '--no-leader-elect',
      'run as the only replica, without a Lease (refused while another controller renews it)',
    )
    .option(
      '--lease-namespace <ns>',
      'namespace of the leader Lease (default: the pod namespace in a cluster, else --namespace, else capstan-system)',
    )
    .option('--lease-duration <duration>', 'how long a dead leader keeps the Lease', '15s')
    .option('--state-dir <dir>', 'Git caches and checkouts (default $CAPSTAN_CACHE_DIR or ~/.cache/capstan)')
    .option('--resync <duration>', 'full re-check of every Application this often', '10m')
    .option('--install-crds', 'apply the Repository and Application CRDs at start-up')
    .option('--allow-file-urls', 'allow file:// repositories (single-user setups; never for tenants)')
    .option('--log-level <level>', 'debug, info, warn or error', 'info')
    .option(
      '--dashboard-address <host:port>',
      "serve the dashboard's API here, on a port of its own (default: off); people log in with their own Kubernetes token",
    )
    .option('--dashboard-read-only', 'the dashboard refuses every action (sync, suspend, resume, rollback)')
    .option(
      '--dashboard-trust-proxy <addresses>',
      "behind an ingress that terminates TLS: the proxies' addresses or CIDRs (comma-separated) whose X-Forwarded-* the dashboard believes (https: Secure cookies, origin checks)",
    )
    .addHelpText(
      'after',
      `
Examples:
  capstan controller --install-crds --lease-namespace default  # beside a cluster, using $KUBECONFIG
  capstan controller --default-service-account capstan-apply   # apps without one run as capstan-apply of their namespace
  capstan controller --http-address 0.0.0.0:8080 --webhook-secret-file /etc/capstan/webhook
Webhooks: POST /hooks/github | gitlab | gitea | bitbucket | generic | registry`,
    )
    .action(async (flags) => {
      // Loaded on use: the server, the controller and their dependencies are most of the CLI's code,
      // and `capstan apply` should not pay for parsing them.
      const { runController } = await import('./controller-run.js');
      process.exitCode = await runController(flags as ControllerFlags);
    });
}
