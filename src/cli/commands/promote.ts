/**
 * `capstan promote APP --from ENV --to ENV`: asks the controller to make the target environment's
 * path equal the source's at its last healthy revision, by pull request (default) or push.
 */
import { Option, type Command } from '@commander-js/extra-typings';

export interface PromoteFlags {
  from: string;
  to: string;
  namespace?: string;
  kubeconfig?: string;
  push?: boolean;
  wait?: boolean;
  timeout: string;
  output?: string;
}

/** Loaded on use, like the other operator commands. */
const run = () => import('./promote-run.js');

export function registerPromoteCommand(program: Command): void {
  program
    .command('promote')
    .description(
      "promote an app from one environment (branch) to another, at the source's last healthy revision",
    )
    .argument('<app>', 'the app: Applications labelled capstan.dev/app=APP, or named APP-ENV')
    .requiredOption('--from <env>', 'the source environment (the branch its Application follows)')
    .requiredOption('--to <env>', 'the target environment (the branch its Application follows)')
    .addOption(
      new Option('-n, --namespace <ns>', "namespace (default: the kubeconfig context's, or default)"),
    )
    .addOption(
      new Option('--kubeconfig <file>', 'kubeconfig to use (default: $KUBECONFIG or ~/.kube/config)'),
    )
    .option('--push', 'push the promotion to the target branch instead of opening a pull request')
    .option('--wait', 'wait for the controller to answer (default on a terminal)')
    .option('--no-wait', 'return once the request is recorded')
    .option('--timeout <duration>', 'how long to wait for the answer', '5m')
    .addOption(new Option('-o, --output <format>', 'print the answer as JSON').choices(['json']))
    .addHelpText(
      'after',
      `
The source and target are the Applications of APP (label capstan.dev/app: APP, or name APP-ENV)
whose spec.ref is the branch ENV; both must use the same Git repository. The CLI needs no Git
credentials: it sets the annotation capstan.dev/promote on the target Application, and the
controller promotes with the target Repository's credentials. It refuses (status.promotion.state
Refused, and a PromotionRefused Event) when the source is not Healthy now, has no last healthy
revision, runs a rollback or is suspended. A pull request goes on branch capstan/promote/<namespace>/<target>
(one per target, updated) through the Repository's spec.forge and its Secret's token.

Examples:
  capstan promote web --from staging --to production -n shop
  capstan promote web --from staging --to production -n shop --push
  capstan promote web --from staging --to production --no-wait

Exit codes: 0 promoted (pull request opened, pushed, or already up to date), 1 refused, failed or
timed out, 2 bad input (unknown app or environment, flags).`,
    )
    .action(async (app, flags) => {
      process.exitCode = await (await run()).runPromote(app, flags);
    });
}
