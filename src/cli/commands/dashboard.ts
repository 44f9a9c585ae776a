/**
 * `capstan dashboard`: the dashboard on this machine, as you (your kubeconfig's user), on
 * 127.0.0.1 with a free port. It prints the URL to open; the random access token in it proves the
 * browser is yours, so other users and processes of this machine cannot drive it.
 */
import { Option, type Command } from '@commander-js/extra-typings';

export interface DashboardFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  address: string;
  readOnly?: boolean;
}

/** Loaded on use: the server and its dependencies are not parsed for other commands. */
const run = () => import('./dashboard-run.js');

export function registerDashboardCommand(program: Command): void {
  program
    .command('dashboard')
    .description('serve the dashboard on 127.0.0.1 as your kubeconfig user, and print its URL')
    .addOption(
      new Option('--kubeconfig <file>', 'kubeconfig to use (default: $KUBECONFIG or ~/.kube/config)'),
    )
    .option('--context <name>', 'kubeconfig context (default: the current one)')
    .option(
      '-n, --namespace <ns[,ns…]>',
      "namespaces to show (default: every namespace if you may list Applications cluster-wide, else the context's)",
    )
    .option('--address <host:port>', 'where to listen: loopback only; port 0 picks a free one', '127.0.0.1:0')
    .option('--read-only', 'refuse every action (sync, suspend, resume, rollback)')
    .addHelpText(
      'after',
      `
Everything the dashboard shows and does is done with your credentials: it never shows or does more
than kubectl would let you. Stop it with Ctrl-C.

Examples:
  capstan dashboard
  capstan dashboard -n shop,payments --read-only
  capstan dashboard --context prod --address 127.0.0.1:8443

Exit codes: 0 stopped, 1 failed (cannot reach the cluster, port taken), 2 bad input.`,
    )
    .action(async (flags) => {
      process.exitCode = await (await run()).runDashboard(flags);
    });
}
