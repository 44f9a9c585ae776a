/**
 * A tenant's Repository (or the image automation's push) over ssh:// without credentials must not
 * log in with keys of the controller's own user. Git runs with a private, empty $HOME, but ssh finds
 * its default identities (~/.ssh/id_rsa, id_ed25519, …) in the passwd database's home, so they were
 * offered to whatever server the tenant named. The real ssh client, run with the exact command git
 * is given, against a loopback listener: its debug output lists the identity files it loads.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { gitEnvironment, sshCommand } from './git.js';

/** ssh's debug output for one connection attempt made with `command` (GIT_SSH_COMMAND's form). */
async function identitiesLoaded(command: string, env: Record<string, string>): Promise<string[]> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    // Say nothing and hang up: ssh has loaded its identities by then.
    setTimeout(() => socket.destroy(), 500);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  const child = spawn('sh', ['-c', `${command} -v -p ${port} git@127.0.0.1 git-upload-pack x`], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  await new Promise((resolve) => child.on('close', resolve));
  return stderr.split('\n').filter((line) => /identity file|will attempt key/i.test(line));
}

describe.skipIf(!existsSync('/usr/bin/ssh'))('ssh without credentials', () => {
  it("offers none of the controller user's default keys", async () => {
    const env = gitEnvironment({ home: '/nonexistent-capstan-home', allowFileProtocol: false });
    const home = userInfo().homedir;
    for (const command of [env.GIT_SSH_COMMAND!, sshCommand({ knownHostsFile: '/dev/null' })]) {
      const loaded = await identitiesLoaded(command, env);
      expect(loaded.filter((line) => line.includes(`${home}/.ssh/`))).toEqual([]);
      expect(loaded).toEqual([]);
    }
  });

  it('still offers the key a Secret gives', async () => {
    const env = gitEnvironment({ home: '/nonexistent-capstan-home', allowFileProtocol: false });
    const dir = await mkdtemp(join(tmpdir(), 'capstan-ssh-key-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const keyFile = join(dir, 'key');
    await writeFile(keyFile, '', { mode: 0o600 });
    const loaded = await identitiesLoaded(sshCommand({ keyFile }), env);
    expect(loaded.some((line) => line.includes(keyFile))).toBe(true);
    expect(loaded.some((line) => line.includes('/.ssh/id_'))).toBe(false);
  });
});
