/**
 * helm and kustomize for render tests, built from the Go tools module on first use (about a
 * minute for helm, ten seconds for kustomize) and cached in ~/.cache/capstan afterwards.
 */
import { ensureTools } from '../../src/dev/tools.js';

export interface RenderTools {
  readonly helm: string;
  readonly kustomize: string;
}

let tools: Promise<RenderTools> | undefined;

/** Call from a `beforeAll` with a long timeout (the first build can take minutes). */
export function renderTools(): Promise<RenderTools> {
  tools ??= ensureTools({ progress: (line) => console.log(line) }).then(({ helm, kustomize }) => ({
    helm,
    kustomize,
  }));
  return tools;
}

/** Ten minutes: enough for a cold build of every tool while another run builds too. */
export const TOOLS_TIMEOUT_MS = 600_000;
