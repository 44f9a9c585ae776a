/**
 * `capstan install`, `capstan bootstrap` and `capstan uninstall`: Capstan into a cluster (with the
 * user's kubeconfig), Capstan managing itself from Git, and Capstan out again.
 */
import { Option, type Command } from '@commander-js/extra-typings';

export interface InstallFlags {
  image?: string;
  replicas: string;
  namespace: string;
  tenancy: string;
  logLevel?: string;
  arg: string[];
  dryRun?: boolean;
  wait: string;
  kubeconfig?: string;
}

export interface BootstrapFlags extends InstallFlags {
  repo: string;
  path: string;
  branch: string;
  username: string;
  passwordFile?: string;
  interval: string;
  syncWait: string;
}

export interface UninstallFlags {
  namespace: string;
  pruneApplications?: boolean;
  crds?: boolean;
  yes?: boolean;
  timeout: string;
  kubeconfig?: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** Loaded on use, like the other operator commands. */
const run = () => import('./install-run.js');

function addInstallOptions<C extends Command>(command: C): C {
  command
    .option(
      '--image <ref>',
      "the controller's image (default: localhost/capstan:<version>, as `capstan dev image` builds it)",
    )
    .option('--replicas <n>', 'controller replicas (one leads, the others stand by)', '2')
    .option('-n, --namespace <ns>', "Capstan's namespace", 'capstan-system')
    .addOption(
      new Option(
        '--tenancy <mode>',
        'shared: every Application names its ServiceAccount; single-team: Applications without one apply as an applier bound to cluster-admin',
      )
        .choices(['shared', 'single-team'])
        .default('shared'),
    )
    .addOption(
      new Option('--log-level <level>', "the controller's log level").choices([
        'debug',
        'info',
        'warn',
        'error',
      ]),
    )
    .option(
      '--arg <flag>',
      'one more argument for `capstan controller`, e.g. --arg=--concurrency=8 (repeatable)',
      collect,
      [] as string[],
    )
    .option('--wait <duration>', "how long to wait for the controller's rollout (0: do not wait)", '5m')
    .option('--kubeconfig <file>', 'kubeconfig to use (default: $KUBECONFIG or ~/.kube/config)');
  return command;
}

export function registerInstallCommands(program: Command): void {
  addInstallOptions(
    program
      .command('install')
      .description(
        'install Capstan: its CRDs, RBAC and controller (server-side apply; idempotent, repairs drift)',
      ),
  )
    .option('--dry-run', 'print the objects as YAML instead of applying them')
    .addHelpText(
      'after',
      `
Applies deploy/crds.yaml (waiting until Established), then deploy/shared/controller.yaml (with
--tenancy single-team also deploy/single-team/), with field manager capstan-install, and waits until
the controller's Deployment is rolled out. Running it again changes nothing, or repairs what drifted
(a deleted ClusterRole, a scaled Deployment). It needs cluster-admin: it creates CRDs and ClusterRoles.

Examples:
  capstan install --image registry.example.com/capstan:0.1.0
  capstan install --tenancy single-team --log-level debug --arg=--concurrency=8
  capstan install --dry-run > capstan.yaml

Exit codes: 0 installed, 1 failed (API, rollout), 2 bad input.`,
    )
    .action(async (flags) => {
      process.exitCode = await (await run()).runInstall(flags as InstallFlags);
    });

  addInstallOptions(
    program
      .command('bootstrap')
      .description('install Capstan and make it manage itself from a Git repository (app-of-apps)'),
  )
    .requiredOption('--repo <url>', 'the Git repository (https://)')
    .requiredOption('--path <dir>', "this cluster's folder in the repository, e.g. clusters/production")
    .option('--branch <name>', 'the branch to write to and follow', 'main')
    .option('--username <name>', 'Git user name', 'git')
    .option(
      '--password-file <file>',
      'a file holding the Git password or token (default: $CAPSTAN_GIT_PASSWORD)',
    )
    .option('--interval <duration>', 'how often Capstan polls the repository', '1m')
    .option(
      '--sync-wait <duration>',
      'how long to wait for the Application to be Ready at the commit (0: do not wait)',
      '5m',
    )
    .addHelpText(
      'after',
      `
Installs Capstan (as capstan install), then commits to --branch, as Capstan, under
<path>/<namespace>/: components.yaml (what install applied) and sync.yaml (a Repository and an
Application "capstan" that apply <path>, subfolders included, as plain manifests). It applies the
Secret capstan-git-credentials (the credentials, to read the repository; never written to Git), the
ServiceAccount capstan-self bound to cluster-admin (the Application applies as it: Capstan applies
its own CRDs and ClusterRoles), the Repository and the Application, and waits until the Application
is Ready at the commit. From then on an upgrade or a configuration change is a commit.

Running it again commits nothing when the files are there and repairs drift in the cluster. It
never force-pushes: a branch that moved is written again on its new head. The password comes from
--password-file or CAPSTAN_GIT_PASSWORD, never from the command line, and appears in no output;
plain http:// is refused unless CAPSTAN_GIT_ALLOW_HTTP=1.

Examples:
  CAPSTAN_GIT_PASSWORD=... capstan bootstrap --repo https://git.example.com/ops/fleet.git --path clusters/prod
  capstan bootstrap --repo https://git.example.com/ops/fleet.git --path clusters/prod --password-file token.txt --replicas 3`,
    )
    .action(async (flags) => {
      process.exitCode = await (await run()).runBootstrap(flags as BootstrapFlags);
    });

  program
    .command('uninstall')
    .description("remove Capstan's controller and RBAC; Applications' objects stay unless asked")
    .option('-n, --namespace <ns>', "Capstan's namespace", 'capstan-system')
    .option(
      '--prune-applications',
      'delete every Application and wait for the controller to delete their objects first',
    )
    .option(
      '--crds',
      'also delete the CRDs, and with them every Repository, Application and other Capstan object',
    )
    .option('--yes', 'do not ask for confirmation')
    .option('--timeout <duration>', 'how long to wait for the prune', '5m')
    .option('--kubeconfig <file>', 'kubeconfig to use (default: $KUBECONFIG or ~/.kube/config)')
    .addHelpText(
      'after',
      `
By default the controller is stopped first, then Capstan's finalizer is removed from every
Application, so that the objects they applied stay in place (orphaned: nothing manages them until
Capstan is installed again). Then the self-managing Application and Repository of a bootstrap, their
Secret and ServiceAccount, the controller's RBAC, ServiceAccount and Service are deleted. The
namespace and the CRDs stay (use --crds to delete the CRDs). Running it again finds nothing to do.

Exit codes: 0 removed (or nothing to do), 1 failed, 2 bad input (or not confirmed).`,
    )
    .action(async (flags) => {
      process.exitCode = await (await run()).runUninstall(flags as UninstallFlags);
    });
}
