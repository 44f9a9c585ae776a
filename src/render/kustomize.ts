/**
 * Kustomize: `kustomize build` on the app folder, after `scanKustomization` has vetted every path
 * the build can touch. The run is sandboxed (no PATH, so no git for remote bases; no plugins; a
 * private HOME) and keeps kustomize's own `LoadRestrictionsRootOnly` as a second fence for files.
 * Helm chart inflation, alpha plugins and exec functions are never enabled.
 */
import { UserError } from '../core/errors.js';
import { runTool, sanitizeToolMessage } from './exec.js';
import { scanKustomization } from './kustomize-scan.js';
import type { RenderLimits } from './limits.js';
import { RenderBudget, resolveLimits } from './limits.js';
import { parseManifests } from './manifests.js';
import type { RenderedParts } from './plain.js';
import { Checkout, compactInputs, displayPath, normaliseAppPath, quotePath } from './paths.js';
import { withSandbox } from './sandbox.js';
import type { RenderLogger, RenderResult, Renderer, RenderRequest } from './types.js';

export interface KustomizeRendererOptions {
  /** Path of the kustomize binary (from `ensureTools()` in development, the image in production). */
  readonly kustomizeBinary: string;
  readonly limits?: Partial<RenderLimits>;
  /** Where sandboxes are made; default the OS temp folder. */
  readonly tempDir?: string;
  readonly logger?: RenderLogger;
}

export function createKustomizeRenderer(options: KustomizeRendererOptions): Renderer {
  const limits = resolveLimits(options.limits);
  return {
    async render(request: RenderRequest): Promise<RenderResult> {
      const checkout = await Checkout.open(request.checkoutDir);
      const appPath = normaliseAppPath(request.appPath);
      const rendered = await renderKustomize(
        checkout,
        appPath,
        options,
        new RenderBudget(limits),
        request.signal,
      );
      return { kind: 'kustomize', ...rendered };
    },
  };
}

export async function renderKustomize(
  checkout: Checkout,
  appPath: string,
  options: KustomizeRendererOptions,
  budget: RenderBudget,
  signal?: AbortSignal,
): Promise<RenderedParts> {
  const app = await checkout.resolve(appPath, 'app path');
  if (!app.stats.isDirectory()) {
    throw new UserError(
      `app path ${quotePath(displayPath(appPath))} is not a folder; kustomize builds folders`,
    );
  }
  const scan = await scanKustomization(checkout, app, budget, signal);
  const limits = budget.limits;
  const origin = `kustomize output for ${displayPath(app.realRepoPath)}`;

  const objects = await withSandbox(
    options.tempDir,
    'kustomize',
    async (sandbox) => {
      const output = await runTool({
        tool: 'kustomize',
        binary: options.kustomizeBinary,
        args: ['build', '--load-restrictor', 'LoadRestrictionsRootOnly', app.absolutePath],
        cwd: sandbox.dir,
        env: sandbox.env,
        timeoutMs: limits.toolTimeoutMs,
        maxStdoutBytes: limits.maxToolOutputBytes,
        maxStderrBytes: limits.maxToolErrorBytes,
        ...(signal ? { signal } : {}),
      });
      // Sanitised once: the message of a failure, or warnings (deprecated fields) worth a log line.
      const stderr = sanitizeToolMessage(output.stderr, [
        { from: checkout.root, to: '' },
        { from: sandbox.dir, to: '<tmp>' },
      ]);
      options.logger?.debug(
        {
          tool: 'kustomize',
          appPath: app.realRepoPath,
          exitCode: output.exitCode,
          durationMs: output.durationMs,
          stderr,
        },
        'kustomize build finished',
      );
      if (output.exitCode !== 0) {
        throw new UserError(
          `kustomize build of ${quotePath(displayPath(app.realRepoPath))} failed: ${stderr || `exit code ${output.exitCode}`}`,
        );
      }
      return await parseManifests(output.stdout, origin, budget);
    },
    (dir) => ({ KUSTOMIZE_PLUGIN_HOME: `${dir}/plugins` }),
  );
  return { objects, inputs: compactInputs(scan.inputs) };
}
