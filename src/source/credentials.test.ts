import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.js';
import { checkCredentials, prepareCredentials, promptOrigin } from './credentials.js';
import { parseRepoUrl } from './url.js';

const run = promisify(execFile);
const https = parseRepoUrl('https://example.com/r.git');
const ssh = parseRepoUrl('git@example.com:org/r.git');
const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\r\nAAAA\r\n-----END OPENSSH PRIVATE KEY-----';

let tempDir: string;
beforeEach(async () => {
  tempDir = await mkdtemp(join(tmpdir(), 'capstan-creds-'));
});
afterEach(() => rm(tempDir, { recursive: true, force: true }));

describe('prepareCredentials', () => {
  it('answers git prompts through askpass, values verbatim and never run by a shell', async () => {
    const password = `it's "$(touch /tmp/capstan-pwned)" \`id\` $HOME`;
    const prepared = await prepareCredentials({ kind: 'basic', username: 'deployer', password }, https, {
      tempDir,
    });
    const askpass = prepared.env.GIT_ASKPASS!;
    expect((await run(askpass, ["Username for 'https://example.com': "])).stdout).toBe('deployer');
    expect((await run(askpass, ["Password for 'https://deployer@example.com': "])).stdout).toBe(password);
    expect(existsSync('/tmp/capstan-pwned')).toBe(false);
    expect(prepared.secrets).toEqual([password]);
    expect(JSON.stringify(prepared.env)).not.toContain(password);
    expect((await stat(dirname(askpass))).mode & 0o777).toBe(0o700);
    expect((await stat(join(dirname(askpass), 'password'))).mode & 0o777).toBe(0o600);
    await prepared.dispose();
    expect(await readdir(tempDir)).toEqual([]);
  });

  it('answers only prompts for the server the credentials are for', async () => {
    const url = parseRepoUrl('https://Git.Example.com:8443/team-a/r.git');
    const prepared = await prepareCredentials(
      { kind: 'basic', username: 'deployer', password: 'pa55word-value' },
      url,
      { tempDir },
    );
    const askpass = prepared.env.GIT_ASKPASS!;
    const answer = (prompt: string) =>
      run(askpass, [prompt]).then(
        ({ stdout }) => stdout,
        (error: { code: number; stdout: string }) => `exit ${error.code}${error.stdout}`,
      );
    // git names the host as written in the URL, port included, and the user in the password prompt.
    expect(await answer("Username for 'https://Git.Example.com:8443': ")).toBe('deployer');
    expect(await answer("Password for 'https://deployer@Git.Example.com:8443': ")).toBe('pa55word-value');
    expect(await answer("Password for 'https://me%40corp.example@Git.Example.com:8443': ")).toBe(
      'pa55word-value',
    );
    for (const foreign of [
      "Username for 'https://evil.example.com': ",
      "Password for 'https://deployer@evil.example.com': ",
      "Password for 'https://deployer@Git.Example.com:8444': ", // another port
      "Password for 'https://deployer@Git.Example.com': ", // the default port is another port
      "Password for 'http://deployer@Git.Example.com:8443': ", // another scheme
      "Password for 'https://deployer@Git.Example.com:8443.evil.com': ",
      "Password for 'https://Git.Example.com:8443@evil.example.com': ",
      "Username for 'https://Git.Example.com:8443/team-a': ",
      "Password for 'https://*': ",
      '*',
      "Username for 'https://Git.Example.com:8443': $(touch /tmp/capstan-pwned)",
      "Enter passphrase for key '/tmp/x': ",
      '',
    ]) {
      expect(await answer(foreign), foreign).toBe('exit 1');
    }
    expect(existsSync('/tmp/capstan-pwned')).toBe(false);
    expect((await stat(join(dirname(askpass), 'host'))).mode & 0o777).toBe(0o600);
    await prepared.dispose();
  });

  it('tells git to follow no redirect when it carries credentials', async () => {
    const prepared = await prepareCredentials({ kind: 'basic', username: 'u', password: 'p' }, https, {
      tempDir,
    });
    expect(prepared.env).toMatchObject({
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'http.followRedirects',
      GIT_CONFIG_VALUE_0: 'false',
    });
    await prepared.dispose();
  });

  it('unlocks an ssh key through askpass, and answers no other ssh prompt', async () => {
    const prepared = await prepareCredentials(
      {
        kind: 'ssh',
        privateKey: KEY,
        passphrase: 'correct horse',
        knownHosts: 'example.com ssh-ed25519 AAAA',
      },
      ssh,
      { tempDir },
    );
    const askpass = prepared.env.SSH_ASKPASS!;
    const keyFile = join(dirname(askpass), 'id');
    expect((await run(askpass, [`Enter passphrase for key '${keyFile}': `])).stdout).toBe('correct horse');
    for (const other of [
      "git@example.com's password: ",
      '(git@example.com) Password: ',
      'Verification code: ',
    ]) {
      await expect(run(askpass, [other])).rejects.toMatchObject({ code: 1, stdout: '' });
    }
    await prepared.dispose();
  });

  it('writes an ssh key 0600 with a final newline, and known hosts, for a strict ssh', async () => {
    const prepared = await prepareCredentials(
      { kind: 'ssh', privateKey: KEY, knownHosts: 'example.com ssh-ed25519 AAAA' },
      ssh,
      { tempDir },
    );
    const command = prepared.env.GIT_SSH_COMMAND!;
    const keyFile = /-i '([^']+)'/.exec(command)![1]!;
    expect(await readFile(keyFile, 'utf8')).toBe(KEY.replace(/\r\n/g, '\n') + '\n');
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect(await readFile(join(dirname(keyFile), 'known_hosts'), 'utf8')).toBe(
      'example.com ssh-ed25519 AAAA\n',
    );
    expect(command).toContain('StrictHostKeyChecking=yes');
    expect(command).not.toContain('AAAA');
    await prepared.dispose();
    expect(existsSync(keyFile)).toBe(false);
  });

  it('uses the default known hosts for anonymous ssh, and needs no files for anonymous https', async () => {
    const anonymousSsh = await prepareCredentials(undefined, ssh, {
      tempDir,
      defaultKnownHosts: 'h ssh-ed25519 X',
    });
    expect(anonymousSsh.env.GIT_SSH_COMMAND).toContain('known_hosts');
    await anonymousSsh.dispose();
    const anonymousHttps = await prepareCredentials(undefined, https, { tempDir });
    expect(anonymousHttps.env).toEqual({});
    expect(await readdir(tempDir)).toEqual([]);
  });
});

