/**
 * The one home for building and pushing OCI images without Docker: every `buildah` call of the
 * project goes through here.
 *
 * Images are built FROM scratch out of a folder (no base image is pulled from any registry), and
 * reproducibly: `--timestamp 0` pins the creation time and every file's mtime in the layer,
 * `--omit-history` and `--identity-label=false` keep buildah's own version and the build time out of
 * the config, so the same folder gives the same image ID — and the same manifest digest when pushed.
 *
 * Storage is buildah's default for the user (root: /var/lib/containers/storage, shared with podman,
 * so `podman run` finds what was built here). A sandbox that needs another driver sets it through the
 * environment (`CONTAINERS_STORAGE_CONF`, `STORAGE_DRIVER`), which every call passes on; nothing here
 * edits /etc.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CapstanError, EnvironmentError, UserError } from '../core/errors.js';

export interface ImageConfig {
  readonly entrypoint: readonly string[];
  readonly cmd?: readonly string[];
  readonly user?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly workingDir?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly ports?: readonly number[];
}

/** What a locally stored image says about itself. */
export interface LocalImage {
  readonly id: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** How long one buildah step may take: setting config is instant, copying or pushing ~100 MB is not. */
const QUICK_STEP_MS = 60_000;
const HEAVY_STEP_MS = 10 * 60_000;
/** How much of a failing command's output an error quotes. */
const ERROR_TAIL_LINES = 15;
/** Memory bound on what is kept of a command's output (stdout is parsed; stderr only quoted). */
const MAX_KEPT_OUTPUT = 1024 * 1024;

/** `localhost/name[/name…]:tag`: images built here are never confused with one from a registry. */
const LOCAL_REFERENCE =
  /^localhost\/[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** `host:port/name[/name…]:tag`. The host is a name or IPv4 address; loopback hosts are pushed to over plain http. */
const DESTINATION =
  /^([A-Za-z0-9.-]{1,253}):([0-9]{1,5})\/[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const IMAGE_ID = /^[0-9a-f]{64}$/;
/** Longer names are refused before any pattern runs (registries cap a repository name at 255). */
const MAX_REFERENCE_LENGTH = 512;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost']);
const LABEL_OR_ENV_KEY = /^[A-Za-z_][A-Za-z0-9_.\-/]{0,252}$/;

/** Builds an image FROM scratch holding the files of `rootfs` (a directory) at `/`; returns the image ID. */
export function buildScratchImage(
  rootfs: string,
  config: ImageConfig,
  reference: string /* localhost/name:tag */,
  options: { progress?: (line: string) => void } = {},
): Promise<{ readonly id: string }> {
  return buildLayeredImage([rootfs], config, reference, options);
}

/**
 * Builds an image FROM scratch with one layer per folder, in order (later files win). Put what
 * rarely changes first: an image differing only in its last layer shares the others, so a registry
 * and a node pull only that one again.
 */
export async function buildLayeredImage(
  layers: readonly string[],
  config: ImageConfig,
  reference: string /* localhost/name:tag */,
  options: { progress?: (line: string) => void } = {},
): Promise<{ readonly id: string }> {
  checkLocalReference(reference);
  const configArgs = configArguments(config);
  const top = layers.at(-1);
  if (top === undefined) throw new UserError('an image needs at least one layer');
  const progress = options.progress ?? (() => {});
  const intermediates: string[] = [];
  try {
    let base = 'scratch';
    for (const layer of layers.slice(0, -1)) {
      progress(`copying ${layer} into ${reference} …`);
      // A name of its own: a concurrent build of the same files gets the same image ID, and
      // removing this build's name must not remove the image from under the other.
      const name = `localhost/capstan-build-layer:${randomBytes(6).toString('hex')}`;
      await commitLayer(base, layer, { reference: name });
      intermediates.push(name);
      base = name;
    }
    progress(`copying ${top} into ${reference} …`);
    return { id: await commitLayer(base, top, { configArgs, reference }) };
  } finally {
    // The final image keeps their layers; the intermediate images themselves are not needed.
    for (const name of intermediates) await removeLocalImage(name).catch(() => undefined);
  }
}

/**
 * One working container from `base` with `folder` copied to `/`, committed reproducibly (as
 * `reference`, with `configArgs`, when given); returns the image ID. The container is removed
 * whatever happens.
 */
async function commitLayer(
  base: string,
  folder: string,
  final: { configArgs?: readonly string[]; reference?: string },
): Promise<string> {
  const container = `capstan-build-${randomBytes(6).toString('hex')}`;
  await buildah(['from', '--name', container, '--pull=never', base], { timeoutMs: QUICK_STEP_MS });
  const workDir = await mkdtemp(join(tmpdir(), 'capstan-buildah-'));
  try {
    await buildah(['copy', '--quiet', container, `${folder}/`, '/'], { timeoutMs: HEAVY_STEP_MS });
    if (final.configArgs)
      await buildah(['config', ...final.configArgs, container], { timeoutMs: QUICK_STEP_MS });
    const idFile = join(workDir, 'image-id');
    await buildah(
      [
        'commit',
        '--quiet',
        '--rm',
        // Every file's mtime and the creation date pinned; no history, no buildah version label.
        '--timestamp',
        '0',
        '--omit-history',
        '--identity-label=false',
        '--format',
        'oci',
        '--iidfile',
        idFile,
        container,
        ...(final.reference ? [final.reference] : []),
      ],
      { timeoutMs: HEAVY_STEP_MS },
    );
    return normalizeId(await readFile(idFile, 'utf8'));
  } catch (error) {
    // `commit --rm` removes the working container only when it succeeds.
    await buildah(['rm', container], { timeoutMs: QUICK_STEP_MS }).catch(() => undefined);
    throw error;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Pushes a local image to `destination` (`127.0.0.1:PORT/name:tag`, plain http); returns the manifest digest. */
export async function pushLocalImage(
  reference: string,
  destination: string,
): Promise<{ readonly digest: string }> {
  checkLocalReference(reference);
  const match = destination.length <= MAX_REFERENCE_LENGTH ? DESTINATION.exec(destination) : null;
  if (!match || Number(match[2]) > 65535)
    throw new UserError(
      `the push destination must look like HOST:PORT/name:tag (got ${JSON.stringify(destination)})`,
    );
  // Plain http only to this machine: anything else is a real registry and keeps TLS verification.
  const tlsVerify = !LOOPBACK_HOSTS.has(match[1] ?? '');
  const workDir = await mkdtemp(join(tmpdir(), 'capstan-buildah-'));
  try {
    const digestFile = join(workDir, 'digest');
    await buildah(
      [
        'push',
        '--quiet',
        `--tls-verify=${String(tlsVerify)}`,
        '--retry',
        '2',
        '--digestfile',
        digestFile,
        reference,
        `docker://${destination}`,
      ],
      { timeoutMs: HEAVY_STEP_MS },
    );
    const digest = (await readFile(digestFile, 'utf8')).trim();
    if (!/^sha256:[0-9a-f]{64}$/.test(digest))
      throw new CapstanError(
        'internal',
        `buildah push wrote an unexpected digest: ${JSON.stringify(digest.slice(0, 100))}`,
      );
    return { digest };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/** The ID and labels of a locally stored image, or undefined when there is none by that reference. */
export async function inspectLocalImage(reference: string): Promise<LocalImage | undefined> {
  checkLocalReference(reference);
  let output: string;
  try {
    output = await buildah(['inspect', '--type', 'image', reference], { timeoutMs: QUICK_STEP_MS });
  } catch (error) {
    if (error instanceof BuildahFailed && /image not known|not found|no such image/i.test(error.output))
      return undefined;
    throw error;
  }
  const parsed = JSON.parse(output) as {
    FromImageID?: unknown;
    OCIv1?: { config?: { Labels?: unknown } };
  };
  if (typeof parsed.FromImageID !== 'string')
    throw new CapstanError('internal', `buildah inspect of ${reference} gave no image ID`);
  const labels = parsed.OCIv1?.config?.Labels;
  return {
    id: normalizeId(parsed.FromImageID),
    labels: labels !== null && typeof labels === 'object' ? (labels as Record<string, string>) : {},
  };
}

/**
 * Removes a locally stored image by reference or by ID (a no-op when there is none). By ID, an image
 * still tagged elsewhere or used by a container stays, and this throws.
 */
export async function removeLocalImage(reference: string): Promise<void> {
  if (!IMAGE_ID.test(reference)) checkLocalReference(reference);
  await buildah(['rmi', reference], { timeoutMs: QUICK_STEP_MS }).catch((error: unknown) => {
    if (error instanceof BuildahFailed && /image not known|not found|no such image/i.test(error.output))
      return;
    throw error;
  });
}

function checkLocalReference(reference: string): void {
  if (reference.length > MAX_REFERENCE_LENGTH || !LOCAL_REFERENCE.test(reference))
    throw new UserError(
      `a locally built image is named localhost/name:tag (got ${JSON.stringify(reference)})`,
    );
}

/** `buildah config` flags for `config`; the JSON forms keep arguments with spaces whole. */
function configArguments(config: ImageConfig): string[] {
  if (config.entrypoint.length === 0) throw new UserError('an image needs an entrypoint');
  const args = ['--entrypoint', JSON.stringify(config.entrypoint)];
  if (config.cmd !== undefined) args.push('--cmd', JSON.stringify(config.cmd));
  if (config.user !== undefined) args.push('--user', config.user);
  if (config.workingDir !== undefined) args.push('--workingdir', config.workingDir);
  for (const [key, value] of Object.entries(config.env ?? {}))
    args.push('--env', `${checkKey('env', key)}=${value}`);
  for (const [key, value] of Object.entries(config.labels ?? {}))
    args.push('--label', `${checkKey('label', key)}=${value}`);
  for (const port of config.ports ?? []) {
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new UserError(`not a port: ${String(port)}`);
    args.push('--port', `${String(port)}/tcp`);
  }
  return args;
}

function checkKey(what: string, key: string): string {
  if (!LABEL_OR_ENV_KEY.test(key))
    throw new UserError(`not a valid image ${what} name: ${JSON.stringify(key)}`);
  return key;
}

function normalizeId(text: string): string {
  const id = text.trim().replace(/^sha256:/, '');
  if (!/^[0-9a-f]{64}$/.test(id))
    throw new CapstanError(
      'internal',
      `buildah gave an unexpected image ID: ${JSON.stringify(id.slice(0, 100))}`,
    );
  return id;
}

/** A buildah command that ran and failed; `output` is the tail of what it said. */
class BuildahFailed extends EnvironmentError {
  readonly output: string;
  constructor(args: readonly string[], how: string, output: string) {
    super(`buildah ${args[0] ?? ''} failed (${how})${output === '' ? '' : `:\n${output}`}`);
    this.output = output;
  }
}

/** Runs buildah with `args`, bounded by `timeoutMs`; resolves with its stdout. */
function buildah(args: readonly string[], options: { timeoutMs: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('buildah', args, { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    const stdout = boundedCollector();
    const stderr = boundedCollector();
    child.stdout.on('data', stdout.add);
    child.stderr.on('data', stderr.add);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        error.code === 'ENOENT'
          ? new EnvironmentError('buildah is not installed (on Debian/Ubuntu: apt-get install buildah)', {
              cause: error,
            })
          : new EnvironmentError(`could not run buildah: ${error.message}`, { cause: error }),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve(stdout.text());
      const how = timedOut
        ? `timed out after ${String(options.timeoutMs / 1000)} s`
        : signal !== null
          ? `killed by ${signal}`
          : `exit code ${String(code)}`;
      const tail = stderr.text().trimEnd().split('\n').slice(-ERROR_TAIL_LINES).join('\n');
      reject(new BuildahFailed(args, how, tail));
    });
  });
}

/** Keeps at most MAX_KEPT_OUTPUT bytes of a stream (the last ones: errors come at the end). */
function boundedCollector(): { add: (chunk: Buffer) => void; text: () => string } {
  let chunks: Buffer[] = [];
  let size = 0;
  return {
    add: (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > 2 * MAX_KEPT_OUTPUT) {
        const all = Buffer.concat(chunks);
        chunks = [all.subarray(all.length - MAX_KEPT_OUTPUT)];
        size = MAX_KEPT_OUTPUT;
      }
    },
    text: () => Buffer.concat(chunks).toString('utf8'),
  };
}
