/**
 * Whose rights apply an Application's objects. Never the controller's own: the controller may write
 * its API, inventories and Events everywhere, so a tenant's manifests applied with those rights could
 * rewrite another team's Repository (and through it reach that team's credentials and ServiceAccount).
 *
 * An Application is applied as its `spec.serviceAccountName` in its own namespace. One that names
 * none runs as the controller's `--default-service-account`:
 * - `NAME`: that ServiceAccount of the Application's own namespace (shared clusters: each team
 *   grants its own, as with Flux's flag of the same name);
 * - `NAMESPACE/NAME`: one ServiceAccount for every such Application — single-team clusters only
 *   (deploy/single-team/ binds one to cluster-admin);
 * and without that flag it is refused (Stalled, reason `ServiceAccountRequired`).
 */
import { UserError } from '../core/errors.js';

export interface ServiceAccountRef {
  readonly namespace: string;
  readonly name: string;
}

export interface TenancyOptions {
  /** For Applications that name no ServiceAccount; unset: they are refused. */
  readonly defaultServiceAccount?: DefaultServiceAccount;
}

export type DefaultServiceAccount =
  /** This name in each Application's own namespace. */
  | { readonly scope: 'namespace'; readonly name: string }
  /** One ServiceAccount for all (single-team clusters). */
  | { readonly scope: 'cluster'; readonly namespace: string; readonly name: string };

export type ApplyIdentity =
  | { readonly allowed: true; readonly serviceAccount: ServiceAccountRef }
  | { readonly allowed: false; readonly reason: 'ServiceAccountRequired'; readonly message: string };

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** `--default-service-account`: `NAME` or `NAMESPACE/NAME`. */
export function parseDefaultServiceAccount(text: string): DefaultServiceAccount {
  const parts = text.split('/');
  const [first = '', second] = parts;
  if (parts.length === 1 && DNS_SUBDOMAIN.test(first)) return { scope: 'namespace', name: first };
  if (parts.length === 2 && DNS_LABEL.test(first) && second !== undefined && DNS_SUBDOMAIN.test(second))
    return { scope: 'cluster', namespace: first, name: second };
  throw new UserError(
    `--default-service-account must be NAME (in each Application's namespace) or NAMESPACE/NAME, not '${text.slice(0, 100)}'`,
  );
}

/** The ServiceAccount that applies an Application's objects, or why there is none. */
export function applyIdentityOf(
  appNamespace: string,
  serviceAccountName: string | undefined,
  tenancy: TenancyOptions,
): ApplyIdentity {
  if (serviceAccountName)
    return { allowed: true, serviceAccount: { namespace: appNamespace, name: serviceAccountName } };
  const fallback = tenancy.defaultServiceAccount;
  if (fallback?.scope === 'namespace')
    return { allowed: true, serviceAccount: { namespace: appNamespace, name: fallback.name } };
  if (fallback?.scope === 'cluster')
    return { allowed: true, serviceAccount: { namespace: fallback.namespace, name: fallback.name } };
  return {
    allowed: false,
    reason: 'ServiceAccountRequired',
    message:
      'spec.serviceAccountName is required: this controller applies every Application as a ServiceAccount of its namespace ' +
      '(or runs with --default-service-account), never with its own rights',
  };
}
