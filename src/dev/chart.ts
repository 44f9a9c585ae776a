/**
 * Capstan's own Helm chart (deploy/chart/capstan): packaged with the real helm and published as an
 * OCI artifact (`helm push`), as `capstan dev chart --push oci://HOST/charts` does. The chart's
 * version is package.json's (a unit test keeps them equal).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { EnvironmentError, UserError } from '../core/errors.js';

/** The chart's folder in the project (beside deploy/crds.yaml, which its crds/ copies). */
export const CHART_DIR = fileURLToPath(new URL('../../deploy/chart/capstan', import.meta.url));

const HELM_TIMEOUT_MS = 120_000;
const MAX_OUTPUT_BYTES = 1024 * 1024;
const ERROR_TAIL_LINES = 10;
/** oci://host[:port][/path…]: no credentials in the URL (`helm registry login` holds them), no query. */
const OCI_DESTINATION = /^oci:\/\/[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?(\/[a-z0-9._-]{1,128}){0,16}$/;
const PUSHED_DIGEST = /^Digest: (sha256:[a-f0-9]{64})$/m;

export interface ChartMetadata {
  readonly name: string;
  readonly version: string;
  readonly appVersion: string;
}

export interface PackagedChart extends ChartMetadata {
  /** The .tgz `helm package` wrote. */
  readonly file: string;
}

export interface PublishedChart {
  /** `HOST/PATH/capstan:VERSION`, what `helm install oci://…` and an OCI Repository name. */
  readonly reference: string;
  readonly digest: string;
  readonly version: string;
}

export interface PublishOptions {
  /** The helm binary (ensureTools().helm). */
  readonly helm: string;
  /** `oci://HOST[:PORT]/PATH`: the chart lands at `oci://HOST/PATH/capstan:VERSION`. */
  readonly destination: string;
  /** Talk plain http to the registry (a local test registry). */
  readonly plainHttp?: boolean;
  /** Environment for helm (default process.env): e.g. HELM_REGISTRY_CONFIG of a test's own. */
  readonly env?: NodeJS.ProcessEnv;
}

/** Name and versions from the chart's Chart.yaml. */
export async function readChartMetadata(chartDir: string = CHART_DIR): Promise<ChartMetadata> {
  const chart = parse(await readFile(join(chartDir, 'Chart.yaml'), 'utf8')) as Partial<ChartMetadata>;
  if (typeof chart.name !== 'string' || typeof chart.version !== 'string')
    throw new UserError(`${chartDir}/Chart.yaml has no name or version`);
  return { name: chart.name, version: chart.version, appVersion: String(chart.appVersion ?? chart.version) };
}

/** `helm package` of the chart into `destination` (a folder). */
export async function packageChart(
  helm: string,
  destination: string,
  options: { chartDir?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<PackagedChart> {
  const chartDir = options.chartDir ?? CHART_DIR;
  const metadata = await readChartMetadata(chartDir);
  await runHelm(helm, ['package', chartDir, '--destination', destination], options.env);
  return { ...metadata, file: join(destination, `${metadata.name}-${metadata.version}.tgz`) };
}

/** Packages the chart and `helm push`es it to `options.destination`; returns where it landed. */
export async function publishChart(options: PublishOptions): Promise<PublishedChart> {
  const destination = checkDestination(options.destination);
  const work = await mkdtemp(join(tmpdir(), 'capstan-chart-'));
  try {
    const chart = await packageChart(options.helm, work, options.env ? { env: options.env } : {});
    const args = ['push', chart.file, destination, ...(options.plainHttp ? ['--plain-http'] : [])];
    const output = await runHelm(options.helm, args, options.env);
    const digest = PUSHED_DIGEST.exec(output)?.[1];
    if (!digest) throw new EnvironmentError(`helm push printed no digest:\n${tail(output)}`);
    const reference = `${destination.slice('oci://'.length)}/${chart.name}:${chart.version}`;
    return { reference, digest, version: chart.version };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The destination without a trailing slash, or a UserError saying what is accepted. */
export function checkDestination(destination: string): string {
  const trimmed = destination.replace(/\/$/, '');
  if (!OCI_DESTINATION.test(trimmed))
    throw new UserError(
      'the chart destination must be oci://HOST[:PORT]/PATH (lower-case path, no credentials: log in with `helm registry login`)',
    );
  return trimmed;
}

/** Runs helm (never a shell), bounded in time and output; resolves with stdout and stderr together. */
function runHelm(
  helm: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      helm,
      args,
      { env, timeout: HELM_TIMEOUT_MS, maxBuffer: MAX_OUTPUT_BYTES },
      (error, stdout, stderr) => {
        // helm push reports the digest on stderr in some versions, on stdout in others.
        const output = `${stdout}\n${stderr}`;
        if (!error) return resolve(output);
        const how = error.killed
          ? `timed out after ${String(HELM_TIMEOUT_MS / 1000)} s`
          : `exit code ${String(error.code)}`;
        reject(
          new EnvironmentError(`helm ${args[0] ?? ''} failed (${how}):\n${tail(stderr)}`, { cause: error }),
        );
      },
    );
  });
}

function tail(text: string): string {
  return text.trimEnd().split('\n').slice(-ERROR_TAIL_LINES).join('\n');
}
