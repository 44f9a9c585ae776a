import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ForgeClient, appIni, startForge } from './forge.js';

const made: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'capstan-forge-unit-'));
  made.push(dir);
  return dir;
}
afterAll(() => Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true }))));

describe('appIni', () => {
  const ini = appIni({
    url: 'http://127.0.0.1:3456',
    port: 3456,
    dataDir: '/data',
    staticRoot: '/static',
    secretKey: 'k',
    internalToken: 't',
    runUser: 'someone',
  });
  const section = (name: string): string => ini.split(`[${name}]\n`)[1]?.split('\n\n')[0] ?? '';

  it('listens on loopback only, offline, without SSH or LFS', () => {
    expect(section('server')).toContain('HTTP_ADDR = 127.0.0.1\nHTTP_PORT = 3456\n');
    expect(section('server')).toContain('ROOT_URL = http://127.0.0.1:3456/');
    expect(section('server')).toContain('OFFLINE_MODE = true');
    expect(section('server')).toContain('DISABLE_SSH = true');
    expect(section('server')).toContain('LFS_START_SERVER = false');
    expect(section('server')).toContain('STATIC_ROOT_PATH = /static');
  });

  it('lets webhooks reach loopback in both places Gitea versions read it', () => {
    expect(section('security')).toContain('ALLOWED_HOST_LIST = loopback');
    expect(section('webhook')).toContain('ALLOWED_HOST_LIST = loopback');
  });

  it('needs no installer and uses SQLite in WAL mode', () => {
    expect(section('security')).toContain('INSTALL_LOCK = true');
    expect(section('database')).toBe(
      'DB_TYPE = sqlite3\nPATH = /data/data/gitea.db\nSQLITE_JOURNAL_MODE = WAL',
    );
    expect(ini.startsWith('APP_NAME = ')).toBe(true);
    expect(ini).toContain('RUN_USER = someone\n');
  });
});

describe('startForge', () => {
  let blocker: Server | undefined;
  afterEach(() => blocker?.close());

  it('says which port is taken before starting anything', async () => {
    blocker = createServer();
    const port = await new Promise<number>((resolve) =>
      blocker!.listen(0, '127.0.0.1', () => resolve((blocker!.address() as { port: number }).port)),
    );
    await expect(
      startForge({
        port,
        tools: { gitea: '/nonexistent/gitea', giteaStaticRoot: '/nonexistent' },
        stateDir: await tempDir(),
        handleSignals: false,
      }),
    ).rejects.toThrow(`port 127.0.0.1:${port} (for gitea) is not free: EADDRINUSE`);
  });

  it("fails with the end of gitea's output when migrate fails", async () => {
    const gitea = join(await tempDir(), 'gitea');
    await writeFile(gitea, '#!/bin/sh\necho "starting" \necho "migrate: database is locked" >&2\nexit 3\n');
    await chmod(gitea, 0o755);
    const failure = await startForge({
      tools: { gitea, giteaStaticRoot: '/nonexistent' },
      stateDir: await tempDir(),
      handleSignals: false,
    }).catch((e: unknown) => e);
    expect(String(failure)).toMatch(
      /gitea --config \S+app\.ini --work-path \S+ migrate failed \(exit code 3\):\nstarting\nmigrate: database is locked/,
    );
  });
});

describe('ForgeClient', () => {
  it('says when it cannot mint a token for a user whose password it does not know', async () => {
    const client = new ForgeClient({
      url: 'http://127.0.0.1:1',
      admin: { username: 'admin', password: 'p', email: 'a@b' },
      adminToken: 't',
    });
    await expect(client.token('stranger', ['read:repository'])).rejects.toThrow(
      "forge: no password known for user 'stranger'",
    );
  });

  it('puts credentials in clone URLs only when asked', () => {
    const client = new ForgeClient({
      url: 'http://127.0.0.1:3000',
      admin: { username: 'admin', password: 'p', email: 'a@b' },
      adminToken: 't',
    });
    expect(client.cloneUrl('team', 'app')).toBe('http://127.0.0.1:3000/team/app.git');
    expect(client.cloneUrl('team', 'app', { username: 'bot', token: 's3cr/t' })).toBe(
      'http://bot:s3cr%2Ft@127.0.0.1:3000/team/app.git',
    );
  });
});
