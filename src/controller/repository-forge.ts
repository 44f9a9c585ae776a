/**
 * A Repository's Git host API (`spec.forge`) with the token of its Secret: the one way rollback pull
 * requests, promotions, pull-request plans and the pull-request generator reach a forge.
 *
 * The token goes where the Secret's git credentials may go, and nowhere else: the Secret must cover
 * `spec.url` (capstan.dev/git-urls), and an API on another host than the URL's must be covered by
 * the annotation too; plain http:// needs the Secret's capstan.dev/allow-insecure-http. Errors say
 * what to fix, for the feature that asked; no Secret value is ever in them.
 */
import { repositorySpecSchema, type Repository } from '../api/v1alpha1.js';
import { UserError } from '../core/errors.js';
import { parseDuration } from '../core/time.js';
import { forgeApiFor, forgeTargetFor, type ForgeAuth, type ForgeTarget } from '../forge/index.js';
import type { KubeClient } from '../kube/index.js';
import { checkCredentialScope, CredentialScopeError } from '../source/credential-scope.js';

/** The longest a forge API request waits for its answer, whatever the Repository's spec.timeout. */
export const MAX_FORGE_REQUEST_MS = 30_000;

/** A Secret as far as a forge token goes: its annotations (where it may go) and its data (base64). */
export interface ForgeSecret {
  readonly metadata?: { readonly annotations?: Readonly<Record<string, string>> | undefined } | undefined;
  readonly data?: Readonly<Record<string, string>> | undefined;
}

/** Which feature wants the forge, so that an error names it: `gitRevert: pullRequest`, … */
export interface ForgePurpose {
  /** `gitRevert: pullRequest`, `a promotion by pull request`, … (the subject of "needs …"). */
  readonly feature: string;
  /** What to do instead, when there is another way: `or use gitRevert: commit`. */
  readonly otherwise?: string;
}

/**
 * The client of `spec.forge` of the Repository, at its API root (given, or derived from `spec.url`),
 * with the token of its Secret (`token`, else the password). Throws a user error saying what to fix.
 */
export function forgeTargetOf(
  repository: Repository,
  secret: ForgeSecret | undefined,
  purpose: ForgePurpose,
): ForgeTarget {
  const where = `Repository ${repository.metadata.namespace}/${repository.metadata.name}`;
  const parsed = repositorySpecSchema.safeParse(repository.spec);
  if (!parsed.success) throw new UserError(`${purpose.feature}: the spec of ${where} is invalid`);
  const spec = parsed.data;
  if (!spec.forge) {
    throw new UserError(
      `${purpose.feature} needs spec.forge on ${where} naming its Git host ({kind: gitea | github | gitlab})${purpose.otherwise ? `; ${purpose.otherwise}` : ''}`,
    );
  }
  if (!spec.secretRef) {
    throw new UserError(
      `${purpose.feature} needs a token for the ${spec.forge.kind} API: ${where} has no spec.secretRef (a Secret with key token, or password)`,
    );
  }
  const secretName = spec.secretRef.name;
  if (!secret) {
    throw new UserError(
      `the Secret ${repository.metadata.namespace}/${secretName} named by ${where} does not exist`,
    );
  }
  const scope = {
    namespace: repository.metadata.namespace,
    name: secretName,
    annotations: secret.metadata?.annotations,
  };
  // As for Git: the Secret must serve this repository before any of its values is read.
  const grant = checkCredentialScope(spec.url, scope);
  const derived = forgeApiFor(spec.url, spec.forge.kind);
  const apiUrl = spec.forge.apiUrl ?? derived.apiUrl;
  let otherHost: boolean;
  try {
    otherHost = new URL(apiUrl).origin !== new URL(derived.apiUrl).origin;
  } catch {
    throw new UserError(`spec.forge.apiUrl of ${where} is not a URL`);
  }
  let allowInsecureHttp = grant.allowInsecureHttp;
  if (otherHost) {
    // Another host than the repository's: the Secret's owner must have listed it.
    try {
      allowInsecureHttp = checkCredentialScope(apiUrl, scope).allowInsecureHttp;
    } catch (error) {
      if (!(error instanceof CredentialScopeError)) throw error;
      throw new CredentialScopeError(
        `spec.forge.apiUrl of ${where} is not on the host of spec.url, so its Secret must allow it: ${error.message}`,
        { cause: error },
      );
    }
  }
  return forgeTargetFor(spec.url, {
    kind: spec.forge.kind,
    auth: forgeAuthFrom(secret.data, `${repository.metadata.namespace}/${secretName}`),
    ...(spec.forge.apiUrl === undefined ? {} : { apiUrl: spec.forge.apiUrl }),
    apiUrlOnOtherHost: otherHost,
    allowInsecureHttp,
    // spec.timeout is the tenant's bound for its git operations (a clone may rightly take long);
    // an API call answers in seconds or not at all, and a longer wait would let the tenant's host hold
    // the controller's shared workers (plans, generators, comments): capped per request.
    timeoutMs: Math.min(parseDuration(spec.timeout), MAX_FORGE_REQUEST_MS),
  });
}

/**
 * A Repository's forge target with its Secret read afresh (a rotated token is used at once). Checks
 * spec.forge before reading the Secret: a Repository without one never costs a read.
 */
export function repositoryForge(
  kube: Pick<KubeClient, 'get'>,
): (repository: Repository, purpose: ForgePurpose) => Promise<ForgeTarget> {
  return async (repository, purpose) => {
    const spec = repository.spec as { forge?: unknown; secretRef?: { name?: unknown } };
    const name = spec.forge === undefined ? undefined : spec.secretRef?.name;
    const secret =
      typeof name === 'string'
        ? ((await kube.get({ group: '', kind: 'Secret', namespace: repository.metadata.namespace, name })) as
            ForgeSecret | undefined)
        : undefined;
    return forgeTargetOf(repository, secret, purpose);
  };
}

/** Secret data (base64) → the forge's credentials: `token`, else `username` + `password`. */
function forgeAuthFrom(data: Readonly<Record<string, string>> | undefined, secret: string): ForgeAuth {
  const value = (key: string): string | undefined => {
    const raw = data?.[key];
    const text = raw === undefined ? '' : Buffer.from(raw, 'base64').toString('utf8').trim();
    return text === '' ? undefined : text;
  };
  const token = value('token');
  if (token !== undefined) return { kind: 'token', token };
  const password = value('password');
  if (password !== undefined) return { kind: 'basic', username: value('username') ?? 'git', password };
  throw new UserError(`the Secret ${secret} has no token (or password) for the Git host's API`);
}
