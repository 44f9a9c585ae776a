/**
 * Credentials for one git invocation, handed over without ever entering a URL, argv or a message:
 * HTTPS through GIT_ASKPASS (a fixed script reading 0600 files), SSH through a key file and a
 * known_hosts file. All of it lives in a private 0700 temp folder removed right after use.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../core/errors.js';
import { sshCommand } from './git.js';
import type { RepoUrl } from './url.js';

export type GitCredentials =
  /** HTTPS user name and password, or a token as the password (user name per host convention). */
  | { readonly kind: 'basic'; readonly username: string; readonly password: string }
  | {
      readonly kind: 'ssh';
      /** OpenSSH or PEM private key text. */
      readonly privateKey: string;
      readonly passphrase?: string;
      /** known_hosts lines for this server; falls back to the source's default known hosts. */
      readonly knownHosts?: string;
    };

export interface PreparedCredentials {
  /** Variables to add to git's environment. */
  readonly env: Readonly<Record<string, string>>;
  /** Values to redact from anything git prints. */
  readonly secrets: readonly string[];
  dispose(): Promise<void>;
}

/**
 * Answers git's and ssh's prompts. Fixed text, no secret in it: values come from files beside it, so
 * nothing a user typed is ever parsed by a shell (compare Flux CVE-2021-41254).
 */
const ASKPASS_SCRIPT = `#!/bin/sh
dir=$(dirname "$0")
case "$1" in
  [Uu]sername*) exec cat "$dir/username" ;;
  *) exec cat "$dir/password" ;;
esac
`;

/** Refuses credentials that do not fit the URL or could not be passed intact. No value is echoed. */
export function checkCredentials(credentials: GitCredentials | undefined, url: RepoUrl): void {
  if (credentials === undefined) return;
  const field = (name: string, value: unknown, required: boolean) => {
    if (typeof value !== 'string' || (required && value === '')) {
      throw new UserError(`credentials for ${url.display}: ${name} is missing`);
    }
    if (name !== 'privateKey' && name !== 'knownHosts' && /[\r\n\0]/.test(value)) {
      throw new UserError(`credentials for ${url.display}: ${name} contains a line break or NUL`);
    }
  };
  switch (credentials.kind) {
    case 'basic':
      if (url.scheme !== 'https' && url.scheme !== 'http') {
        throw new UserError(`credentials for ${url.display}: user name and password need an http(s) URL`);
      }
      field('username', credentials.username, true);
      field('password', credentials.password, true);
      return;
    case 'ssh':
      if (url.scheme !== 'ssh') {
        throw new UserError(
          `credentials for ${url.display}: an SSH key needs an ssh:// or user@host:path URL`,
        );
      }
      field('privateKey', credentials.privateKey, true);
      if (!/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(credentials.privateKey)) {
        throw new UserError(`credentials for ${url.display}: privateKey is not a PEM or OpenSSH private key`);
      }
      if (credentials.passphrase !== undefined) field('passphrase', credentials.passphrase, false);
      if (credentials.knownHosts !== undefined) field('knownHosts', credentials.knownHosts, false);
      return;
    default:
      throw new UserError(`credentials for ${url.display}: unknown kind`);
  }
}

export interface PrepareOptions {
  readonly tempDir: string;
  /** known_hosts text used for ssh when the credentials bring none. */
  readonly defaultKnownHosts?: string;
}

/** Writes what git needs for `credentials` into a private temp folder. Call `dispose()` in a finally. */
export async function prepareCredentials(
  credentials: GitCredentials | undefined,
  url: RepoUrl,
  options: PrepareOptions,
): Promise<PreparedCredentials> {
  const needsFiles = credentials !== undefined || (url.scheme === 'ssh' && options.defaultKnownHosts);
  if (!needsFiles) return { env: {}, secrets: [], dispose: async () => {} };
  // mkdtemp creates the folder 0700, so nobody else can even list it; files inside are 0600.
  const dir = await mkdtemp(join(options.tempDir, 'capstan-git-auth-'));
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    const secretFile = (name: string, content: string) =>
      writeFile(join(dir, name), content, { mode: 0o600 });
    if (credentials?.kind === 'basic') {
      const askpass = join(dir, 'askpass.sh');
      await writeFile(askpass, ASKPASS_SCRIPT, { mode: 0o700 });
      await chmod(askpass, 0o700);
      await secretFile('username', credentials.username);
      await secretFile('password', credentials.password);
      return { env: { GIT_ASKPASS: askpass }, secrets: [credentials.password], dispose };
    }
    const knownHostsFile = join(dir, 'known_hosts');
    const knownHosts = credentials?.knownHosts ?? options.defaultKnownHosts ?? '';
    await secretFile('known_hosts', knownHosts.endsWith('\n') ? knownHosts : `${knownHosts}\n`);
    if (credentials === undefined) {
      return { env: { GIT_SSH_COMMAND: sshCommand({ knownHostsFile }) }, secrets: [], dispose };
    }
    const keyFile = join(dir, 'id');
    // OpenSSH refuses a key without its final newline, and CRLF from a pasted Secret.
    const key = credentials.privateKey.replace(/\r\n/g, '\n').trimEnd() + '\n';
    await secretFile('id', key);
    const env: Record<string, string> = {};
    const secrets = [credentials.privateKey];
    if (credentials.passphrase) {
      const askpass = join(dir, 'askpass.sh');
      await writeFile(askpass, ASKPASS_SCRIPT, { mode: 0o700 });
      await chmod(askpass, 0o700);
      await secretFile('username', '');
      await secretFile('password', credentials.passphrase);
      Object.assign(env, { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: 'none' });
      secrets.push(credentials.passphrase);
    }
    env.GIT_SSH_COMMAND = sshCommand({
      keyFile,
      knownHostsFile,
      interactiveAskpass: Boolean(credentials.passphrase),
    });
    return { env, secrets, dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}
