/**
 * Builds the dashboard's browser app into dist/dashboard, which the dashboard server serves at `/`.
 * Everything is bundled (no CDN); file names carry a content hash so the server may cache them for
 * good, while index.html is never cached.
 */
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export const DASHBOARD_OUT_DIR = fileURLToPath(new URL('../dist/dashboard', import.meta.url));

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  plugins: [react()],
  build: {
    outDir: DASHBOARD_OUT_DIR,
    emptyOutDir: true,
    target: 'es2022',
    // The strict Content-Security-Policy allows no inline script or style, and no data: script.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: false,
  },
});
