/**
 * Image updates written to Git, attacked by a tenant: the writers of one repository branch take
 * turns in the controller's process, so a tenant must not be able to make its never-answering
 * server take another team's turn. Real git over HTTP (git http-backend) for the victim, a real
 * TCP server that accepts and never answers for the attacker.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { API_VERSION } from '../../src/api/v1alpha1.js';
import type { ImagePolicy } from '../../src/api/image-policy.js';
import { commitImageUpdates, type ImageCommitRequest } from '../../src/images/git.js';
import { imageCommitMessage } from '../../src/images/message.js';
import type { ImageChoice } from '../../src/images/setters.js';
import {
  createTestRepo,
  makeTempDir,
  startGitHttpServer,
  type GitHttpServer,
} from '../support/git-servers.js';
import { markerEdit, markerLine } from '../images/edit.js';
import { freshNamespace } from '../support/cluster.js';
import { application, eventually, repository, startTestController } from '../support/controller.js';
import { pushImage, sharedRegistry, uniqueRepo } from '../support/registry.js';

const WRITER = { username: 'deployer', password: 'team-b-writer-password' };
const VICTIM: ImageChoice = {
  policy: { namespace: 'team-b', name: 'web' },
  image: '127.0.0.1:5000/web',
  tag: '1.2.0',
};

let root: string;
let work: string;
let server: GitHttpServer;

beforeAll(async () => {
  root = await makeTempDir('image-writes');
  work = await makeTempDir('image-writes-work');
  server = await startGitHttpServer({ root, auth: WRITER, allowPush: true });
});

afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

/** A server that accepts connections and never says a word: a blackholed port, a hung Git host. */
async function startSilentServer(): Promise<{
  port: number;
  connections: () => number;
  /** Connections the client gave up on (closed from its side). */
  closed: () => number;
  close(): void;
}> {
  const sockets = new Set<Socket>();
  let connections = 0;
  let closed = 0;
  const silent: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => {});
    // Reading (and dropping) what the client sends, so that its hanging up is seen.
    socket.resume();
    socket.on('close', () => {
      if (sockets.delete(socket)) closed++;
    });
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  return {
    port: (silent.address() as AddressInfo).port,
    connections: () => connections,
    closed: () => closed,
    close: () => {
      for (const socket of [...sockets]) {
        sockets.delete(socket);
        socket.destroy();
      }
      silent.close();
    },
  };
}

function request(url: string, choice: ImageChoice, timeoutMs: number): ImageCommitRequest {
  return {
    repository: {
      url,
      credentials: { kind: 'basic', ...WRITER, allowInsecureHttp: true },
      timeoutMs,
    },
    branch: 'main',
    paths: ['web'],
    edit: markerEdit(choice),
    message: (files) => imageCommitMessage([choice], files),
    mode: 'push',
  };
}

