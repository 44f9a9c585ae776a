/**
 * The browser app (web/, built by `npm run build` into dist/dashboard) served at `/` beside the API.
 *
 * Served with @fastify/static with `wildcard: false`: the files are listed once at start and each
 * gets a route of its own, so no request path ever reaches the file system (no traversal to guard).
 * Every other GET outside /api that asks for HTML gets index.html, so a shared link such as
 * `/apps/team-a/web?…` opens the right page. Hashed files under /assets are cached for good;
 * index.html never is (it names the current hashes).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { API_PREFIX } from './schema.js';

/**
 * dist/dashboard, found from this module: src/server/dashboard/ when run from source, dist/ or
 * dist/chunks/ when run from the bundle.
 */
export function locateDashboardAssets(from: string = import.meta.url): string | undefined {
  let dir = dirname(fileURLToPath(from));
  for (let level = 0; level < 5; level++) {
    for (const candidate of [join(dir, 'dashboard'), join(dir, 'dist', 'dashboard')]) {
      if (existsSync(join(candidate, 'index.html'))) return candidate;
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return undefined;
}

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Capstan</title>
<p>The dashboard's browser app is not built. Run <code>npm run build</code>, then reload.
The API is served at <code>${API_PREFIX}</code>.</p>`;

/** Registers the app's files and the page fallback; `dir` absent or empty: a page saying so. */
export function serveDashboardAssets(app: FastifyInstance, dir: string | undefined): void {
  const indexHtml = dir ? readFileSync(join(dir, 'index.html'), 'utf8') : undefined;
  if (dir) {
    void app.register(fastifyStatic, {
      root: dir,
      prefix: '/',
      wildcard: false,
      index: false,
      dotfiles: 'deny',
      // Our onRequest hook already said `no-store`; the hashed assets alone may be kept.
      cacheControl: false,
      setHeaders: (reply: FastifyReply, path: string) => {
        if (path.includes('/assets/')) reply.header('cache-control', 'public, max-age=31536000, immutable');
      },
      globIgnore: ['index.html'],
    });
  }
  const page = (_request: FastifyRequest, reply: FastifyReply) =>
    reply
      .code(indexHtml ? 200 : 503)
      .type('text/html; charset=utf-8')
      .send(indexHtml ?? NOT_BUILT);
  app.get('/', page);
  app.get('/index.html', page);
  app.get('/apps/*', page);
}
