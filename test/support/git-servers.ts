/**
 * Real Git servers for tests: repositories built with the git CLI, served over file://, over HTTP
 * by `git http-backend` behind a node:http server (optionally with basic auth), and over SSH by a
 * private, non-daemon sshd on a loopback port.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdir, mkdtemp, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { createConnection, createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { sleep } from '../../src/core/time.js';

const run = promisify(execFile);

/** Commits made by tests are deterministic apart from their date, and never read the user's config. */
const GIT_ENV = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Test Author',
  GIT_AUTHOR_EMAIL: 'author@example.com',
  GIT_COMMITTER_NAME: 'Test Committer',
  GIT_COMMITTER_EMAIL: 'committer@example.com',
};

export async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('git', args, { cwd, env: GIT_ENV, maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim();
}

export async function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `capstan-${prefix}-`));
}

/** A file's content, a symlink, or `null` to delete it. */
export type FileChange = string | { readonly symlink: string } | null;

export interface TestRepo {
  /** The bare repository servers serve, `<root>/<name>.git`. */
  readonly bareDir: string;
  readonly name: string;
  readonly fileUrl: string;
  /** Commits `files` on `branch` (default main) and pushes; returns the new commit's SHA. */
  commit(files: Record<string, FileChange>, message?: string, branch?: string): Promise<string>;
  /** Tags the tip of main (or `target`); annotated tags carry a message. */
  tag(name: string, options?: { annotated?: boolean; target?: string }): Promise<void>;
  /** Tip of a branch, read from the bare repository. */
  head(branch?: string): Promise<string>;
}

/** Creates `<root>/<name>.git` and a working clone beside it that commits are made in. */
export async function createTestRepo(root: string, name = 'repo'): Promise<TestRepo> {
  const bareDir = join(root, `${name}.git`);
  const workDir = join(root, '.work', name);
  await mkdir(workDir, { recursive: true });
  await git(root, 'init', '--quiet', '--bare', '--initial-branch=main', bareDir);
  await git(workDir, 'init', '--quiet', '--initial-branch=main');
  await git(workDir, 'remote', 'add', 'origin', bareDir);
  let current = 'main';

  const checkout = async (branch: string) => {
    if (branch === current) return;
    const exists = await git(workDir, 'branch', '--list', branch);
    await git(workDir, 'checkout', '--quiet', ...(exists ? [branch] : ['-b', branch]));
    current = branch;
  };

  return {
    bareDir,
    name,
    fileUrl: `file://${bareDir}`,
    async commit(files, message = 'change', branch = 'main') {
      await checkout(branch);
      for (const [path, change] of Object.entries(files)) {
        const target = join(workDir, path);
        await mkdir(dirname(target), { recursive: true });
        await unlink(target).catch(() => {});
        if (change === null) continue;
        if (typeof change === 'string') await writeFile(target, change);
        else await symlink(change.symlink, target);
      }
      await git(workDir, 'add', '--all');
      await git(workDir, 'commit', '--quiet', '--allow-empty', '-m', message);
      await git(workDir, 'push', '--quiet', '--force', 'origin', `${branch}:${branch}`);
      return git(workDir, 'rev-parse', 'HEAD');
    },
    async tag(tagName, options = {}) {
      const target = options.target ?? 'main';
      const args = options.annotated ? ['-a', '-m', `release ${tagName}`] : [];
      await git(workDir, 'tag', ...args, tagName, target);
      await git(workDir, 'push', '--quiet', 'origin', `refs/tags/${tagName}`);
    },
    head(branch = 'main') {
      return git(bareDir, 'rev-parse', `refs/heads/${branch}`);
    },
  };
}

/**
 * Makes the bare repository refuse pushes to `branch` with a pre-receive hook, as hosts refuse a
 * protected branch (git reports "[remote rejected] … (pre-receive hook declined)").
 */
export async function protectBranch(
  bareDir: string,
  branch: string,
  message = 'GitLab: You are not allowed to push code to protected branches on this project.',
): Promise<void> {
  const hook = join(bareDir, 'hooks', 'pre-receive');
  await mkdir(dirname(hook), { recursive: true });
  const script = [
    '#!/bin/sh',
    'while read old new ref; do',
    `  if [ "$ref" = 'refs/heads/${branch}' ]; then`,
    `    echo '${message.replace(/'/g, '')}' >&2`,
    '    exit 1',
    '  fi',
    'done',
    'exit 0',
    '',
  ].join('\n');
  await writeFile(hook, script, { mode: 0o755 });
}

export {
  startGitHttpServer,
  type GitHttpServer,
  type GitHttpServerOptions,
} from '../../src/dev/git-http-server.js';

/** A plain node:http server on loopback for tests about where credentials go. */
export interface HttpStub {
  readonly port: number;
  /** `http://127.0.0.1:<port>/<name>.git` */
  url(name: string): string;
  /** Every request, `METHOD path`. */
  readonly requests: string[];
  /** The Authorization header of every request that had one: what a server would have learnt. */
  readonly authorizations: string[];
  close(): Promise<void>;
}

