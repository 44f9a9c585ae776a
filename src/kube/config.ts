/**
 * Turns a kubeconfig (YAML, a file, the default locations, or the in-cluster service account) into
 * what the transport needs: the server URL, TLS options and a source of credentials.
 *
 * client-node's `KubeConfig` does the parsing and authentication (tokens, client certificates,
 * exec plugins, token files, OIDC); we call `applyToHTTPSOptions` once up front for static
 * credentials, and at most once a minute (or after a 401) for credentials that rotate.
 */
import type { RequestOptions } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { EnvironmentError, UserError, messageOf } from '../core/errors.js';
import type { CredentialSource, Credentials, TlsOptions } from './transport.js';

export interface KubeconfigSource {
  /** Kubeconfig YAML. */
  readonly kubeconfig?: string;
  readonly kubeconfigPath?: string;
  /** The pod's service account (`KUBERNETES_SERVICE_HOST`, /var/run/secrets/kubernetes.io/serviceaccount). */
  readonly inCluster?: boolean;
  /** Where the pod's service-account files are found (`<root>/var/run/secrets/…`); default `/`. For tests. */
  readonly inClusterRoot?: string;
  /** A context other than the current one. */
  readonly context?: string;
  /**
   * Whether the kubeconfig may run commands or read this machine's token files to authenticate
   * (`exec` plugins and `auth-provider`s). Default true, for Capstan's own kubeconfig; pass false for
   * kubeconfigs that tenants supply, or a tenant can run code in the controller (CVE-2022-24817).
   */
  readonly allowExecPlugins?: boolean;
  /**
   * Whether the kubeconfig may name local files (certificate-authority, client-certificate,
   * client-key). Default true; pass false for tenant kubeconfigs so they cannot make the controller
   * read its own files.
   */
  readonly allowFileReferences?: boolean;
  /** How long rotating credentials (exec plugins, token files) are reused before asking again. Default 60 s. */
  readonly credentialRefreshMs?: number;
}

export interface Connection {
  readonly server: string;
  readonly tls: TlsOptions;
  readonly credentials: CredentialSource;
  /** The context's namespace, if it names one. */
  readonly namespace: string | undefined;
}

export async function loadConnection(source: KubeconfigSource): Promise<Connection> {
  const config = loadKubeConfig(source);
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new UserError(`kubeconfig has no cluster for context "${config.getCurrentContext()}"`);
  const user = config.getCurrentUser();
  const rotating = !!user && (user.exec !== undefined || user.authProvider !== undefined);

  if (source.allowExecPlugins === false && rotating) {
    throw new UserError(
      `kubeconfig user "${user.name}" authenticates with ${user.exec ? 'an exec plugin' : `the auth provider "${String((user.authProvider as { name?: unknown }).name)}"`}, which is not allowed for this kubeconfig`,
    );
  }
  if (source.allowFileReferences === false) {
    const files = [cluster.caFile, user?.certFile, user?.keyFile].filter((f) => f !== undefined && f !== '');
    if (files.length > 0)
      throw new UserError(
        'kubeconfig refers to local files (certificate or key paths), which is not allowed for this kubeconfig',
      );
  }
  if (cluster.server.startsWith('http:') && !cluster.skipTLSVerify) {
    throw new UserError(
      `kubeconfig cluster "${cluster.name}" uses plain HTTP; that needs insecure-skip-tls-verify: true`,
    );
  }
  if (cluster.proxyUrl)
    throw new EnvironmentError(
      `kubeconfig cluster "${cluster.name}" uses proxy-url, which Capstan does not support`,
    );

  const first = await resolveOptions(config);
  const tls: TlsOptions = {
    ...(first.ca ? { ca: first.ca as Buffer } : {}),
    ...(first.servername ? { servername: first.servername } : {}),
    ...(first.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}),
    // Static client certificates belong to the pool; rotating ones travel with the credentials.
    ...(!rotating && first.cert ? { cert: first.cert as Buffer } : {}),
    ...(!rotating && first.key ? { key: first.key as Buffer } : {}),
  };
  const credentials = rotating
    ? rotatingCredentials(config, toCredentials(first, true), source.credentialRefreshMs ?? 60_000)
    : staticCredentials(toCredentials(first, false));
  const contextNamespace = config.getContextObject(config.getCurrentContext())?.namespace;
  return { server: cluster.server, tls, credentials, namespace: contextNamespace || undefined };
}

function loadKubeConfig(source: KubeconfigSource): KubeConfig {
  const given = [
    source.kubeconfig !== undefined,
    source.kubeconfigPath !== undefined,
    source.inCluster === true,
  ].filter(Boolean);
  if (given.length > 1) throw new UserError('give at most one of kubeconfig, kubeconfigPath and inCluster');
  if (source.inCluster && (!process.env.KUBERNETES_SERVICE_HOST || !process.env.KUBERNETES_SERVICE_PORT)) {
    throw new EnvironmentError('not running in a cluster: KUBERNETES_SERVICE_HOST/PORT are not set');
  }
  const config = new KubeConfig();
  try {
    if (source.kubeconfig !== undefined) config.loadFromString(source.kubeconfig);
    else if (source.kubeconfigPath !== undefined) config.loadFromFile(source.kubeconfigPath);
    else if (source.inCluster) config.loadFromCluster(source.inClusterRoot);
    else config.loadFromDefault();
  } catch (error) {
    // The parser's message may quote the file; it never holds more than the line that failed.
    throw new UserError(`cannot load kubeconfig: ${messageOf(error)}`, { cause: error });
  }
  if (source.context !== undefined) {
    if (!config.getContextObject(source.context))
      throw new UserError(`kubeconfig has no context "${source.context}"`);
    config.setCurrentContext(source.context);
  }
  return config;
}

async function resolveOptions(config: KubeConfig): Promise<RequestOptions> {
  const options: RequestOptions = {};
  try {
    await config.applyToHTTPSOptions(options);
  } catch (error) {
    throw new EnvironmentError(`cannot get credentials from the kubeconfig: ${messageOf(error)}`, {
      cause: error,
    });
  }
  return options;
}

function toCredentials(options: RequestOptions, withIdentity: boolean): Credentials {
  const headers: Record<string, string | readonly string[]> = {};
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (typeof value === 'string' || typeof value === 'number') headers[name.toLowerCase()] = String(value);
    else if (Array.isArray(value)) headers[name.toLowerCase()] = value.map(String);
  }
  if (options.auth) headers.authorization = `Basic ${Buffer.from(options.auth).toString('base64')}`;
  const identity =
    withIdentity && (options.cert || options.key)
      ? {
          ...(options.cert ? { cert: options.cert as Buffer } : {}),
          ...(options.key ? { key: options.key as Buffer } : {}),
        }
      : undefined;
  return identity ? { headers, tls: identity } : { headers };
}

function staticCredentials(credentials: Credentials): CredentialSource {
  return { current: () => credentials, rotates: false };
}

/** Reuses credentials for `refreshMs`; concurrent callers share one refresh. */
function rotatingCredentials(config: KubeConfig, first: Credentials, refreshMs: number): CredentialSource {
  let cached: Credentials | undefined = first;
  let fetchedAt = Date.now();
  let pending: Promise<Credentials> | undefined;
  return {
    rotates: true,
    invalidate: () => {
      cached = undefined;
    },
    current: () => {
      if (cached && Date.now() - fetchedAt < refreshMs) return cached;
      pending ??= resolveOptions(config)
        .then((options) => {
          cached = toCredentials(options, true);
          fetchedAt = Date.now();
          return cached;
        })
        .finally(() => {
          pending = undefined;
        });
      return pending;
    },
  };
}
