import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.js';
import { checkCredentials, prepareCredentials } from './credentials.js';
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
    try {
      checkCredentials({ kind: 'ssh', privateKey: 'secret-material' }, ssh);
    } catch (error) {
      expect((error as Error).message).not.toContain('secret-material');
    }
  });
});
