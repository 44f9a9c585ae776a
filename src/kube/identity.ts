/**
 * Identities to impersonate. A tenant's sync runs as the tenant's service account, so RBAC — not
 * Capstan — decides what a tenant's manifests may touch.
 */
import { UserError } from '../core/errors.js';
import type { Identity } from './types.js';

/**
 * The identity a pod running as `namespace/name` has. Only the user is sent: for a service-account
 * user the API server adds `system:serviceaccounts`, `system:serviceaccounts:<namespace>` and
 * `system:authenticated` itself, so the controller needs `impersonate` on serviceaccounts alone —
 * never on groups, which would let it claim any group (system:masters included).
 */
export function serviceAccountIdentity(namespace: string, name: string): Identity {
  if (!namespace || !name || namespace.includes(':') || name.includes(':')) {
    throw new UserError(`invalid service account ${JSON.stringify(`${namespace}/${name}`)}`);
  }
  return { user: `system:serviceaccount:${namespace}:${name}` };
}
