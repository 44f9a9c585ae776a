/**
 * `capstan history APP`: an Application's syncs, newest first — revision, what set each off, who
 * asked, when, how long, result, health and what changed — from its history ConfigMap
 * (`capstan-history-<app>`), or from its status (the last 10) where there is none.
 */
import { Option, type Command } from '@commander-js/extra-typings';

export interface HistoryFlags {
  namespace?: string;
  kubeconfig?: string;
  output: string;
  limit?: string;
}

/** Loaded on use, like the other operator commands. */
const run = () => import('./history-run.js');

export function registerHistoryCommand(program: Command): void {
  program
    .command('history')
    .description("show an Application's sync history: revision, trigger, requester, timing, result, changes")
    .argument('<name>', 'the Application')
    .addOption(
      new Option('-n, --namespace <ns>', "namespace (default: the kubeconfig context's, or default)"),
    )
    .addOption(
      new Option('--kubeconfig <file>', 'kubeconfig to use (default: $KUBECONFIG or ~/.kube/config)'),
    )
    .addOption(
      new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'),
    )
    .option('--limit <n>', 'show only the newest N entries')
    .addHelpText(
      'after',
      `
Triggers: commit (a new commit found by polling), webhook (announced by a Git webhook), drift
(self-heal of a changed or deleted object), request (capstan sync, or the annotation
capstan.dev/requested-at), rollback, dependency (a dependency became Ready), spec (the Application
changed), resync (a retry or the periodic re-check). BY is the requester's own claim
(capstan.dev/requested-by, which capstan sync sets).

Examples:
  capstan history web -n shop
  capstan history web -n shop --limit 5
  capstan history web -n shop -o json | jq '.entries[0]'

Exit codes: 0 done, 1 failed (API error, application not found), 2 bad input.`,
    )
    .action(async (name, flags) => {
      process.exitCode = await (await run()).runHistory(name, flags);
    });
}
