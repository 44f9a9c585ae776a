/**
 * A real OCI registry on loopback for tests and the demo: the CNCF distribution registry built from
 * its Go module by ensureTools(), storing on disk in a private temporary folder, optionally behind
 * basic auth (an htpasswd file) and sending its notifications (push events) to a URL. Its process is
 * supervised like the control plane's and the forge's (no orphans, leftovers cleaned next run).
 *
 * And test content pushed with the real `crane`: `pushImage(registry, 'app', '1.2.0')` makes a small
 * image (one layer holding the tag, so every tag has its own digest) and pushes it; for a registry
 * with credentials crane reads them from a docker config in a temporary DOCKER_CONFIG folder. The same
 * helpers push to Gitea's container registry (token auth): give its host and a Gitea user.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { pack as tarPack } from 'tar-stream';
import { EnvironmentError } from '../core/errors.js';
import { freePort } from './controlplane.js';
import { waitForHttp } from './http.js';
import { ProcessGroup, cleanLeftovers, type SupervisedProcess } from './processes.js';
import { defaultCacheDir, ensureTools, type ToolPaths } from './tools.js';

/** Where a registry is and how to log in; plain data (it crosses from vitest's global setup to workers). */
export interface RegistryConnection {
  /** `127.0.0.1:<port>`: an image is `<host>/<repository>:<tag>`, over plain http. */
  readonly host: string;
  /** Set when the registry wants basic auth (or is a forge's registry). */
  readonly username?: string;
  readonly password?: string;
}

export interface DevRegistry extends RegistryConnection {
  readonly dataDir: string;
  readonly process: SupervisedProcess;
  stop(): Promise<void>;
}

export interface RegistryNotifications {
  /** Where the registry POSTs its events (`application/vnd.docker.distribution.events.v1+json`). */
  readonly url: string;
  /** Sent with every delivery, e.g. `{ authorization: 'Bearer …' }`. */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface RegistryOptions {
  /** Default `ensureTools({ only: ['registry'] })`. */
  readonly tools?: Pick<ToolPaths, 'registry'>;
  /** `basic`: an htpasswd file with one user of random name and password (returned). Default `none`. */
  readonly auth?: 'none' | 'basic';
  readonly notifications?: RegistryNotifications;
  /** Holds run records for leftover cleaning; default `<cache dir>/state`. */
  readonly stateDir?: string;
  readonly progress?: (line: string) => void;
  /** How long the registry may take to answer. Default 30 s. */
  readonly readyTimeoutSeconds?: number;
}

export async function startRegistry(options: RegistryOptions = {}): Promise<DevRegistry> {
  const progress = options.progress ?? (() => {});
  const tools = options.tools ?? (await ensureTools({ only: ['registry'], progress }));
  const stateDir = options.stateDir ?? join(defaultCacheDir(), 'state');
  for (const leftover of await cleanLeftovers(stateDir))
    progress(`cleaned up after a crashed run (owner pid ${leftover.ownerPid}): removed ${leftover.dataDir}`);

  const dataDir = await mkdtemp(join(tmpdir(), 'capstan-registry-'));
  const group = new ProcessGroup({ stateDir, dataDir });
  try {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const user = options.auth === 'basic' ? await writeHtpasswd(dataDir) : undefined;
    const configPath = join(dataDir, 'config.yml');
    await writeFile(
      configPath,
      registryConfig({ dataDir, host, user, notifications: options.notifications }),
      {
        mode: 0o600,
      },
    );
    progress(`starting the registry on ${host}${user ? ' (basic auth)' : ''}`);
    const proc = await group.start('registry', tools.registry, ['serve', configPath], {
      ...process.env,
      // Otherwise it tries to export traces to localhost:4318.
      OTEL_TRACES_EXPORTER: 'none',
    });
    await waitUntilServing(host, proc, (options.readyTimeoutSeconds ?? 30) * 1000);
    return {
      host,
      ...(user ? { username: user.username, password: user.password } : {}),
      dataDir,
      process: proc,
      stop: () => group.stopAll(),
    };
  } catch (error) {
    await group.stopAll();
    throw error;
  }
}

/** The registry's configuration (JSON, which YAML reads). */
export function registryConfig(settings: {
  readonly dataDir: string;
  readonly host: string;
  readonly user?: { readonly htpasswd: string } | undefined;
  readonly notifications?: RegistryNotifications | undefined;
}): string {
  const { dataDir, host, user, notifications } = settings;
  const config = {
    version: '0.1',
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: join(dataDir, 'storage') }, delete: { enabled: true } },
    http: { addr: host, secret: randomBytes(24).toString('hex') },
    ...(user ? { auth: { htpasswd: { realm: 'capstan-test-registry', path: user.htpasswd } } } : {}),
    ...(notifications
      ? {
          notifications: {
            endpoints: [
              {
                name: 'capstan',
                url: notifications.url,
                headers: Object.fromEntries(
                  Object.entries(notifications.headers ?? {}).map(([name, value]) => [name, [value]]),
                ),
                timeout: '5s',
                threshold: 3,
                backoff: '1s',
              },
            ],
          },
        }
      : {}),
  };
  return JSON.stringify(config, null, 2) + '\n';
}

