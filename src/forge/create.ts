/**
 * Making a forge client: for an API root (createForge), or for a repository URL on the host it lives
 * on (forgeTargetFor), where the token goes anyway.
 */
import { quote, redactText } from '../source/redact.js';
import { parseRepoUrl } from '../source/url.js';
import { gitea } from './gitea.js';
import { github } from './github.js';
import { gitlab } from './gitlab.js';
import { checkApiUrl, ForgeHttp, secretsOf } from './http.js';
import {
  ForgeError,
  type Forge,
  type ForgeApi,
  type ForgeKind,
  type ForgeOptions,
  type ForgeTarget,
  type ForgeTargetOptions,
} from './types.js';

export function createForge(options: ForgeOptions): Forge {
  const api = checkApiUrl(options.apiUrl, options.allowInsecureHttp ?? false);
  const secrets = secretsOf(options.auth);
  if (secrets.some((secret) => secret === '' || /[\r\n\0]/.test(secret))) {
    throw new ForgeError('user', `the credentials for ${api.display} are empty or contain a line break`);
  }
  const http = new ForgeHttp(api, options, secrets);
  switch (options.kind) {
    case 'github':
      return github(http);
    case 'gitea':
      return gitea(http);
    case 'gitlab':
      return gitlab(http);
    default:
      throw new ForgeError('user', `unknown forge kind ${quote(String(options.kind))}`);
  }
}

/**
 * The API root of `repositoryUrl`'s forge on the same host (`api.github.com` for github.com;
 * `/api/v3` for GitHub Enterprise, `/api/v4` for GitLab, `/api/v1` for Gitea) and the repository's
 * name there.
 */
export function forgeApiFor(repositoryUrl: string, kind: ForgeKind): ForgeApi {
  const repo = parseRepoUrl(repositoryUrl);
  const path = repositoryPath(repositoryUrl);
  const segments = path.split('/').filter((s) => s !== '');
  if (segments.length < 2) {
    throw new ForgeError('user', `cannot tell the owner and name of ${repo.display} for a pull request`);
  }
  // An ssh remote's web and API live on https at the same host (the ssh port says nothing of it).
  const origin = repo.scheme === 'ssh' ? `https://${repo.host}` : new URL(repositoryUrl).origin.toLowerCase();
  switch (kind) {
    case 'github':
      return {
        apiUrl: repo.host === 'github.com' ? 'https://api.github.com' : `${origin}/api/v3`,
        repo: segments.slice(0, 2).join('/'),
      };
    case 'gitea': {
      const prefix = segments.slice(0, -2).join('/');
      return {
        apiUrl: `${origin}${prefix === '' ? '' : `/${prefix}`}/api/v1`,
        repo: segments.slice(-2).join('/'),
      };
    }
    case 'gitlab':
      return { apiUrl: `${origin}/api/v4`, repo: segments.join('/') };
    default:
      throw new ForgeError('user', `unknown forge kind ${quote(String(kind))}`);
  }
}

/**
 * The forge of `repositoryUrl` (forgeApiFor) and its client. An explicit `apiUrl` must be on the
 * repository's own host, where the token goes anyway, unless `apiUrlOnOtherHost` says the token's
 * owner allowed it elsewhere.
 */
export function forgeTargetFor(repositoryUrl: string, options: ForgeTargetOptions): ForgeTarget {
  const repo = parseRepoUrl(repositoryUrl);
  const derived = forgeApiFor(repositoryUrl, options.kind);
  const apiUrl = options.apiUrl ?? derived.apiUrl;
  let explicit: URL;
  try {
    explicit = new URL(apiUrl);
  } catch {
    throw new ForgeError('user', `the forge API URL ${quote(redactText(apiUrl))} is not a URL`);
  }
  if (explicit.origin !== new URL(derived.apiUrl).origin && options.apiUrlOnOtherHost !== true) {
    throw new ForgeError(
      'user',
      `the forge API ${quote(explicit.origin)} is not on the host of ${repo.display}: the token is sent to that host only`,
    );
  }
  const forge = createForge({
    kind: options.kind,
    apiUrl,
    auth: options.auth,
    ...(options.allowInsecureHttp === undefined ? {} : { allowInsecureHttp: options.allowInsecureHttp }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  return { forge, repo: derived.repo };
}

/** The repository's path without `.git`: from a URL, or the part after `:` of `user@host:path`. */
function repositoryPath(url: string): string {
  const path = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(url)
    ? new URL(url).pathname
    : url.slice(url.indexOf(':') + 1);
  return decodeURIComponent(path)
    .replace(/\/+$/, '')
    .replace(/\.git$/, '');
}
