/**
 * Builds the installed CLI: one ESM bundle, dist/capstan.mjs. Why a bundle: loading the CLI's ~1,000
 * module files (mostly @kubernetes/client-node's) took 0.8 s per run; the bundle starts in ~0.3 s,
 * which matters for a CLI compared with kubectl (bench/README.md).
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

export async function bundleCli(outfile: string): Promise<void> {
  await build({
    entryPoints: [fileURLToPath(new URL('../src/cli/main.ts', import.meta.url))],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    logLevel: 'warning',
    // Some bundled CommonJS dependencies call require(); ESM has none of its own.
    banner: {
      js: "import { createRequire as __capstanRequire } from 'node:module'; const require = __capstanRequire(import.meta.url);",
    },
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const outfile = fileURLToPath(new URL('../dist/capstan.mjs', import.meta.url));
  await bundleCli(outfile);
  console.log(`wrote ${outfile}`);
}