/** One user in an htpasswd file (the registry reads bcrypt only). */
async function writeHtpasswd(
  dataDir: string,
): Promise<{ username: string; password: string; htpasswd: string }> {
  const username = `capstan-${randomBytes(3).toString('hex')}`;
  const password = randomBytes(18).toString('base64url');
  const htpasswd = join(dataDir, 'htpasswd');
  // Cost 6: the registry checks it on every request; these are throwaway test credentials.
  await writeFile(htpasswd, `${username}:${await bcrypt.hash(password, 6)}\n`, { mode: 0o600 });
  return { username, password, htpasswd };
}

/** `/` answers 200 once the server listens; `/v2/` must then answer 200 or ask for credentials. */
async function waitUntilServing(host: string, proc: SupervisedProcess, timeoutMs: number): Promise<void> {
  await waitForHttp(`http://${host}/`, { process: proc, timeoutMs });
  const response = await fetch(`http://${host}/v2/`, { signal: AbortSignal.timeout(5_000) });
  await response.body?.cancel();
  if (response.status !== 200 && response.status !== 401)
    throw new EnvironmentError(`the registry on ${host} answered GET /v2/ with HTTP ${response.status}`);
}

// ── Pushing test content with crane ──────────────────────────────────────────────────────────────

/** A registry and the crane to push to it with. */
export interface PushTarget extends RegistryConnection {
  /** Path of the crane binary (`tools.crane`). */
  readonly crane: string;
}

export interface PushImageOptions {
  /** Files of the image's one layer; default `{ 'version.txt': '<repository>:<tag>\n' }`. */
  readonly files?: Readonly<Record<string, string>>;
  /** Manifest annotations (e.g. `org.opencontainers.image.created`). */
  readonly annotations?: Readonly<Record<string, string>>;
  /** OCI media types instead of Docker's. Default false. */
  readonly oci?: boolean;
}

export interface PushedImage {
  /** `<host>/<repository>:<tag>` */
  readonly reference: string;
  /** The manifest digest crane reports for it. */
  readonly digest: string;
}

/** Makes a one-layer image and pushes it as `<repository>:<tag>`. */
export async function pushImage(
  target: PushTarget,
  repository: string,
  tag: string,
  options: PushImageOptions = {},
): Promise<PushedImage> {
  const reference = `${target.host}/${repository}:${tag}`;
  const work = await mkdtemp(join(tmpdir(), 'capstan-push-'));
  try {
    const layer = join(work, 'layer.tar');
    await writeFile(layer, await tarOf(options.files ?? { 'version.txt': `${repository}:${tag}\n` }));
    await crane(target, [
      'append',
      '--new_layer',
      layer,
      '--new_tag',
      reference,
      ...(options.oci ? ['--oci-empty-base'] : []),
    ]);
    const annotations = Object.entries(options.annotations ?? {});
    if (annotations.length > 0)
      await crane(target, [
        'mutate',
        ...annotations.flatMap(([k, v]) => ['--annotation', `${k}=${v}`]),
        '--tag',
        reference,
        reference,
      ]);
    return { reference, digest: await craneDigest(target, reference) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Tags `<repository>:<from>` as `<to>` too (`crane tag`). */
export async function tagImage(
  target: PushTarget,
  repository: string,
  from: string,
  to: string,
): Promise<void> {
  await crane(target, ['tag', `${target.host}/${repository}:${from}`, to]);
}

/** What `crane digest` says a reference resolves to. */
export async function craneDigest(target: PushTarget, reference: string): Promise<string> {
  return (await crane(target, ['digest', reference])).trim();
}

/**
 * Runs crane with the target's credentials (if any) in a docker config of its own, so neither the
 * user's docker config nor another test's is read or written. Returns stdout.
 */
export async function crane(target: PushTarget, args: readonly string[]): Promise<string> {
  const dockerConfig = await mkdtemp(join(tmpdir(), 'capstan-crane-'));
  try {
    await mkdir(dockerConfig, { recursive: true });
    const auths =
      target.username !== undefined && target.password !== undefined
        ? { [target.host]: { auth: Buffer.from(`${target.username}:${target.password}`).toString('base64') } }
        : {};
    await writeFile(join(dockerConfig, 'config.json'), JSON.stringify({ auths }), { mode: 0o600 });
    return await run(target.crane, args, { ...process.env, DOCKER_CONFIG: dockerConfig });
  } finally {
    await rm(dockerConfig, { recursive: true, force: true });
  }
}

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env, timeout: 60_000, maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      const how = error.killed ? 'timed out' : `exit code ${String(error.code)}`;
      const output = `${stderr}`.trimEnd().split('\n').slice(-10).join('\n');
      reject(new EnvironmentError(`crane ${args[0] ?? ''} failed (${how}):\n${output}`));
    });
  });
}

/** A tar archive of `files` (path → text), as a layer. */
function tarOf(files: Readonly<Record<string, string>>): Promise<Buffer> {
  const pack = tarPack();
  const chunks: Buffer[] = [];
  pack.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
  const done = new Promise<Buffer>((resolve, reject) => {
    pack.on('end', () => resolve(Buffer.concat(chunks)));
    pack.on('error', reject);
  });
  for (const [name, text] of Object.entries(files))
    pack.entry({ name, mode: 0o644, mtime: new Date(0) }, text);
  pack.finalize();
  return done;
}
