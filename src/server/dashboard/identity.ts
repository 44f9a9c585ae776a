/**
 * Who a dashboard user is, and a Kubernetes client that acts as them — never as the controller.
 *
 * Controller mode: the user pastes a bearer token. The dashboard builds a client that sends exactly
 * that token (on a transport with the API server's CA but no credentials of the controller's: no
 * client certificate, no token of its own, so nothing of the controller's can leak into the user's
 * requests), and asks the API server who the token belongs to with a SelfSubjectReview
 * (authentication.k8s.io/v1). The API server authenticates that request with the same
 * authenticators as a TokenReview would, so a token it does not accept is refused (401), and the
 * controller needs no `create tokenreviews` grant: it never vouches for anyone.
 *
 * `capstan dashboard` mode: the server runs as the laptop user (their kubeconfig); a per-run random
 * access token, printed in the URL, proves the browser is theirs.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { KubeObject } from '../../core/objects.js';
import {
  createHttpTransport,
  HttpKubeClient,
  isKubeApiError,
  loadConnection,
  type KubeClient,
  type KubeconfigSource,
  type RestMapper,
} from '../../kube/index.js';

export interface UserIdentity {
  readonly username: string;
  readonly groups: readonly string[];
  readonly uid?: string;
}

export interface Authenticated {
  readonly identity: UserIdentity;
  /** Acts as the user: every read and write the dashboard does for them goes through it. */
  readonly kube: KubeClient;
}

/** The credential of POST /api/v1/session, checked; `undefined` when refused (401). */
export type Authenticator = (credential: string) => Promise<Authenticated | undefined>;

interface SelfSubjectReview extends KubeObject {
  status?: { userInfo?: { username?: string; groups?: string[]; uid?: string } };
}

/** The API server's word on who `kube` acts as; `undefined` when it does not accept the credentials. */
export async function reviewSelf(kube: Pick<KubeClient, 'create'>): Promise<UserIdentity | undefined> {
  let review: SelfSubjectReview;
  try {
    review = await kube.create<SelfSubjectReview>({
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'SelfSubjectReview',
      metadata: {},
    });
  } catch (error) {
    if (isKubeApiError(error) && error.status === 401) return undefined;
    throw error;
  }
  const info = review.status?.userInfo;
  if (!info?.username) return undefined;
  return {
    username: info.username,
    groups: info.groups ?? [],
    ...(info.uid ? { uid: info.uid } : {}),
  };
}

/** Builds a client that sends a given bearer token and nothing else of ours. */
export type BearerClientFactory = (token: string) => KubeClient;

/**
 * Clients for users' bearer tokens on the cluster `source` names: one connection pool, without the
 * controller's credentials, shared by every user's client (each request carries its own token).
 * The REST mapper is the controller's (discovery is the same for everyone).
 */
export async function bearerClientFactory(
  source: KubeconfigSource,
  mapper: RestMapper,
  options: { maxSockets?: number; requestTimeoutMs?: number } = {},
): Promise<BearerClientFactory> {
  const connection = await loadConnection(source);
  const { cert: _cert, key: _key, ...serverTrust } = connection.tls;
  const base = createHttpTransport({
    server: connection.server,
    tls: serverTrust,
    maxSockets: options.maxSockets ?? 16,
    // Users' clients never watch: the event stream is fed by the shared informer.
    maxWatchSockets: 1,
    requestTimeoutMs: options.requestTimeoutMs ?? 20_000,
    maxResponseBytes: 16 * 1024 * 1024,
    userAgent: 'capstan-dashboard',
  });
  return (token) =>
    new HttpKubeClient({
      transport: base.withHeaders({ authorization: `Bearer ${token}` }),
      mapper,
      fieldManager: 'capstan-dashboard',
    });
}

/** Controller mode: a Kubernetes bearer token, validated by the API server itself. */
export function bearerTokenAuthenticator(clientFor: BearerClientFactory): Authenticator {
  return async (token) => {
    // A header value cannot carry these; refusing them here keeps them out of the request line.
    if (!/^[\x21-\x7e]+$/.test(token)) return undefined;
    const kube = clientFor(token);
    const identity = await reviewSelf(kube);
    return identity === undefined ? undefined : { identity, kube };
  };
}

/** `capstan dashboard` mode: the per-run access token; the identity is the kubeconfig's. */
export function accessTokenAuthenticator(accessToken: string, session: Authenticated): Authenticator {
  const expected = digest(accessToken);
  return async (credential) => (timingSafeEqual(digest(credential), expected) ? session : undefined);
}

/** Fixed-length digests, so the comparison takes the same time whatever the lengths. */
function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
