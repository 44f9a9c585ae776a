/**
 * A real Git forge on loopback for tests and the demo: Gitea (pull requests, webhooks, commit
 * statuses, comments) built from its Go module by ensureTools(), run with SQLite in a data folder of
 * its own. `startForge()` runs `gitea migrate`, creates an admin, starts `gitea web` on 127.0.0.1
 * and waits for `/api/healthz`; the process is supervised like the control plane's (no orphans).
 *
 * `ForgeClient` holds only what can cross a process boundary (`ForgeConnection`): test workers build
 * one from what the run's global setup hands them (test/support/forge.ts).
 */
import { execFile } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { CapstanError, EnvironmentError, messageOf } from '../core/errors.js';
import { freePort } from './controlplane.js';
import { waitForHttp } from './http.js';
import { ProcessGroup, cleanLeftovers, type Leftover, type SupervisedProcess } from './processes.js';
import { defaultCacheDir, ensureTools, type ToolPaths } from './tools.js';

/** A forge account; the password is what basic auth (git over HTTP, token creation) needs. */
export interface ForgeUser {
  readonly username: string;
  readonly password: string;
  readonly email: string;
}

export interface ForgeRepo {
  readonly owner: string;
  readonly name: string;
  /** `owner/name` */
  readonly fullName: string;
  /** `http://127.0.0.1:<port>/owner/name.git`, without credentials. */
  readonly cloneUrl: string;
  readonly defaultBranch: string;
  readonly private: boolean;
}

/** Access-token scopes (Gitea's names); `all` grants everything. */
export type ForgeScope =
  | 'all'
  | `${'read' | 'write'}:${'activitypub' | 'admin' | 'issue' | 'misc' | 'notification' | 'organization' | 'package' | 'repository' | 'user'}`;

/** Everything a client needs, as plain data (it crosses from vitest's global setup into workers). */
export interface ForgeConnection {
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  readonly url: string;
  readonly admin: ForgeUser;
  /** A token of the admin with scope `all`. */
  readonly adminToken: string;
}

/** The forge answered an API call with an unexpected status. The message carries no secret. */
export class ForgeApiError extends CapstanError {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(
      status === 404 ? 'notFound' : status === 409 ? 'conflict' : 'internal',
      `forge: ${method} ${path} answered HTTP ${status}: ${body.slice(0, 500)}`,
    );
  }
}

export type ForgeAuth = { readonly token: string } | { readonly user: ForgeUser } | 'none';

export interface ForgeRequest {
  readonly body?: unknown;
  /** Default: the admin's token. */
  readonly auth?: ForgeAuth;
  /** Statuses that count as success; default any 2xx. */
  readonly expect?: readonly number[];
}

/** HTTP helpers over Gitea's API (`/api/v1`). Safe to use from any process that can reach the forge. */
export class ForgeClient {
  readonly url: string;
  readonly admin: ForgeUser;
  readonly adminToken: string;
  /** Passwords of the users this client created, so `token(username, …)` can authenticate as them. */
  private readonly users = new Map<string, ForgeUser>();

  constructor(readonly connection: ForgeConnection) {
    this.url = connection.url;
    this.admin = connection.admin;
    this.adminToken = connection.adminToken;
    this.users.set(connection.admin.username, connection.admin);
  }

