/**
 * Capstan's Kubernetes access layer. Start with `createKubeClient`.
 */
import { discoveryFor } from './discovery.js';
import { HttpKubeClient } from './client.js';
import { loadConnection, type KubeconfigSource } from './config.js';
import { RestMapper } from './mapper.js';
import { createHttpTransport } from './transport.js';

export interface CreateKubeClientOptions extends KubeconfigSource {
  /** Default `capstan`. */
  readonly fieldManager?: string;
  /** Connections for ordinary requests. Default 32. */
  readonly maxSockets?: number;
  /** Connections for watches. Default 256. */
  readonly maxWatchSockets?: number;
  /** Per request. Default 60 s. */
  readonly requestTimeoutMs?: number;
  /** Default 64 MiB. */
  readonly maxResponseBytes?: number;
  /** Default 500. */
  readonly listPageSize?: number;
  readonly userAgent?: string;
}

/**
 * A client for the cluster a kubeconfig names: the YAML (`kubeconfig`), a file (`kubeconfigPath`),
 * the pod's service account (`inCluster`), or the default locations when none is given.
 * Credentials are resolved once (and refreshed when they rotate); discovery is lazy.
 */
export async function createKubeClient(options: CreateKubeClientOptions = {}): Promise<HttpKubeClient> {
  const connection = await loadConnection(options);
  const transport = createHttpTransport({
    server: connection.server,
    tls: connection.tls,
    credentials: connection.credentials,
    ...(options.maxSockets === undefined ? {} : { maxSockets: options.maxSockets }),
    ...(options.maxWatchSockets === undefined ? {} : { maxWatchSockets: options.maxWatchSockets }),
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
    ...(options.maxResponseBytes === undefined ? {} : { maxResponseBytes: options.maxResponseBytes }),
    ...(options.userAgent === undefined ? {} : { userAgent: options.userAgent }),
  });
  const mapper = new RestMapper({ discover: discoveryFor(transport) });
  return new HttpKubeClient({
    transport,
    mapper,
    ...(options.fieldManager === undefined ? {} : { fieldManager: options.fieldManager }),
    ...(options.listPageSize === undefined ? {} : { listPageSize: options.listPageSize }),
    contextNamespace: connection.namespace,
  });
}

export { HttpKubeClient, type HttpKubeClientOptions } from './client.js';
export { loadConnection, type Connection, type KubeconfigSource } from './config.js';
export {
  discover,
  discoveryFor,
  type Discover,
  type DiscoveredGroup,
  type DiscoveredResource,
  type DiscoverySnapshot,
} from './discovery.js';
export {
  errorFromResponse,
  errorFromStatus,
  isConflict,
  isGone,
  isKubeApiError,
  isNotFound,
  KubeApiError,
  KubeTransportError,
  SECRET_CAUSE_IMMUTABLE,
  SECRET_CAUSE_WITHHELD,
  type StatusCause,
  type StatusDetails,
} from './errors.js';
export { serviceAccountIdentity } from './identity.js';
export {
  INFORMER_BACKOFF,
  realTimers,
  startInformer,
  storeKey,
  type Informer,
  type InformerOptions,
  type InformerTimers,
  type ListerWatcher,
} from './informer.js';
export { RestMapper, UnknownKindError, type ResourceMapping, type RestMapperOptions } from './mapper.js';
export {
  createHttpTransport,
  type CredentialSource,
  type Credentials,
  type HttpTransportOptions,
  type TlsOptions,
  type Transport,
} from './transport.js';
export type * from './types.js';
export { openWatch, parseWatchEvents, type WatchEvent, type WatchEventType } from './watch.js';
