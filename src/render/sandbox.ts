/**
 * A throwaway home for one tool run: its own temp folder and an environment built from nothing,
 * so no user configuration, credentials, plugins or proxies of the controller's own process leak
 * into helm or kustomize, and nothing the tools cache outlives the run.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Sandbox {
  /** The run's private folder; removed afterwards. */
  readonly dir: string;
  /** The complete environment for the tool. */
  readonly env: Record<string, string>;
}

/**
 * Runs `work` with a fresh sandbox under `parent` (default the OS temp folder), removing it after.
 * `extraEnv` adds tool-specific variables (paths inside the sandbox, typically).
 */
export async function withSandbox<T>(
  parent: string | undefined,
  tool: string,
  work: (sandbox: Sandbox) => Promise<T>,
  extraEnv: (dir: string) => Record<string, string> = () => ({}),
): Promise<T> {
  const dir = await mkdtemp(join(parent ?? tmpdir(), `capstan-${tool}-`));
  try {
    const home = join(dir, 'home');
    const tmp = join(dir, 'tmp');
    await Promise.all([mkdir(home), mkdir(tmp)]);
    const env: Record<string, string> = {
      HOME: home,
      XDG_CONFIG_HOME: join(home, '.config'),
      XDG_CACHE_HOME: join(home, '.cache'),
      XDG_DATA_HOME: join(home, '.local', 'share'),
      TMPDIR: tmp,
      // Nothing to exec: no git for remote bases, no plugins, no credential helpers.
      PATH: '',
      // Should a fetch slip past the checks, it goes to a closed port instead of the network.
      HTTP_PROXY: 'http://127.0.0.1:9',
      HTTPS_PROXY: 'http://127.0.0.1:9',
      http_proxy: 'http://127.0.0.1:9',
      https_proxy: 'http://127.0.0.1:9',
      NO_PROXY: '',
      no_proxy: '',
      LANG: 'C',
      LC_ALL: 'C',
      ...extraEnv(dir),
    };
    return await work({ dir, env });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
