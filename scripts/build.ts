/**
 * Builds what the package ships into dist/: the dashboard's browser app (dist/dashboard, by Vite
 * from web/) and the CLI (the entry dist/capstan.mjs and the chunks it loads on use).
 * `--dashboard` builds the browser app alone (what `npm start` needs).
 *
 * Why a bundle: loading the CLI's ~1,000 module files (mostly @kubernetes/client-node's) took 0.8 s
 * per run; a bundle starts in a fraction of that, which matters for a CLI compared with kubectl
 * (bench/README.md). Why chunks: a single 5.6 MB file still cost ~100 ms just to compile, most of
 * it the controller's server and schemas; commands import those with `import()`, so `capstan apply`
 * parses only what it runs.
 */
import { build } from 'esbuild';
import { build as viteBuild } from 'vite';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Writes `<outdir>/capstan.mjs` and `<outdir>/chunks/*.mjs`; returns the entry's path. */
export async function bundleCli(outdir: string): Promise<string> {
  await rm(outdir, { recursive: true, force: true });
  await build({
    entryPoints: { capstan: fileURLToPath(new URL('../src/cli/main.ts', import.meta.url)) },
    outdir,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
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
  return join(outdir, 'capstan.mjs');
}

/**
 * Builds the dashboard's browser app into `outDir` (default dist/dashboard, where the server looks).
 * Tests build into a folder of their own.
 */
export async function buildDashboard(outDir?: string): Promise<string> {
  const configFile = fileURLToPath(new URL('../web/vite.config.ts', import.meta.url));
  // React's production build and JSX, also when a test runner has set NODE_ENV=test: tests check
  // the bundle that ships. (Vite and its React plugin both read NODE_ENV.)
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await viteBuild({
      configFile,
      mode: 'production',
      logLevel: 'warn',
      ...(outDir ? { build: { outDir, emptyOutDir: true } } : {}),
    });
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
  return outDir ?? fileURLToPath(new URL('../dist/dashboard', import.meta.url));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // The CLI first: bundling empties dist/.
  if (!process.argv.includes('--dashboard')) {
    const entry = await bundleCli(fileURLToPath(new URL('../dist', import.meta.url)));
    console.log(`wrote ${entry}`);
  }
  console.log(`wrote ${await buildDashboard()}`);
}