describe('the turns writers of a branch take', () => {
  it("are not shared with a tenant's hung server that names the same path on another port of the host", async () => {
    const repo = await createTestRepo(root, 'team-b-app');
    await repo.commit({ 'web/deploy.yaml': `spec:\n${markerLine(VICTIM, '1.1.0')}\n` });
    const victimUrl = server.url(repo.name);
    // The attacker's Repository: the victim's URL but for the port, on a server that never answers,
    // with a timeout of its choosing (a Repository's spec.timeout has no upper bound).
    const silent = await startSilentServer();
    onTestFinished(() => silent.close());
    const attackerUrl = victimUrl.replace(/:\d+\//, `:${silent.port}/`);
    expect(attackerUrl).not.toBe(victimUrl);
    const attacker = commitImageUpdates(
      request(attackerUrl, { ...VICTIM, policy: { namespace: 'team-a', name: 'x' } }, 10 * 60_000),
      { tempDir: work, maxAttempts: 1 },
    );
    let attackerDone = false;
    void attacker.then(
      () => (attackerDone = true),
      () => (attackerDone = true),
    );
    // The attacker holds its turn: git is connected to the silent server and waiting.
    for (let i = 0; silent.connections() === 0 && i < 600; i++) await new Promise((r) => setTimeout(r, 100));
    expect(silent.connections()).toBeGreaterThan(0);

    // Team B's own policy writes to its own repository meanwhile: it must not wait for the attacker.
    const written = await commitImageUpdates(request(victimUrl, VICTIM, 30_000), {
      tempDir: work,
      maxAttempts: 1,
    });
    expect(written.outcome).toBe('pushed');
    expect(attackerDone).toBe(false);

    silent.close();
    await expect(attacker).rejects.toThrow();
  });

  it("parse a tenant's repository one file per turn of the event loop, so that /healthz and other tenants go on", async () => {
    // The setters parse YAML synchronously (~1 MiB a second or slower), and the files are the
    // tenant's: many large files with markers, edited back to back in one synchronous stretch,
    // held the event loop for as long as the whole batch (8 MiB) took.
    const repo = await createTestRepo(root, 'team-a-huge');
    const line = `${markerLine(VICTIM, '1.1.0', '  - ')}\n`;
    const big = `items:\n${line.repeat(Math.floor((700 * 1024) / line.length))}`;
    const files: Record<string, string> = {};
    for (let i = 0; i < 12; i++) files[`web/big-${String(i).padStart(2, '0')}.yaml`] = big;
    await repo.commit(files);
    let tick = 0;
    let ticking = true;
    const turn = (): void => {
      tick++;
      if (ticking) setImmediate(turn);
    };
    setImmediate(turn);
    onTestFinished(() => void (ticking = false));
    const bytesPerTurn = new Map<number, number>();
    const edit = markerEdit(VICTIM);
    const written = await commitImageUpdates(
      {
        ...request(server.url(repo.name), VICTIM, 30_000),
        edit: (file, text) => {
          bytesPerTurn.set(tick, (bytesPerTurn.get(tick) ?? 0) + Buffer.byteLength(text));
          return edit(file, text);
        },
      },
      { tempDir: work, maxAttempts: 1 },
    );
    ticking = false;
    expect(written.outcome).toBe('pushed');
    expect([...bytesPerTurn.values()].reduce((a, b) => a + b, 0)).toBe(12 * Buffer.byteLength(big));
    expect(Math.max(...bytesPerTurn.values())).toBeLessThanOrEqual(Buffer.byteLength(big));
  });

  it("end at the reconcile's deadline whatever timeout the tenant's Repository names, so hung writes cannot pile up", async () => {
    const namespace = await freshNamespace('imgstuck');
    const t = await startTestController({ namespace, images: { timeoutMs: 4_000 } });
    onTestFinished(() => t.stop());
    const registry = await sharedRegistry();
    const imagePath = `${uniqueRepo()}/web`;
    await pushImage(registry, imagePath, '1.2.0');
    const silent = await startSilentServer();
    onTestFinished(() => silent.close());
    // Suspended, so that only the image automation talks to the server.
    await t.kube.apply(
      repository(namespace, 'apps', {
        url: `http://127.0.0.1:${silent.port}/apps.git`,
        timeout: '1000h',
        suspend: true,
      }),
    );
    await t.kube.apply(
      application(namespace, 'web', { sourceRef: { name: 'apps' }, path: 'web', suspend: true }),
    );
    await t.kube.apply({
      apiVersion: API_VERSION,
      kind: 'ImagePolicy',
      metadata: { name: 'web', namespace },
      spec: {
        image: `${registry.host}/${imagePath}`,
        insecure: true,
        interval: '1h',
        policy: { semver: { range: '1.x' } },
        update: { applications: [{ name: 'web' }] },
      },
    } satisfies ImagePolicy);
    await eventually('a write to the silent server', async () => silent.connections() > 0);
    // Abandoned at the 4 s deadline, the write's git gives up by itself too, not in 1000 hours.
    await eventually('the hung write ended', async () => silent.closed() > 0);
  });
});