describe('checkCredentials', () => {
  it('refuses credentials that do not fit the URL or cannot pass intact, without echoing them', () => {
    expect(() => checkCredentials({ kind: 'ssh', privateKey: KEY }, https)).toThrow(UserError);
    expect(() => checkCredentials({ kind: 'basic', username: 'u', password: 'p' }, ssh)).toThrow(UserError);
    expect(() => checkCredentials({ kind: 'basic', username: 'u', password: 'pw\nline2' }, https)).toThrow(
      /password contains a line break/,
    );
    expect(() => checkCredentials({ kind: 'basic', username: 'u', password: '' }, https)).toThrow(
      /password is missing/,
    );
    expect(() => checkCredentials({ kind: 'ssh', privateKey: 'not a key at all' }, ssh)).toThrow(/not a PEM/);
    const plain = parseRepoUrl('http://127.0.0.1:8080/r.git');
    expect(() => checkCredentials({ kind: 'basic', username: 'u', password: 'p' }, plain)).toThrow(
      /refusing to send a password over plain http:\/\//,
    );
    expect(() =>
      checkCredentials({ kind: 'basic', username: 'u', password: 'p', allowInsecureHttp: true }, plain),
    ).not.toThrow();
    try {
      checkCredentials({ kind: 'ssh', privateKey: 'secret-material' }, ssh);
    } catch (error) {
      expect((error as Error).message).not.toContain('secret-material');
    }
  });
});

describe('promptOrigin', () => {
  it('is the scheme and host[:port] as git prints them: as written, after the first @, decoded', () => {
    expect(promptOrigin(parseRepoUrl('https://example.com/r.git'))).toEqual({
      scheme: 'https',
      host: 'example.com',
    });
    expect(promptOrigin(parseRepoUrl('http://someone@LocalHost:8080/r.git'))).toEqual({
      scheme: 'http',
      host: 'LocalHost:8080',
    });
    expect(promptOrigin(parseRepoUrl('https://lo%63alhost:443/r.git')).host).toBe('localhost:443');
    expect(promptOrigin(parseRepoUrl('https://[::1]:8443/r.git')).host).toBe('[::1]:8443');
    // git would name `b@example.com` as the host here, which no prompt can be matched against safely.
    expect(() => promptOrigin(parseRepoUrl('https://a@b@example.com/r.git'))).toThrow(UserError);
  });
});
