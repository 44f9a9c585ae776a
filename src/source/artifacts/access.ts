/**
 * A Helm or OCI Repository made ready for the source stage: its URL checked, and its Secret read
 * only once the Secret has agreed to be sent there (capstan.dev/git-urls, as for Git; an oci://
 * URL is matched as https://host/path, or http:// with spec.plainHttp).
 *
 * Secret keys: `username` + `password` (or `token`), or `.dockerconfigjson` (OCI; the entry for the
 * registry's host), and `ca.crt`, a PEM bundle trusted for this repository's https; for Helm,
 * `keyring` (OpenPGP public keys): charts must then carry a `.prov` signed by one of them.
 * No value is ever put in an error.
 */
import { UserError } from '../../core/errors.js';
import { authFromDockerConfig } from '../../registry/index.js';
import { checkCredentialScope, type CredentialSecret } from '../credential-scope.js';
import { quote, redactUrl } from '../redact.js';
import { parseRepoUrl } from '../url.js';
import { parseOciUrl } from './oci.js';
import type { ArtifactAccess, ArtifactKind, ArtifactRepository } from './types.js';

export interface ArtifactRepositorySpec {
  readonly type: ArtifactKind;
  readonly url: string;
  readonly plainHttp?: boolean;
  readonly timeoutMs?: number;
}

/** A Secret as read from the API: its scope annotations and base64 data. */
export interface ArtifactSecret extends CredentialSecret {
  readonly data?: Readonly<Record<string, string>> | undefined;
}

/** The URL that AccessPolicy sourceUrls and the Secret's capstan.dev/git-urls are matched against. */
export function scopeUrlOf(spec: Pick<ArtifactRepositorySpec, 'type' | 'url' | 'plainHttp'>): string {
  // Its index: a Helm repository may sit at a server's root, which names no repository path.
  if (spec.type !== 'oci') return helmIndexUrl(spec.url);
  const image = parseOciUrl(spec.url);
  return `${spec.plainHttp ? 'http' : 'https'}://${image.registry}/${image.repository}`;
}

/** Checks the URL for its type; UserError saying what is wrong. */
export function checkArtifactUrl(spec: Pick<ArtifactRepositorySpec, 'type' | 'url'>): void {
  if (spec.type === 'oci') {
    parseOciUrl(spec.url);
    return;
  }
  if (!/^https?:\/\//i.test(spec.url))
    throw new UserError(`Helm repository URL ${quote(redactUrl(spec.url))} must be https:// (or http://)`);
  if (/[?#]/.test(spec.url))
    throw new UserError(
      `Helm repository URL ${quote(redactUrl(spec.url))} must not carry a query or fragment`,
    );
  // The Git URL checks (one reading for every parser, no password), on the index it serves.
  parseRepoUrl(helmIndexUrl(spec.url));
}

/** `<repository>/index.yaml`, without parsing the URL more than appending a segment. */
function helmIndexUrl(url: string): string {
  return `${url.replace(/\/+$/, '')}/index.yaml`;
}

export function artifactRepository(
  spec: ArtifactRepositorySpec,
  secret?: ArtifactSecret,
): ArtifactRepository {
  checkArtifactUrl(spec);
  const base = {
    url: spec.url,
    kind: spec.type,
    ...(spec.timeoutMs === undefined ? {} : { timeoutMs: spec.timeoutMs }),
  };
  const plain = spec.plainHttp ? { plainHttp: true } : {};
  if (!secret) return { ...base, artifact: plain };
  const grant = checkCredentialScope(scopeUrlOf(spec), secret);
  return {
    ...base,
    artifact: {
      ...plain,
      ...accessFromSecret(spec, secret),
      ...(grant.allowInsecureHttp ? { allowInsecureHttp: true } : {}),
    },
  };
}

function accessFromSecret(spec: ArtifactRepositorySpec, secret: ArtifactSecret): ArtifactAccess {
  const value = (key: string): string | undefined => {
    const encoded = secret.data?.[key];
    return encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString('utf8');
  };
  const caPem = value('ca.crt');
  if (caPem !== undefined && !caPem.includes('-----BEGIN CERTIFICATE-----'))
    throw new UserError(`the Secret ${secret.namespace}/${secret.name}: ca.crt is not a PEM certificate`);
  const password = value('password') ?? value('token');
  const dockerConfig = value('.dockerconfigjson');
  let auth: ArtifactAccess['auth'];
  if (password !== undefined) auth = { username: value('username') ?? '', password };
  else if (dockerConfig !== undefined && spec.type === 'oci')
    auth = authFromDockerConfig(dockerConfig, parseOciUrl(spec.url).registry);
  const keyring = spec.type === 'helm' ? secret.data?.keyring : undefined;
  if (!auth && caPem === undefined && keyring === undefined)
    throw new UserError(
      `the Secret ${secret.namespace}/${secret.name} has none of username/password (or token), ${spec.type === 'oci' ? '.dockerconfigjson (with an entry for this registry), ' : 'keyring, '}ca.crt`,
    );
  return {
    ...(auth ? { auth } : {}),
    ...(caPem === undefined ? {} : { caPem }),
    // Binary keyrings too: decoded to bytes, not text.
    ...(keyring === undefined ? {} : { keyring: Buffer.from(keyring, 'base64') }),
  };
}