  /** Calls `/api/v1<path>` and returns the parsed JSON answer (undefined for an empty one). */
  async api<T = unknown>(method: string, path: string, options: ForgeRequest = {}): Promise<T> {
    const auth = options.auth ?? { token: this.adminToken };
    const headers: Record<string, string> = { accept: 'application/json' };
    if (auth !== 'none' && 'token' in auth) headers.authorization = `token ${auth.token}`;
    if (auth !== 'none' && 'user' in auth)
      headers.authorization = `Basic ${Buffer.from(`${auth.user.username}:${auth.user.password}`).toString('base64')}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${this.url}/api/v1${path}`, {
      method,
      headers,
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    const ok = options.expect ? options.expect.includes(response.status) : response.ok;
    if (!ok) throw new ForgeApiError(method, path, response.status, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Creates a user (name, password and e-mail made up unless given) who need not change the password. */
  async createUser(
    options: { username?: string; password?: string; email?: string; admin?: boolean } = {},
  ): Promise<ForgeUser> {
    const username = options.username ?? `user-${randomBytes(4).toString('hex')}`;
    const user: ForgeUser = {
      username,
      password: options.password ?? randomBytes(18).toString('base64url'),
      email: options.email ?? `${username}@capstan.test`,
    };
    await this.api('POST', '/admin/users', {
      body: {
        username: user.username,
        password: user.password,
        email: user.email,
        must_change_password: false,
        send_notify: false,
      },
      expect: [201],
    });
    if (options.admin)
      await this.api('PATCH', `/admin/users/${encodeURIComponent(username)}`, {
        body: { admin: true, source_id: 0 },
      });
    this.users.set(username, user);
    return user;
  }

  /** Creates `owner/name` (owner: a user or an organisation), empty unless `autoInit`; default branch main. */
  async createRepo(
    owner: string,
    name: string,
    options: { private?: boolean; autoInit?: boolean; defaultBranch?: string; description?: string } = {},
  ): Promise<ForgeRepo> {
    const defaultBranch = options.defaultBranch ?? 'main';
    const repo = await this.api<{
      name: string;
      full_name: string;
      clone_url: string;
      default_branch: string;
      private: boolean;
      owner: { login: string };
    }>('POST', `/admin/users/${encodeURIComponent(owner)}/repos`, {
      body: {
        name,
        private: options.private ?? false,
        auto_init: options.autoInit ?? false,
        default_branch: defaultBranch,
        description: options.description ?? '',
      },
      expect: [201],
    });
    return {
      owner: repo.owner.login,
      name: repo.name,
      fullName: repo.full_name,
      cloneUrl: repo.clone_url,
      defaultBranch: repo.default_branch || defaultBranch,
      private: repo.private,
    };
  }

  /**
   * A new access token of `user` with `scopes`. Gitea mints tokens only for a user's own basic auth:
   * pass the ForgeUser, or the name of a user this client created.
   */
  async token(user: string | ForgeUser, scopes: readonly ForgeScope[], name?: string): Promise<string> {
    const account = typeof user === 'string' ? this.users.get(user) : user;
    if (!account)
      throw new Error(
        `forge: no password known for user '${String(user)}'; pass the ForgeUser createUser() returned`,
      );
    const token = await this.api<{ sha1: string }>(
      'POST',
      `/users/${encodeURIComponent(account.username)}/tokens`,
      {
        auth: { user: account },
        body: { name: name ?? `capstan-${randomBytes(4).toString('hex')}`, scopes },
        expect: [201],
      },
    );
    return token.sha1;
  }

  /**
   * Waits until the forge has taken in a push: Gitea records pushed branches asynchronously (a queue
   * behind its post-receive hook), so a pull request or a status right after `git push` may not find
   * the branch or commit yet. Resolves with the branch's commit.
   */
  async waitForBranch(
    fullName: string,
    branch: string,
    options: { sha?: string; timeoutMs?: number } = {},
  ): Promise<string> {
    const deadline = Date.now() + (options.timeoutMs ?? 15_000);
    const path = `/repos/${fullName}/branches/${encodeURIComponent(branch)}`;
    let seen = 'no such branch';
    for (;;) {
      const answer = await this.api<{ commit?: { id?: string } }>('GET', path, { expect: [200, 404] });
      const id = answer?.commit?.id;
      if (id && (!options.sha || id === options.sha)) return id;
      if (id) seen = `at ${id}`;
      if (Date.now() > deadline)
        throw new Error(
          `forge: ${fullName} branch ${branch} is ${seen}${options.sha ? `, not ${options.sha}` : ''} after waiting`,
        );
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** The clone URL of `owner/name`, with `user`'s credentials in it when given (for the git CLI). */
  cloneUrl(owner: string, name: string, user?: ForgeUser | { username: string; token: string }): string {
    const url = new URL(`${this.url}/${owner}/${name}.git`);
    if (user) {
      url.username = user.username;
      url.password = 'password' in user ? user.password : user.token;
    }
    return url.href;
  }
}

export interface Forge extends ForgeClient {
  /** Where Gitea keeps its database, repositories and app.ini. */
  readonly dataDir: string;
  readonly process: SupervisedProcess;
  /** Stops Gitea; removes its data unless `dataDir` was given. Safe to call more than once. */
  stop(): Promise<void>;
}

class RunningForge extends ForgeClient implements Forge {
  constructor(
    connection: ForgeConnection,
    readonly dataDir: string,
    readonly process: SupervisedProcess,
    readonly stop: () => Promise<void>,
  ) {
    super(connection);
  }
}

export interface ForgeOptions {
  /**
   * Keep Gitea's data here, and keep it after stop; a folder an earlier start left is reused (same
   * admin, same repositories). Default: a temporary folder, removed on stop.
   */
  readonly dataDir?: string;
  /** The HTTP port on 127.0.0.1; default a free one. */
  readonly port?: number;
  /** Default `ensureTools({ only: ['gitea'] })`, which builds Gitea when the cache lacks it. */
  readonly tools?: Pick<ToolPaths, 'gitea' | 'giteaStaticRoot'>;
  readonly progress?: (line: string) => void;
  /** Holds run records for leftover cleaning; default `<cache dir>/state`. */
  readonly stateDir?: string;
  /** Stop on SIGINT/SIGTERM/SIGHUP of this process (then re-raise the signal). Default true. */
  readonly handleSignals?: boolean;
  /** How long `gitea web` may take to answer /api/healthz. Default 60 s. */
  readonly readyTimeoutSeconds?: number;
}

/** What a reused data folder remembers between starts. */
interface ForgeState {
  readonly admin: ForgeUser;
  readonly secretKey: string;
  readonly internalToken: string;
}

const STATE_FILE = 'capstan-forge.json';
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
/** The most output of a one-shot gitea command kept for an error message. */
const MAX_OUTPUT = 64 * 1024;

export async function startForge(options: ForgeOptions = {}): Promise<Forge> {
  const progress = options.progress ?? (() => {});
  const tools = options.tools ?? (await ensureTools({ only: ['gitea'], progress }));
  const stateDir = options.stateDir ?? join(defaultCacheDir(), 'state');
  const readyTimeoutMs = (options.readyTimeoutSeconds ?? 60) * 1000;

  for (const leftover of await cleanLeftovers(stateDir)) progress(describeLeftover(leftover));

  // The run folder (logs) always goes; the data folder only when it is ours.
  const runDir = await mkdtemp(join(tmpdir(), 'capstan-forge-'));
  const dataDir = options.dataDir ? resolve(options.dataDir) : join(runDir, 'data');
  const group = new ProcessGroup({ stateDir, dataDir: runDir });
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= group.stopAll().finally(() => {
      for (const signal of SIGNALS) process.removeListener(signal, onSignal);
    });
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    void stop().finally(() => {
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  };
  if (options.handleSignals ?? true) for (const signal of SIGNALS) process.on(signal, onSignal);

  try {
    const port = options.port ?? (await freePort());
    await assertPortFree(port);
    const url = `http://127.0.0.1:${port}`;
    await mkdir(join(dataDir, 'home'), { recursive: true });

    const statePath = join(dataDir, STATE_FILE);
    const previous = await readFile(statePath, 'utf8').then(
      (text) => JSON.parse(text) as ForgeState,
      () => undefined,
    );
    const state: ForgeState = previous ?? {
      admin: {
        username: 'capstan-admin',
        password: randomBytes(18).toString('base64url'),
        email: 'capstan-admin@capstan.test',
      },
      secretKey: randomBytes(48).toString('base64url'),
      internalToken: internalToken(),
    };
    const configPath = join(dataDir, 'app.ini');
    await writeFile(configPath, appIni({ url, port, dataDir, staticRoot: tools.giteaStaticRoot, ...state }), {
      mode: 0o600,
    });
    const env = giteaEnv(dataDir);
    const gitea = (args: readonly string[]): Promise<void> =>
      runOnce(tools.gitea, ['--config', configPath, '--work-path', dataDir, ...args], env);

    progress(previous ? `reusing the forge data in ${dataDir}` : 'preparing the forge database');
    await gitea(['migrate']);
    // Repository hooks call the gitea binary by its path, which a rebuilt Gitea changes.
    if (previous) await gitea(['admin', 'regenerate', 'hooks']);
    else {
      await gitea([
        'admin',
        'user',
        'create',
        '--admin',
        `--username=${state.admin.username}`,
        `--password=${state.admin.password}`,
        `--email=${state.admin.email}`,
        '--must-change-password=false',
      ]);
      await writeFile(statePath, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
    }

    progress(`starting gitea on ${url}`);
    const proc = await group.start(
      'gitea',
      tools.gitea,
      ['--config', configPath, '--work-path', dataDir, 'web'],
      env,
    );
    await waitForHttp(`${url}/api/healthz`, { process: proc, timeoutMs: readyTimeoutMs });

    const bootstrap = new ForgeClient({ url, admin: state.admin, adminToken: '' });
    const adminToken = await bootstrap.token(state.admin, ['all'], `capstan-${Date.now().toString(36)}`);
    return new RunningForge({ url, admin: state.admin, adminToken }, dataDir, proc, stop);
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * The smallest app.ini that runs Gitea offline on loopback: no SSH, LFS, mail, cron, Actions or
 * OAuth2; SQLite in WAL mode; webhooks may target loopback (Capstan's receiver in tests). Packages
 * stay on: their OCI container registry (Bearer token auth) is the token-auth registry of the tests.
 */
export function appIni(settings: {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly staticRoot: string;
  readonly secretKey: string;
  readonly internalToken: string;
  /** Default: the current user (Gitea refuses to run as another one). */
  readonly runUser?: string;
}): string {
  const { url, port, dataDir, staticRoot } = settings;
  const user = userInfo();
  const runUser = settings.runUser ?? user.username;
  const sections: Record<string, Record<string, string | number | boolean>> = {
    '': {
      APP_NAME: 'Capstan test forge',
      RUN_MODE: 'prod',
      RUN_USER: runUser,
      WORK_PATH: dataDir,
      ...(user.uid === 0 ? { I_AM_BEING_UNSAFE_RUNNING_AS_ROOT: true } : {}),
    },
    server: {
      PROTOCOL: 'http',
      HTTP_ADDR: '127.0.0.1',
      HTTP_PORT: port,
      ROOT_URL: `${url}/`,
      DOMAIN: '127.0.0.1',
      STATIC_ROOT_PATH: staticRoot,
      APP_DATA_PATH: join(dataDir, 'data'),
      DISABLE_SSH: true,
      START_SSH_SERVER: false,
      OFFLINE_MODE: true,
      LFS_START_SERVER: false,
    },
    database: {
      DB_TYPE: 'sqlite3',
      PATH: join(dataDir, 'data', 'gitea.db'),
      SQLITE_JOURNAL_MODE: 'WAL',
    },
    repository: { ROOT: join(dataDir, 'repositories'), DEFAULT_BRANCH: 'main' },
    security: {
      INSTALL_LOCK: true,
      SECRET_KEY: settings.secretKey,
      INTERNAL_TOKEN: settings.internalToken,
      // Webhooks to loopback (1.27 reads it here, older versions in [webhook]: set both; 1.27 logs a
      // deprecation line about the second).
      ALLOWED_HOST_LIST: 'loopback',
    },
    webhook: { ALLOWED_HOST_LIST: 'loopback', DELIVER_TIMEOUT: 5 },
    service: { DISABLE_REGISTRATION: true, REQUIRE_SIGNIN_VIEW: false },
    log: {
      MODE: 'console',
      LEVEL: 'Warn',
      ROOT_PATH: join(dataDir, 'log'),
      'logger.router.MODE': '',
      'logger.xorm.MODE': '',
    },
    // In memory: pushes, webhooks and pull-request checks are handled at once rather than polled from
    // a queue on disk (seconds later); a dev forge loses nothing that matters if stopped mid-way.
    queue: { TYPE: 'channel' },
    mailer: { ENABLED: false },
    cron: { ENABLED: false },
    actions: { ENABLED: false },
    packages: { ENABLED: true },
    oauth2: { ENABLED: false },
    // The database, not a bleve index on disk: nothing to build at start.
    indexer: { REPO_INDEXER_ENABLED: false, ISSUE_INDEXER_TYPE: 'db' },
    'cron.update_checker': { ENABLED: false },
  };
  return (
    Object.entries(sections)
      .map(([name, keys]) =>
        [
          ...(name ? [`[${name}]`] : []),
          ...Object.entries(keys).map(([key, value]) => `${key} = ${String(value)}`),
        ].join('\n'),
      )
      .join('\n\n') + '\n'
  );
}

/** Gitea's INTERNAL_TOKEN has the shape `gitea generate secret INTERNAL_TOKEN` prints: an HS256 JWT. */
function internalToken(): string {
  const encode = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode({ nbf: Math.floor(Date.now() / 1000) })}`;
  const signature = createHmac('sha256', randomBytes(32)).update(unsigned).digest('base64url');
  return `${unsigned}.${signature}`;
}

/** Gitea runs git itself: keep the caller's git settings (GIT_DIR in a hook, a global config) out. */
function giteaEnv(dataDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env))
    if (!key.startsWith('GIT_') && !key.startsWith('GITEA_')) env[key] = value;
  return { ...env, GITEA_WORK_DIR: dataDir, HOME: join(dataDir, 'home') };
}

/** Runs a one-shot gitea command; on failure the error carries the end of its output. */
function runOnce(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    execFile(command, args, { env, timeout: 120_000, maxBuffer: MAX_OUTPUT * 4 }, (error, stdout, stderr) => {
      if (!error) return resolvePromise();
      const output = `${stdout}${stderr}`.slice(-MAX_OUTPUT).trimEnd().split('\n').slice(-20).join('\n');
      // The admin's password is an argument of `admin user create`: keep it out of the message,
      // and do not attach the error (its message repeats the command line).
      const shown = args.filter((a) => !a.startsWith('--password=')).join(' ');
      const how = error.killed
        ? 'timed out'
        : typeof error.code === 'number'
          ? `exit code ${error.code}`
          : (error.signal ?? String(error.code));
      reject(new EnvironmentError(`gitea ${shown} failed (${how}):\n${output}`));
    });
  });
}

async function assertPortFree(port: number): Promise<void> {
  await new Promise<void>((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', (error) =>
      reject(
        new EnvironmentError(
          `port 127.0.0.1:${port} (for gitea) is not free: ${(error as NodeJS.ErrnoException).code ?? messageOf(error)}`,
          { cause: error },
        ),
      ),
    );
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePromise()));
  });
}

function describeLeftover(leftover: Leftover): string {
  const killed = leftover.killed.map((k) => `${k.name} (pid ${k.pid})`).join(', ') || 'no live processes';
  return `cleaned up after a crashed run (owner pid ${leftover.ownerPid}): stopped ${killed}, removed ${leftover.dataDir}`;
}