async function startHttpStub(respond: (request: IncomingMessage, response: ServerResponse) => void) {
  const requests: string[] = [];
  const authorizations: string[] = [];
  const server = createHttpServer((request, response) => {
    requests.push(`${request.method} ${request.url}`);
    if (request.headers.authorization) authorizations.push(request.headers.authorization);
    respond(request, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  const stub: HttpStub = {
    port,
    requests,
    authorizations,
    url: (name) => `http://127.0.0.1:${port}/${name}.git`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return stub;
}

/**
 * An attacker's server: it asks every request for basic credentials (as a real Git host does) and
 * records any it is sent, so a test can show it was sent none.
 */
export function startCredentialTrap(): Promise<HttpStub> {
  return startHttpStub((_, response) => {
    response.writeHead(401, { 'WWW-Authenticate': 'Basic realm="trap"' }).end('unauthorised\n');
  });
}

/** Answers every request with a redirect to the same path on `target` (`http://host:port`). */
export function startRedirector(target: string, status = 302): Promise<HttpStub> {
  return startHttpStub((request, response) => {
    response.writeHead(status, { Location: `${target}${request.url ?? '/'}` }).end();
  });
}

export interface SshServer {
  readonly port: number;
  /** The login user (the current user; root in CI). */
  readonly user: string;
  /** `ssh://<user>@127.0.0.1:<port><absolute path>` */
  url(path: string): string;
  /** A known_hosts line for this server's host key. */
  readonly knownHosts: string;
  /** A private key whose public half is authorised. */
  readonly clientKey: string;
  /** The same key encrypted with `clientKeyPassphrase`. */
  readonly encryptedClientKey: string;
  readonly clientKeyPassphrase: string;
  /** A key that is not authorised. */
  readonly strangerKey: string;
  /** A known_hosts line for the right address but another host key. */
  readonly wrongKnownHosts: string;
  close(): Promise<void>;
}

const SSHD = '/usr/sbin/sshd';

/** Why SSH tests cannot run here, or undefined when they can. */
export function sshUnavailableReason(): string | undefined {
  if (!existsSync(SSHD)) return `${SSHD} is missing (Debian package "openssh-server")`;
  if (!existsSync('/usr/bin/ssh-keygen')) return 'ssh-keygen is missing (Debian package "openssh-client")';
  if (process.getuid?.() !== 0) return 'sshd needs root for privilege separation; run the tests as root';
  return undefined;
}

async function generateKey(dir: string, name: string, passphrase = ''): Promise<string> {
  const path = join(dir, name);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', name, '-f', path]);
  return path;
}

/**
 * Starts sshd in the foreground (`-D`) on a free loopback port with a temp host key and
 * authorized_keys. Logins run the real `git-upload-pack` of the login user.
 */
export async function startSshServer(): Promise<SshServer> {
  const reason = sshUnavailableReason();
  if (reason) throw new Error(reason);
  const dir = await makeTempDir('sshd');
  const hostKey = await generateKey(dir, 'host_key');
  const otherHostKey = await generateKey(dir, 'other_host_key');
  const clientKey = await generateKey(dir, 'client_key');
  const clientKeyPassphrase = 'correct horse battery staple';
  const encryptedKey = await generateKey(dir, 'encrypted_client_key', clientKeyPassphrase);
  const strangerKey = await generateKey(dir, 'stranger_key');
  const authorizedKeys = join(dir, 'authorized_keys');
  await writeFile(
    authorizedKeys,
    (await readFile(`${clientKey}.pub`, 'utf8')) + (await readFile(`${encryptedKey}.pub`, 'utf8')),
    { mode: 0o600 },
  );
  // sshd refuses to start without its privilege separation folder.
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });

  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const config = join(dir, 'sshd_config');
    await writeFile(
      config,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKey}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${authorizedKeys}`,
        'StrictModes no',
        'UsePAM no',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PubkeyAuthentication yes',
        'PermitRootLogin prohibit-password',
        `AllowUsers ${userInfo().username}`,
        'LogLevel VERBOSE',
        '',
      ].join('\n'),
    );
    const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
    try {
      await waitForBanner(port, child);
    } catch (error) {
      child.kill('SIGKILL');
      lastError = new Error(`sshd did not start: ${String(error)}\n${log}`);
      continue;
    }
    const hostPublic = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(' ').slice(0, 2).join(' ');
    const otherPublic = (await readFile(`${otherHostKey}.pub`, 'utf8'))
      .trim()
      .split(' ')
      .slice(0, 2)
      .join(' ');
    const user = userInfo().username;
    return {
      port,
      user,
      url: (path) => `ssh://${user}@127.0.0.1:${port}${path}`,
      knownHosts: `[127.0.0.1]:${port} ${hostPublic}\n`,
      wrongKnownHosts: `[127.0.0.1]:${port} ${otherPublic}\n`,
      clientKey: await readFile(clientKey, 'utf8'),
      encryptedClientKey: await readFile(encryptedKey, 'utf8'),
      clientKeyPassphrase,
      strangerKey: await readFile(strangerKey, 'utf8'),
      close: async () => {
        await stopProcess(child);
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  throw lastError;
}

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Waits until the server greets with its SSH banner (or exits, or 10 s pass). */
async function waitForBanner(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}`);
    const banner = await new Promise<string>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk.toString('utf8');
        if (text.includes('\n')) socket.destroy();
      });
      socket.on('close', () => resolve(text));
      socket.on('error', () => resolve(''));
    });
    if (banner.startsWith('SSH-2.0')) return;
    await sleep(50);
  }
  throw new Error('no SSH banner within 10 s');
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
