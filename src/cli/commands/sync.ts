/**
 * `capstan diff` and `capstan apply`: one-shot syncs of a Git path or a local folder, no operator
 * needed. Both run the engine; diff runs it with every write a dry-run.
 */
import { Option, type Command } from '@commander-js/extra-typings';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { UserError } from '../../core/errors.js';
import type { AppSpec } from '../../engine/app.js';
import type { SyncMode, SyncResult } from '../../engine/sync.js';
import { createKubeClient } from '../../kube/index.js';
import type { RenderKind } from '../../render/index.js';
import { redactUrl, type GitCredentials } from '../../source/index.js';
import { EXIT } from '../exit-codes.js';
import { createReporter, formatResult, type OutputFormat } from '../output.js';
import { parseDurationFlag } from '../parse.js';
import { capstanCacheDir, engineParts } from '../wiring.js';

interface SyncFlags {
  repo?: string;
  ref: string;
  path?: string;
  name?: string;
  namespace: string;
  destinationNamespace?: string;
  kubeconfig?: string;
  render: string;
  values: string[];
  set: string[];
  release?: string;
  prune: boolean;
  allowEmpty?: boolean;
  force?: boolean;
  leaveFieldsTo: string[];
  wait?: boolean;
  timeout: string;
  output: string;
  sshKey?: string;
  knownHosts?: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function addSyncOptions(command: Command, mode: SyncMode): Command {
  command
    .argument('[dir]', 'a local folder to sync (instead of --repo)')
    .option('--repo <url>', 'Git repository (https://, ssh://, user@host:path, file://)')
    .option('--ref <ref>', 'branch, tag, semver range over tags (e.g. ">=1.2 <2") or commit SHA', 'HEAD')
    .option('--path <dir>', 'folder inside the repository (or inside <dir>)')
    .option('--name <name>', 'app name: keys the inventory used for prune (default: the last folder name)')
    .option('-n, --namespace <ns>', 'namespace holding the app inventory', 'default')
    .option(
      '--destination-namespace <ns>',
      'namespace for namespaced objects that name none (default: --namespace)',
    )
    .option('--kubeconfig <file>', 'kubeconfig to use (default: $KUBECONFIG or ~/.kube/config)')
    .addOption(
      new Option('--render <kind>', 'how to render')
        .choices(['auto', 'plain', 'kustomize', 'helm'])
        .default('auto'),
    )
    .option(
      '--values <file>',
      'Helm values file in the repository, relative to the chart (repeatable)',
      collect,
      [] as string[],
    )
    .option('--set <key=value>', 'Helm value (repeatable; dotted keys nest)', collect, [] as string[])
    .option('--release <name>', 'Helm release name (default: --name)')
    .option('--no-prune', 'do not delete objects that left Git')
    .option('--allow-empty', 'allow prune to delete everything when the render is empty')
    .option('--force', 're-create objects whose change hits an immutable field')
    .option(
      '--leave-fields-to <manager>',
      'never overwrite fields owned by this field manager (repeatable)',
      collect,
      [] as string[],
    )
    .option('--ssh-key <file>', 'private key for ssh repositories')
    .option('--known-hosts <file>', 'known_hosts for ssh repositories (default ~/.ssh/known_hosts)')
    .addOption(
      new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'),
    );
  if (mode === 'apply') {
    command
      .option('--no-wait', 'do not wait for applied objects to become healthy')
      .option('--timeout <duration>', 'how long to wait for health', '5m');
  } else {
    command.option('--timeout <duration>', 'unused by diff', '5m');
  }
  return command;
}

export function registerSyncCommands(program: Command): void {
  const examples = (verb: string): string => `
Examples:
  capstan ${verb} ./manifests
  capstan ${verb} --repo https://git.example.com/team/apps.git --ref main --path apps/web
  capstan ${verb} --repo git@git.example.com:team/apps.git --ref ">=1.4.0 <2" --path charts/api --ssh-key ~/.ssh/id_ed25519
  capstan ${verb} ./charts/api --render helm --values values-prod.yaml --set image.tag=1.4.2 -o json

Credentials for https repositories come from CAPSTAN_GIT_USERNAME and CAPSTAN_GIT_PASSWORD (or
CAPSTAN_GIT_TOKEN); they never appear in output, never follow a redirect, and are refused over plain
http:// unless CAPSTAN_GIT_ALLOW_HTTP=1.`;

  const diff = addSyncOptions(
    program
      .command('diff')
      .description(
        'show what apply would change, by server-side dry-run (exit 3 when there are differences)',
      ),
    'diff',
  );
  diff.addHelpText('after', examples('diff')).action(async (dir, flags) => {
    process.exitCode = await runSync('diff', dir as string | undefined, flags as unknown as SyncFlags);
  });

  const apply = addSyncOptions(
    program
      .command('apply')
      .description('converge the cluster with Git: server-side apply, prune, wait for health'),
    'apply',
  );
  apply.addHelpText('after', examples('apply')).action(async (dir, flags) => {
    process.exitCode = await runSync('apply', dir as string | undefined, flags as unknown as SyncFlags);
  });
}

async function runSync(mode: SyncMode, dir: string | undefined, flags: SyncFlags): Promise<number> {
  if (!dir && !flags.repo)
    throw new UserError(
      'say what to sync: a folder (capstan apply ./dir) or --repo URL --ref REF --path DIR',
    );
  if (dir && flags.repo) throw new UserError('give either a folder or --repo, not both');
  const format = flags.output as OutputFormat;
  const timeoutSeconds = parseDurationFlag(flags.timeout, '--timeout') / 1000;
  const reporter = createReporter(format, process.stderr);

  const path = flags.path ?? (dir ? '.' : '');
  const name = flags.name ?? defaultName(dir ? resolve(dir, path) : `${flags.repo}/${path}`);
  const parts = await engineParts({
    stateDir: capstanCacheDir(),
    allowFileUrls: true,
    progress: (line) => reporter.line(line),
  });
  const kube = await createKubeClient(flags.kubeconfig ? { kubeconfigPath: flags.kubeconfig } : {});
  try {
    const engine = parts.engineOn(kube);
    const app: AppSpec = {
      identity: { namespace: flags.namespace, name },
      source: dir
        ? { type: 'directory', dir: resolve(dir), path }
        : {
            type: 'git',
            repository: { url: flags.repo!, ...(await credentialsFrom(flags, flags.repo!)) },
            ref: flags.ref,
            path,
          },
      render: {
        kind: flags.render as RenderKind | 'auto',
        helm: {
          releaseName: flags.release ?? name,
          namespace: flags.destinationNamespace ?? flags.namespace,
          valueFiles: flags.values,
          values: parseSetValues(flags.set),
        },
      },
      destinationNamespace: flags.destinationNamespace ?? flags.namespace,
      prune: flags.prune,
      allowEmpty: flags.allowEmpty ?? false,
      forceRecreate: flags.force ?? false,
      leaveFieldsToManagers: flags.leaveFieldsTo,
      health: { wait: mode === 'apply' && flags.wait !== false, timeoutSeconds },
    };
    const result = await engine.sync(app, { mode, onEvent: (event) => reporter.event(event) });
    reporter.done();
    process.stdout.write(
      formatResult(result, format, { color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR }),
    );
    return exitCodeOf(result);
  } finally {
    kube.close();
  }
}

export function exitCodeOf(result: SyncResult): number {
  if (result.failed) return EXIT.error;
  if (result.mode === 'diff' && result.changed) return EXIT.differences;
  return EXIT.ok;
}

function defaultName(location: string): string {
  const last = basename(location.replace(/\.git$/, '').replace(/\/+$/, '')) || 'app';
  const name = last
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return name || 'app';
}

async function credentialsFrom(flags: SyncFlags, url: string): Promise<{ credentials?: GitCredentials }> {
  if (flags.sshKey) {
    const knownHostsFile = flags.knownHosts ?? join(homedir(), '.ssh', 'known_hosts');
    return {
      credentials: {
        kind: 'ssh',
        privateKey: await readFile(flags.sshKey, 'utf8'),
        knownHosts: await readFile(knownHostsFile, 'utf8').catch(() => {
          throw new UserError(`no known_hosts for ssh (${knownHostsFile}); pass --known-hosts FILE`);
        }),
      },
    };
  }
  const password = process.env.CAPSTAN_GIT_PASSWORD ?? process.env.CAPSTAN_GIT_TOKEN;
  if (!password || !/^https?:/.test(url)) return {};
  // The user's own credentials go where the user points them, but not in clear text unless asked.
  const allowInsecureHttp = process.env.CAPSTAN_GIT_ALLOW_HTTP === '1';
  if (url.startsWith('http:') && !allowInsecureHttp) {
    throw new UserError(
      `refusing to send CAPSTAN_GIT_PASSWORD (or CAPSTAN_GIT_TOKEN) over plain http:// to ${redactUrl(url)}, where anyone on the way can read it; use https://, or set CAPSTAN_GIT_ALLOW_HTTP=1 to allow it`,
    );
  }
  return {
    credentials: {
      kind: 'basic',
      username: process.env.CAPSTAN_GIT_USERNAME ?? 'git',
      password,
      ...(allowInsecureHttp ? { allowInsecureHttp } : {}),
    },
  };
}

/** `--set a.b=c` → `{ a: { b: 'c' } }`; `true`, `false`, numbers and `null` keep their type, like helm. */
export function parseSetValues(assignments: readonly string[]): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const assignment of assignments) {
    const eq = assignment.indexOf('=');
    if (eq <= 0) throw new UserError(`--set expects key=value, got '${assignment}'`);
    const keys = assignment.slice(0, eq).split('.');
    const raw = assignment.slice(eq + 1);
    const value =
      raw === 'true'
        ? true
        : raw === 'false'
          ? false
          : raw === 'null'
            ? null
            : /^-?\d+(\.\d+)?$/.test(raw)
              ? Number(raw)
              : raw;
    let node = values;
    for (const key of keys.slice(0, -1)) {
      if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[keys.at(-1)!] = value;
  }
  return values;
}
