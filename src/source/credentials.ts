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
  | {
      readonly kind: 'basic';
      readonly username: string;
      readonly password: string;
      /**
       * Send them over plain http:// too, where anyone on the way can read them. Only whoever owns
       * the credentials may decide this (an annotation on the Secret, an environment variable of
       * the CLI's user), never whoever writes the URL.
       */
      readonly allowInsecureHttp?: boolean;
    }
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
 * Answers git's prompts for HTTP credentials, for the one server they are for and no other. git
 * names the server it will send the answer to: "Username for '<scheme>://<host>[:<port>]': ", then
 * "Password for '<scheme>://<user>@<host>[:<port>]': ". Anything else (a redirect to another host,
 * another port, another scheme) gets nothing and exit 1, so git gives up.
 *
 * Fixed text with no secret in it: the values and the expected scheme and host come from 0600 files
 * beside it, and the prompt is only compared, never evaluated (compare Flux CVE-2021-41254). Quoted
 * parts of a `case` pattern match literally; the one `*` stands for the user, and the pattern ends
 * with `@<host>': `, so the text after the prompt's last `@` must be our host. No host git prints
 * holds an `@`: recent versions percent-encode it, and older ones only print one for a URL with two
 * `@` or a `%40` in its host, which are refused before git runs (and redirects are not followed).
 */
const HTTP_ASKPASS_SCRIPT = `#!/bin/sh
dir=$(dirname "$0")
scheme=$(cat "$dir/scheme") && host=$(cat "$dir/host") || exit 1
case "$1" in
  "Username for '$scheme://$host': ") exec cat "$dir/username" ;;
  "Password for '$scheme://$host': " | "Password for '$scheme://"*"@$host': ") exec cat "$dir/password" ;;
esac
exit 1
`;

/**
 * Unlocks the key beside it for ssh: ssh asks "Enter passphrase for key '<file>': ". Any other
 * prompt, such as a server's password or keyboard-interactive question, gets nothing. The
 * passphrase never leaves this machine: it only decrypts the key file.
 */
const SSH_ASKPASS_SCRIPT = `#!/bin/sh
dir=$(dirname "$0")
case "$1" in
  "Enter passphrase for key '"*) exec cat "$dir/passphrase" ;;
esac
exit 1
`;

/**
 * git follows a redirect of its first request by default (`http.followRedirects=initial`) and asks
 * for credentials again for wherever it lands. With credentials, it follows none: a redirect fails.
 * Set through the environment (`GIT_CONFIG_*`, as strong as `-c`) so it travels with the credentials.
 */
const NO_REDIRECTS_ENV = {
  GIT_CONFIG_COUNT: '1',
  GIT_CONFIG_KEY_0: 'http.followRedirects',
  GIT_CONFIG_VALUE_0: 'false',
} as const;

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
      if (url.scheme === 'http' && credentials.allowInsecureHttp !== true) {
        throw new UserError(
          `credentials for ${url.display}: refusing to send a password over plain http://, where anyone on the way can read it; use https://`,
        );
      }
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
    const writeScript = async (text: string) => {
      const askpass = join(dir, 'askpass.sh');
      await writeFile(askpass, text, { mode: 0o700 });
      await chmod(askpass, 0o700);
      return askpass;
    };
    if (credentials?.kind === 'basic') {
      const origin = promptOrigin(url);
      await secretFile('scheme', origin.scheme);
      await secretFile('host', origin.host);
      await secretFile('username', credentials.username);
      await secretFile('password', credentials.password);
      const askpass = await writeScript(HTTP_ASKPASS_SCRIPT);
      return {
        env: { GIT_ASKPASS: askpass, ...NO_REDIRECTS_ENV },
        secrets: [credentials.password],
        dispose,
      };
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
      await secretFile('passphrase', credentials.passphrase);
      const askpass = await writeScript(SSH_ASKPASS_SCRIPT);
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

/**
 * The scheme and `host[:port]` git names in its prompts for `url`: as written in the URL (case and
 * port kept), after the first `@`, percent-decoded, as git's own credential code reads them.
 */
export function promptOrigin(url: RepoUrl): { scheme: string; host: string } {
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)/.exec(url.url);
  if (!match)
    throw new UserError(`credentials for ${url.display}: user name and password need an http(s) URL`);
  const [, scheme = '', authority = ''] = match;
  const at = authority.indexOf('@');
  const host = (at < 0 ? authority : authority.slice(at + 1)).replace(
    /%([0-9A-Fa-f]{2})/g,
    (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)),
  );
  // For a host spelled otherwise (an `@`, other escapes) git's prompt cannot be predicted exactly:
  // better refuse now than have askpass answer a prompt it misread.
  if (!/^[A-Za-z0-9.:[\]-]+$/.test(host)) {
    throw new UserError(`credentials for ${url.display}: its host is spelled in a way askpass cannot match`);
  }
  return { scheme, host };
}
