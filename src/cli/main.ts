/**
 * `capstan`: one program, one file per command under `commands/`. Commands return an exit code;
 * errors that escape them are printed once, with their causes, and mapped to exit codes here.
 */
import { Command, CommanderError } from '@commander-js/extra-typings';
import { fileURLToPath } from 'node:url';
import { describeError, isCapstanError } from '../core/errors.js';
import { registerControllerCommand } from './commands/controller.js';
import { registerDashboardCommand } from './commands/dashboard.js';
import { registerAppCommands } from './commands/apps.js';
import { registerDevCommands } from './commands/dev.js';
import { registerHistoryCommand } from './commands/history.js';
import { registerInstallCommands } from './commands/install.js';
import { registerPlanCommand } from './commands/plan.js';
import { registerPromoteCommand } from './commands/promote.js';
import { registerSyncCommands } from './commands/sync.js';
import { EXIT } from './exit-codes.js';
import { CAPSTAN_VERSION } from './version.js';

export function buildProgram(): Command {
  const program = new Command('capstan')
    .description(
      'GitOps for Kubernetes: pull desired state from Git, diff it server-side, converge the cluster.',
    )
    .version(CAPSTAN_VERSION)
    .showHelpAfterError()
    .exitOverride();
  registerSyncCommands(program);
  registerAppCommands(program);
  registerHistoryCommand(program);
  registerPlanCommand(program);
  registerPromoteCommand(program);
  registerControllerCommand(program);
  registerInstallCommands(program);
  registerDashboardCommand(program);
  registerDevCommands(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[]);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with code 0.
      return error.exitCode === 0 ? EXIT.ok : EXIT.badInput;
    }
    console.error(`capstan: ${describeError(error)}`);
    return isCapstanError(error) && error.kind === 'user' ? EXIT.badInput : EXIT.error;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv);
}
