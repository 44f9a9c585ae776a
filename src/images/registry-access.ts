/**
 * An ImagePolicy's way into its registry: the image name parsed, and a client with the credentials
 * of its Secret — sent to that registry alone.
 *
 * Whoever writes an ImagePolicy chooses its image, and may not be able to read the Secret it names:
 * were the Secret sent to whatever registry the image names, a tenant could name another team's
 * Secret, point the image at a registry of its own and receive the password. So a Secret gives
 * credentials only for hosts it names itself: a `.dockerconfigjson` is keyed by registry host (only
 * the entry of the image's registry is used), and a plain `username`/`password` Secret must list its
 * hosts in the annotation capstan.dev/image-registries. Plain http:// is the policy's `insecure`,
 * and credentials go over it only with the Secret's own capstan.dev/allow-insecure-http.
 */
import { imagePolicySpecSchema, type ImagePolicy } from '../api/image-policy.js';
import { UserError } from '../core/errors.js';
import { parseDuration } from '../core/time.js';
import type { KubeClient } from '../kube/index.js';
import {
  authFromDockerConfig,
  createRegistryClient,
  parseImageName,
  type ImageName,
  type RegistryAuth,
  type RegistryClient,
  type RegistryClientOptions,
} from '../registry/index.js';
import { ALLOW_INSECURE_HTTP_ANNOTATION, splitPrefixes } from '../source/credential-scope.js';

/** On a `username`/`password` Secret: the registry hosts (host[:port]) it may be sent to. */
export const IMAGE_REGISTRIES_ANNOTATION = 'capstan.dev/image-registries';

/** The longest one registry request waits for its answer. */
const MAX_REQUEST_MS = 30_000;

export interface RegistryAccess {
  readonly image: ImageName;
  readonly client: RegistryClient;
}

export interface RegistryAccessDeps {
  readonly kube: Pick<KubeClient, 'get'>;
  /** Builds the client: the real one, or a fake in tests. */
  readonly createClient?: (options: RegistryClientOptions) => RegistryClient;
  /** Registries on private (link-local, metadata) addresses are allowed: tests and the demo only. */
  readonly allowPrivateAddresses?: boolean;
}

/** The registry of `policy`, with its Secret's credentials if it names one; a UserError says what to fix. */
export async function registryAccess(deps: RegistryAccessDeps, policy: ImagePolicy): Promise<RegistryAccess> {
  const spec = imagePolicySpecSchema.parse(policy.spec);
  const image = parseImageName(spec.image);
  const auth = spec.secretRef
    ? await credentialsFor(deps.kube, policy.metadata.namespace, spec.secretRef.name, image, spec.insecure)
    : undefined;
  const create = deps.createClient ?? createRegistryClient;
  const client = create({
    ...(auth ? { auth, registry: image.registry } : {}),
    plainHttp: spec.insecure,
    timeoutMs: Math.min(parseDuration(spec.timeout), MAX_REQUEST_MS),
    ...(deps.allowPrivateAddresses ? { allowPrivateAddresses: true } : {}),
  });
  return { image, client };
}

interface SecretObject {
  readonly metadata?: { readonly annotations?: Readonly<Record<string, string>> };
  readonly data?: Readonly<Record<string, string>>;
}

async function credentialsFor(
  kube: Pick<KubeClient, 'get'>,
  namespace: string,
  name: string,
  image: ImageName,
  insecure: boolean,
): Promise<RegistryAuth | undefined> {
  const secret = (await kube.get({ group: '', kind: 'Secret', namespace, name })) as SecretObject | undefined;
  const who = `the Secret ${namespace}/${name}`;
  if (!secret) throw new UserError(`${who} named by spec.secretRef does not exist`);
  const annotations = secret.metadata?.annotations ?? {};
  if (insecure && annotations[ALLOW_INSECURE_HTTP_ANNOTATION]?.trim() !== 'true') {
    throw new UserError(
      `${who} would be sent over plain http:// (spec.insecure), readable by anyone on the way; use https, or, if the Secret's owner accepts that risk, annotate the Secret ${ALLOW_INSECURE_HTTP_ANNOTATION}: "true"`,
    );
  }
  const value = (key: string): string | undefined => {
    const encoded = secret.data?.[key];
    return encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString('utf8');
  };
  const dockerConfig = value('.dockerconfigjson') ?? value('config.json');
  if (dockerConfig !== undefined) {
    const auth = authFromDockerConfig(dockerConfig, image.registry);
    if (!auth) throw new UserError(`${who} holds no credentials for the registry ${image.registry}`);
    return auth;
  }
  const password = value('password') ?? value('token');
  if (password === undefined) {
    throw new UserError(`${who} has neither .dockerconfigjson nor username/password (or token)`);
  }
  const hosts = splitPrefixes(annotations[IMAGE_REGISTRIES_ANNOTATION] ?? '').map((h) => h.toLowerCase());
  if (!hosts.includes(image.registry)) {
    throw new UserError(
      `${who} may not be sent to the registry ${image.registry}: its annotation ${IMAGE_REGISTRIES_ANNOTATION} must list that host (the Secret's owner decides where its password goes)`,
    );
  }
  return { username: value('username') ?? 'token', password };
}
