/**
 * Red team of Capstan's chart with the real helm (`helm template`, nothing applied): hostile values
 * are refused by the schema or the chart, or stay inert — no value becomes YAML structure, a
 * second argument, or a template; the webhook secret shows only in its Secret; and the
 * controller's cluster-wide rights never go to the namespace's default ServiceAccount.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../core/objects.js';
import { CHART_DIR } from './chart.js';
import { ensureTools } from './tools.js';

const execFileAsync = promisify(execFile);
let helm: string;
let home: string;

beforeAll(async () => {
  helm = (await ensureTools({ only: ['helm'] })).helm;
  home = await mkdtemp(join(tmpdir(), 'chart-attack-'));
}, 600_000);
afterAll(async () => {
  if (home) await rm(home, { recursive: true, force: true });
});

/** `helm template` with `--set-json` values: the objects, or helm's refusal. */
async function render(values: Record<string, unknown>): Promise<{ objects?: KubeObject[]; error?: string }> {
  const args = ['template', 'capstan', CHART_DIR, '--namespace', 'capstan-system'];
  for (const [key, value] of Object.entries(values))
    args.push('--set-json', `${key}=${JSON.stringify(value)}`);
  try {
    const { stdout } = await execFileAsync(helm, args, {
      env: { PATH: process.env.PATH, HELM_CACHE_HOME: home, HELM_CONFIG_HOME: home, HELM_DATA_HOME: home },
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return {
      objects: parseAllDocuments(stdout)
        .map((d) => d.toJS() as KubeObject)
        .filter(Boolean),
    };
  } catch (error) {
    return { error: String((error as { stderr?: string }).stderr ?? error) };
  }
}

type Deployment = KubeObject & {
  spec: {
    template: {
      metadata: { annotations?: Record<string, string> };
      spec: {
        serviceAccountName: string;
        containers: { args: string[]; image: string; command?: unknown }[];
      };
    };
  };
};

const deploymentOf = (objects: readonly KubeObject[]) =>
  objects.find((o) => o.kind === 'Deployment') as Deployment;

describe("Capstan's chart against hostile values", () => {
  it('an extraArgs entry with a newline stays one argument (no flag smuggled in)', async () => {
    const { objects } = await render({ extraArgs: ['--resync=5m\n- --allow-file-urls'] });
    const args = deploymentOf(objects!).spec.template.spec.containers[0]!.args;
    expect(args).not.toContain('--allow-file-urls');
    expect(args.at(-1)).toBe('--resync=5m\n- --allow-file-urls');
  });

  it.each([
    ['a newline and YAML', 'evil\n    command: [sh]'],
    ['a space', 'registry.example.com/capstan latest'],
    ['a digest smuggled into the repository', 'registry.example.com/capstan@sha256:abc'],
  ])('an image.repository with %s is refused', async (_what, repository) => {
    const { error } = await render({ image: { repository } });
    expect(error).toMatch(/image\/repository/);
  });

  it('a podAnnotations value is not a template: it cannot read other values (the webhook secret)', async () => {
    const { objects } = await render({
      podAnnotations: { probe: '{{ .Values.webhook.secret }}' },
      webhook: { secret: 'S3KRIT-webhook' },
    });
    const annotations = deploymentOf(objects!).spec.template.metadata.annotations;
    expect(annotations).toEqual({ probe: '{{ .Values.webhook.secret }}' });
  });

  it('the webhook secret appears in its Secret only (base64), nowhere else; NOTES never print it', async () => {
    const { objects } = await render({ webhook: { secret: 'S3KRIT-webhook' } });
    const others = objects!.filter((o) => o.kind !== 'Secret');
    expect(JSON.stringify(others)).not.toContain('S3KRIT');
    expect(JSON.stringify(others)).not.toContain(Buffer.from('S3KRIT-webhook').toString('base64'));
    const notes = await readFile(join(CHART_DIR, 'templates', 'NOTES.txt'), 'utf8');
    const uses = [...notes.matchAll(/\{\{-?\s*([^}]*)\.Values\.webhook\.secret\b/g)];
    expect(uses.length).toBeGreaterThan(0);
    for (const use of uses)
      expect(use[1]!.trim(), 'NOTES may test webhook.secret, never print it').toMatch(/^(else )?if\b/);
  });

  it("refuses the namespace's default ServiceAccount for the controller (every pod there would get its rights)", async () => {
    for (const create of [false, true]) {
      const { error } = await render({ serviceAccount: { create, name: 'default' } });
      expect(error).toContain('serviceAccount.name');
    }
  });

  it.each([
    ['existingSecret with YAML', { webhook: { existingSecret: 'x\n  optional: true' } }, 'existingSecret'],
    ['existingSecretKey with a path', { webhook: { existingSecretKey: '../../token' } }, 'existingSecretKey'],
    ['an unknown value (a typo must not pass silently)', { rbac: { create: false } }, 'rbac'],
    ['a tag with a newline', { image: { tag: '1\n  imagePullPolicy: Never' } }, 'image/tag'],
  ])('refuses %s', async (_what, values, says) => {
    const { error } = await render(values);
    expect(error).toContain(says);
  });
});
