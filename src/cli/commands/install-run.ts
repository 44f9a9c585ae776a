/** What `capstan install`, `bootstrap` and `uninstall` do (registered in install.ts). */
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline/promises';
import { stringify } from 'yaml';
import { UserError } from '../../core/errors.js';
import { formatRef } from '../../core/objects.js';
import { createKubeClient, type HttpKubeClient } from '../../kube/index.js';
import {
  bootstrap,
  defaultImage,
  describeCounts,
  install,
  INSTALL_FIELD_MANAGER,
  installManifests,
  uninstall,
  type AppliedObject,
  type InstallOptions,
} from '../../install/index.js';
import { EXIT } from '../exit-codes.js';
import { parseDurationFlag } from '../parse.js';
import type { BootstrapFlags, InstallFlags, UninstallFlags } from './install.js';

const progress = (line: string): void => void process.stderr.write(`${line}\n`);
const printApplied = (applied: AppliedObject): void =>
  void process.stdout.write(`${formatRef(applied.ref)} ${applied.action}\n`);

export async function runInstall(flags: InstallFlags): Promise<number> {
  const options = installOptions(flags);
  const waitMs = parseDurationFlag(flags.wait, '--wait');
  if (flags.dryRun) {
    const objects = await installManifests(options);
    process.stdout.write(objects.map((object) => `---\n${stringify(object, { lineWidth: 0 })}`).join(''));
    return EXIT.ok;
  }
  return withKube(flags.kubeconfig, async (kube) => {
    const report = await install(kube, options, { waitMs, progress, onApplied: printApplied });
    const namespace = options.namespace!;
    process.stdout.write(
      `Capstan installed in ${namespace} (${describeCounts(report.counts)})${waitMs > 0 ? '; the controller is rolled out' : ''}\n`,
    );
    return EXIT.ok;
  });
}

export async function runBootstrap(flags: BootstrapFlags): Promise<number> {
  const options = installOptions(flags);
  const waitMs = parseDurationFlag(flags.wait, '--wait');
  const syncWaitMs = parseDurationFlag(flags.syncWait, '--sync-wait');
  parseDurationFlag(flags.interval, '--interval');
  const password = await gitPassword(flags);
  return withKube(flags.kubeconfig, async (kube) => {
    const report = await bootstrap(
      kube,
      {
        ...options,
        url: flags.repo,
        branch: flags.branch,
        path: flags.path,
        interval: flags.interval,
        credentials: { username: flags.username, password },
        allowInsecureHttp: process.env.CAPSTAN_GIT_ALLOW_HTTP === '1',
      },
      { waitMs, syncWaitMs, progress, onApplied: printApplied },
    );
    const git =
      report.git.outcome === 'pushed'
        ? `committed ${report.git.commit.slice(0, 12)} to ${flags.branch}`
        : `Git already up to date at ${report.git.head.slice(0, 12)} (no commit)`;
    const ready = report.readyAt
      ? `; Application ${options.namespace}/capstan is Ready at ${report.readyAt.slice(0, 12)}`
      : '';
    process.stdout.write(
      `Capstan bootstrapped in ${options.namespace} (${describeCounts(report.install.counts)}); ${git}${ready}\n`,
    );
    return EXIT.ok;
  });
}

export async function runUninstall(flags: UninstallFlags): Promise<number> {
  const timeoutMs = parseDurationFlag(flags.timeout, '--timeout');
  if (!flags.yes) await confirm(flags);
  return withKube(flags.kubeconfig, async (kube) => {
    const report = await uninstall(kube, {
      namespace: flags.namespace,
      pruneApplications: flags.pruneApplications ?? false,
      crds: flags.crds ?? false,
      timeoutMs,
      progress,
    });
    for (const ref of report.deleted) process.stdout.write(`${formatRef(ref)} deleted\n`);
    if (report.deleted.length === 0 && report.released === 0 && report.pruned === 0) {
      process.stdout.write(`nothing to do: Capstan is not installed in ${flags.namespace}\n`);
      return EXIT.ok;
    }
    const kept =
      report.released > 0 ? `; ${report.released} Application(s) released: their objects stay in place` : '';
    const pruned = report.pruned > 0 ? `; ${report.pruned} Application(s) deleted with their objects` : '';
    process.stdout.write(`Capstan uninstalled from ${flags.namespace}${pruned}${kept}\n`);
    return EXIT.ok;
  });
}

function installOptions(flags: InstallFlags): InstallOptions & { namespace: string } {
  const replicas = /^\d+$/.test(flags.replicas) ? Number(flags.replicas) : Number.NaN;
  if (!Number.isInteger(replicas))
    throw new UserError(`--replicas must be a whole number, not '${flags.replicas}'`);
  return {
    image: flags.image ?? defaultImage(),
    namespace: flags.namespace,
    replicas,
    tenancy: flags.tenancy as 'shared' | 'single-team',
    ...(flags.logLevel ? { logLevel: flags.logLevel } : {}),
    extraArgs: flags.arg,
  };
}

/** The Git password: from --password-file (its first line) or CAPSTAN_GIT_PASSWORD; never a flag's value. */
async function gitPassword(flags: BootstrapFlags): Promise<string> {
  if (flags.passwordFile) {
    const text = await readFile(flags.passwordFile, 'utf8').catch((error: unknown) => {
      throw new UserError(`cannot read --password-file ${flags.passwordFile}`, { cause: error });
    });
    return text.split(/\r?\n/)[0] ?? '';
  }
  const password = process.env.CAPSTAN_GIT_PASSWORD ?? '';
  if (!password)
    throw new UserError(
      'bootstrap pushes to the repository: give a password or token with --password-file or CAPSTAN_GIT_PASSWORD',
    );
  return password;
}

async function confirm(flags: UninstallFlags): Promise<void> {
  const what = `${flags.pruneApplications ? 'delete every Application with its objects, then ' : ''}remove Capstan from ${flags.namespace}${flags.crds ? ' and delete its CRDs (every Capstan object)' : ''}`;
  if (!process.stdin.isTTY) throw new UserError(`uninstall would ${what}: pass --yes to confirm`);
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(`This will ${what}. Continue? [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new UserError('not confirmed: nothing was changed');
  } finally {
    prompt.close();
  }
}

async function withKube(
  kubeconfig: string | undefined,
  work: (kube: HttpKubeClient) => Promise<number>,
): Promise<number> {
  const kube = await createKubeClient({
    fieldManager: INSTALL_FIELD_MANAGER,
    ...(kubeconfig ? { kubeconfigPath: kubeconfig } : {}),
  });
  try {
    return await work(kube);
  } finally {
    kube.close();
  }
}
