/**
 * The real helm and kustomize of the run against Capstan's chart (deploy/chart/capstan) and deploy/,
 * with a Helm home of the test's own (no user config, cache or registry login is read or written).
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inject } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { CHART_DIR } from '../../src/dev/chart.js';
import type { KubeObject } from '../../src/core/objects.js';
import { makeTempDir } from '../support/git-servers.js';

export const ROOT = new URL('../../', import.meta.url).pathname;

/** Labels Helm charts conventionally add for bookkeeping; deploy/ has none of them. */
const HELM_LABELS = [
  'helm.sh/chart',
  'app.kubernetes.io/managed-by',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/version',
  'app.kubernetes.io/part-of',
];

export interface HelmResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

let helmHome: Promise<NodeJS.ProcessEnv> | undefined;

/** Runs the run's helm with the admin kubeconfig and a Helm home of this test file's own. */
export async function helm(args: readonly string[]): Promise<HelmResult> {
  helmHome ??= makeTempDir('helm-home').then((home) => ({
    ...process.env,
    KUBECONFIG: inject('kubeconfigPath'),
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
  }));
  return run(inject('tools').helm!, args, await helmHome);
}

/** Like helm(), failing the test with helm's message when it exits non-zero; returns stdout. */
export async function helmOk(args: readonly string[]): Promise<string> {
  const result = await helm(args);
  if (result.code !== 0) throw new Error(`helm ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

/** `helm template` of the chart (with its CRDs) as objects. */
export async function renderChart(
  options: { release?: string; namespace?: string; set?: readonly string[] } = {},
): Promise<KubeObject[]> {
  const args = ['template', options.release ?? 'capstan', CHART_DIR, '--include-crds'];
  args.push('--namespace', options.namespace ?? 'capstan-system');
  for (const value of options.set ?? []) args.push('--set', value);
  return parseObjects(await helmOk(args));
}

/** The objects of files under deploy/ (YAML, as `kubectl apply -f` reads them). */
export async function deployFiles(...files: string[]): Promise<KubeObject[]> {
  const texts = await Promise.all(files.map((file) => readFile(join(ROOT, 'deploy', file), 'utf8')));
  return texts.flatMap(parseObjects);
}

/** `kustomize build deploy/<dir>` as objects. */
export async function kustomizeBuild(dir: string): Promise<KubeObject[]> {
  const result = await run(inject('tools').kustomize!, ['build', join(ROOT, 'deploy', dir)], process.env);
  if (result.code !== 0) throw new Error(`kustomize build ${dir} failed: ${result.stderr}`);
  return parseObjects(result.stdout);
}

export function parseObjects(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((document) => {
      if (document.errors.length > 0) throw document.errors[0]!;
      return document.toJS() as KubeObject | null;
    })
    .filter((object): object is KubeObject => object !== null);
}

/** `Kind namespace/name` → the object without Helm's bookkeeping labels, for comparing with deploy/. */
export function byIdentity(objects: readonly KubeObject[]): Map<string, KubeObject> {
  const map = new Map<string, KubeObject>();
  for (const object of objects) {
    const key = `${object.kind} ${object.metadata.namespace ?? ''}/${object.metadata.name}`;
    if (map.has(key)) throw new Error(`${key} is rendered twice`);
    map.set(key, withoutHelmLabels(object));
  }
  return map;
}

function withoutHelmLabels(object: KubeObject): KubeObject {
  const labels = { ...object.metadata.labels };
  for (const key of HELM_LABELS) delete labels[key];
  const metadata = { ...object.metadata, labels };
  if (Object.keys(labels).length === 0) delete (metadata as { labels?: unknown }).labels;
  return { ...object, metadata };
}

/** The Deployment's container image of `objects`, split into the chart's image values. */
export function imageValues(objects: readonly KubeObject[]): string[] {
  const deployment = objects.find((object) => object.kind === 'Deployment') as
    { spec: { template: { spec: { containers: { image: string }[] } } } } | undefined;
  const image = deployment?.spec.template.spec.containers[0]?.image;
  if (!image) throw new Error('no Deployment with an image');
  const colon = image.lastIndexOf(':');
  if (colon <= image.lastIndexOf('/')) return [`image.repository=${image}`, 'image.tag=latest'];
  return [`image.repository=${image.slice(0, colon)}`, `image.tag=${image.slice(colon + 1)}`];
}

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<HelmResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { env, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') return reject(error);
        resolve({ stdout, stderr, code: typeof error?.code === 'number' ? error.code : 0 });
      },
    );
  });
}
