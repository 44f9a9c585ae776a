/**
 * The renderer the engine uses: picks plain, kustomize or helm for an app (or obeys
 * `options.kind`), with one budget and one confinement root per render.
 */
import { lstat } from 'node:fs/promises';
import { EnvironmentError, UserError } from '../core/errors.js';
import { renderHelm } from './helm.js';
import { findKustomizationFile } from './kustomize-scan.js';
import { renderKustomize } from './kustomize.js';
import type { RenderLimits } from './limits.js';
import { RenderBudget, resolveLimits } from './limits.js';
import { Checkout, displayPath, normaliseAppPath, quotePath } from './paths.js';
import { renderPlain } from './plain.js';
import type { RenderKind, RenderLogger, RenderResult, Renderer, RenderRequest } from './types.js';

export interface RendererOptions {
  /** Binary paths; a render that needs a missing one fails with an EnvironmentError. */
  readonly tools: { readonly helm?: string; readonly kustomize?: string };
  readonly limits?: Partial<RenderLimits>;
  /** Where tool sandboxes are made; default the OS temp folder. */
  readonly tempDir?: string;
  readonly logger?: RenderLogger;
}

export function createRenderer(options: RendererOptions): Renderer {
  const limits = resolveLimits(options.limits);
  return {
    async render(request: RenderRequest): Promise<RenderResult> {
      request.signal?.throwIfAborted();
      const checkout = await Checkout.open(request.checkoutDir);
      const appPath = normaliseAppPath(request.appPath);
      const requested = request.options?.kind ?? 'auto';
      const kind = requested === 'auto' ? await detectRenderKind(checkout, appPath) : requested;
      const budget = new RenderBudget(limits);
      const common = {
        limits,
        ...(options.tempDir ? { tempDir: options.tempDir } : {}),
        ...(options.logger ? { logger: options.logger } : {}),
      };
      switch (kind) {
        case 'plain':
          return {
            kind,
            ...(await renderPlain(checkout, appPath, request.options?.plain ?? {}, budget, request.signal)),
          };
        case 'kustomize': {
          const kustomizeBinary = requireTool(options.tools.kustomize, 'kustomize');
          return {
            kind,
            ...(await renderKustomize(
              checkout,
              appPath,
              { ...common, kustomizeBinary },
              budget,
              request.signal,
            )),
          };
        }
        case 'helm': {
          const helmBinary = requireTool(options.tools.helm, 'helm');
          const helm = request.options?.helm ?? {};
          return {
            kind,
            ...(await renderHelm(checkout, appPath, helm, { ...common, helmBinary }, budget, request.signal)),
          };
        }
        default:
          throw new UserError(
            `unknown render kind ${quotePath(String(kind))} (plain, kustomize, helm or auto)`,
          );
      }
    },
  };
}

/**
 * `helm` for a folder with a `Chart.yaml`, `kustomize` for one with a kustomization file, `plain`
 * otherwise. A folder with both is ambiguous: the app must say which it means.
 */
export async function detectRenderKind(checkout: Checkout, appPath: string): Promise<RenderKind> {
  const app = await checkout.resolve(appPath, 'app path');
  if (!app.stats.isDirectory()) return 'plain';
  const kustomization = await findKustomizationFile(checkout, app.realRepoPath);
  const chart = await exists(
    checkout.absolute(app.realRepoPath === '' ? 'Chart.yaml' : `${app.realRepoPath}/Chart.yaml`),
  );
  if (kustomization !== undefined && chart) {
    throw new UserError(
      `app path ${quotePath(displayPath(appPath))} has both a Chart.yaml and a kustomization file; set the render kind explicitly`,
    );
  }
  if (chart) return 'helm';
  if (kustomization !== undefined) return 'kustomize';
  return 'plain';
}

function requireTool(binary: string | undefined, tool: string): string {
  if (!binary)
    throw new EnvironmentError(`rendering this app needs ${tool}, and no ${tool} binary is configured`);
  return binary;
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}
