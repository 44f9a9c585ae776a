/**
 * `capstan plan --repo URL --ref REF --base BRANCH`: what merging a change would do to the
 * cluster — which Applications of that repository and branch it touches, and a server-side dry-run
 * of each at the change's head — with your kubeconfig user's rights. For CI on a pull request.
 */
import { Option, type Command } from '@commander-js/extra-typings';

export interface PlanFlags {
  repo: string;
  ref: string;
  base: string;
  namespace?: string;
  kubeconfig?: string;
  context?: string;
  output: string;
}

/** Loaded on use: the engine and its dependencies are not parsed for other commands. */
const run = () => import('./plan-run.js');

export function registerPlanCommand(program: Command): void {
  program
    .command('plan')
    .description('show what merging a change would do to the cluster, app by app (a dry-run as you)')
    .requiredOption('--repo <url>', 'the changed repository, as Repositories name it (any spelling)')
    .option(
      '--ref <ref>',
      'the change: a branch, a full ref (refs/pull/7/head), a full SHA, or HEAD (this checkout)',
      'HEAD',
    )
    .option('--base <branch>', 'the branch the change would be merged into', 'main')
    .addOption(
      new Option(
        '-n, --namespace <ns>',
        'only Applications of this namespace (default: every one you can list)',
      ),
    )
    .addOption(
      new Option('--kubeconfig <file>', 'kubeconfig to use (default: $KUBECONFIG or ~/.kube/config)'),
    )
    .option('--context <name>', 'kubeconfig context (default: the current one)')
    .addOption(
      new Option('-o, --output <format>', 'output format').choices(['markdown', 'json']).default('markdown'),
    )
    .addHelpText(
      'after',
      `
The Applications planned are those whose Repository has this URL and whose ref is the base branch.
An app whose render is the same at the change's head is counted, not dry-run. Each other app is
dry-run at the head commit with your own credentials (not the ServiceAccount the controller applies
as). --ref HEAD means this git checkout's HEAD commit, which must be pushed (CI on a pull request).
Secret values never appear: Secrets are masked before they are compared.

Examples:
  capstan plan --repo https://github.com/org/deploy --ref refs/pull/7/head --base main
  capstan plan --repo git@github.com:org/deploy.git -n shop -o json | jq '.apps[].counts'

Exit codes: 0 planned (with or without changes), 1 failed (an app does not render at head, an
object would fail to apply, the cluster or Git unreachable), 2 bad input.`,
    )
    .action(async (flags) => {
      process.exitCode = await (await run()).runPlan(flags);
    });
}
