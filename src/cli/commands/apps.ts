/**
 * The operator's CLI for people: `get apps|repos|images`, `describe app`, `sync`, `rollback`, `suspend`,
 * `resume`.
 * They read and annotate the Application and Repository objects; the controller does the work.
 *
 * `sync` asks for a reconcile through the `capstan.dev/requested-at` annotation and follows the
 * app with a watch until the controller reports that very request handled, so the answer is about
 * this sync and not an earlier one.
 */
import { Option, type Command } from '@commander-js/extra-typings';

export interface ClientFlags {
  namespace?: string;
  kubeconfig?: string;
}

export interface GetFlags extends ClientFlags {
  allNamespaces?: boolean;
  output?: string;
}

const EXIT_CODES_HELP = `
Exit codes: 0 done, 1 failed (API error, application not found, sync failed or timed out),
2 bad input (unknown flag or value).`;

/** Loaded on use: the commands' code (and zod, for reading specs) is not parsed for `capstan apply`. */
const commands = () => import('./apps-run.js');

export function registerAppCommands(program: Command): void {
  const get = program.command('get').description('list Capstan Applications or Repositories');
  get
    .command('apps')
    .aliases(['app', 'application', 'applications'])
    .description('list Applications: source, revision, sync, health and readiness')
    .argument('[name]', 'one Application only')
    .addOption(namespaceOption())
    .addOption(kubeconfigOption())
    .option('-A, --all-namespaces', 'list across every namespace')
    .addOption(outputOption())
    .addHelpText(
      'after',
      `
Examples:
  capstan get apps                 # the kubeconfig context's namespace (or default)
  capstan get apps -n shop web
  capstan get apps -A
  capstan get apps -n shop -o yaml
${EXIT_CODES_HELP}`,
    )
    .action(async (name, flags) => {
      process.exitCode = await (await commands()).runGet('Application', name, flags);
    });

  get
    .command('repos')
    .aliases(['repo', 'repository', 'repositories'])
    .description('list Repositories: URL, fetched revisions and readiness')
    .argument('[name]', 'one Repository only')
    .addOption(namespaceOption())
    .addOption(kubeconfigOption())
    .option('-A, --all-namespaces', 'list across every namespace')
    .addOption(outputOption())
    .addHelpText(
      'after',
      `
Examples:
  capstan get repos -n shop
  capstan get repos -A -o json
${EXIT_CODES_HELP}`,
    )
    .action(async (name, flags) => {
      process.exitCode = await (await commands()).runGet('Repository', name, flags);
    });

  get
    .command('images')
    .aliases(['image', 'imagepolicy', 'imagepolicies', 'imgpol'])
    .description('list ImagePolicies: image, newest allowed tag, what Git holds, readiness')
    .argument('[name]', 'one ImagePolicy only')
    .addOption(namespaceOption())
    .addOption(kubeconfigOption())
    .option('-A, --all-namespaces', 'list across every namespace')
    .addOption(outputOption())
    .addHelpText(
      'after',
      `
Examples:
  capstan get images -n shop
  capstan get images -n shop web -o yaml
${EXIT_CODES_HELP}`,
    )
    .action(async (name, flags) => {
      process.exitCode = await (await commands()).runGet('ImagePolicy', name, flags);
    });

  const describe = program.command('describe').description('show one Capstan object in detail');
  describe
    .command('app')
    .aliases(['application', 'apps'])
    .description('show an Application: spec, conditions, last applied revision, objects, history, events')
    .argument('<name>', 'the Application')
    .addOption(namespaceOption())
    .addOption(kubeconfigOption())
    .addOption(outputOption())
    .addHelpText(
      'after',
      `
Examples:
  capstan describe app web -n shop
  capstan describe app web -n shop -o json   # the Application object itself
${EXIT_CODES_HELP}`,
    )
    .action(async (name, flags) => {
      process.exitCode = await (await commands()).runDescribe(name, flags);
    });

  program
    .command('sync')
    .description('ask the controller to sync an Application now, and follow it until Ready or failed')
    .argument('<name>', 'the Application')
    .addOption(namespaceOption())
    .addOption(kubeconfigOption())
    .option('--timeout <duration>', 'how long to follow the sync', '5m')
    .option('--no-wait', 'return once the request is recorded')
    .addHelpText(
      'after',
      `
The request fetches the Repository afresh, applies even when automated sync is off, and waits for
dependencies like any reconcile. Progress goes to stderr.

Examples:
  capstan sync web -n shop
  capstan sync web -n shop --timeout 10m
  capstan sync web --no-wait
${EXIT_CODES_HELP} A suspended app is refused (1): resume it first.`,
    )
    .action(async (name, flags) => {
      process.exitCode = await (await commands()).runSyncRequest(name, flags);
    });

  program
    .command('rollback')
    .description('apply an earlier revision while auto-sync stays on; the revision left is rejected')
    .argument('<name>', 'the Application')
    .argument('[revision]', 'a revision it applied before (default: the healthy one before the one running)')
    .option('--clear', 'forget the rejected revisions: the branch head is applied again')
    .addOption(namespaceOption())
    .addOption(kubeconfigOption())
    .addHelpText(
      'after',
      `
The controller rejects the revision running now and applies REVISION (a SHA or a unique prefix of
one from \`capstan history\`). Auto-sync skips rejected revisions, so nothing flaps back; a newer
commit on the branch is applied as usual and ends the rollback. Refused requests show as a
RollbackRefused Event (\`capstan describe app NAME\`).

Examples:
  capstan rollback web -n shop             # to the last healthy revision
  capstan rollback web 3f2a9c1e -n shop
  capstan rollback web --clear -n shop
${EXIT_CODES_HELP}`,
    )
    .action(async (name, revision, flags) => {
      process.exitCode = await (await commands()).runRollbackRequest(name, revision, flags);
    });

  for (const suspend of [true, false]) {
    const verb = suspend ? 'suspend' : 'resume';
    program
      .command(verb)
      .description(
        suspend
          ? 'stop reconciling an Application (its objects stay as they are)'
          : 'reconcile a suspended Application again',
      )
      .argument('<name>', 'the Application')
      .addOption(namespaceOption())
      .addOption(kubeconfigOption())
      .addHelpText(
        'after',
        `
Examples:
  capstan ${verb} web -n shop
${EXIT_CODES_HELP}`,
      )
      .action(async (name, flags) => {
        process.exitCode = await (await commands()).runSetSuspend(name, suspend, flags);
      });
  }
}

const namespaceOption = () =>
  new Option('-n, --namespace <ns>', "namespace (default: the kubeconfig context's, or default)");
const kubeconfigOption = () =>
  new Option('--kubeconfig <file>', 'kubeconfig to use (default: $KUBECONFIG or ~/.kube/config)');

function outputOption() {
  return new Option('-o, --output <format>', 'print the objects instead of a summary').choices([
    'json',
    'yaml',
  ]);
}
