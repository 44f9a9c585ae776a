/**
 * Deleting an Application: what it applied goes with it, as users of Flux (garbage collection on
 * deletion) and Argo CD (the resources finalizer) expect — when prune is on and it is not suspended.
 *
 * A finalizer holds the Application until its objects are deleted. Deletion must not hang forever
 * on a ServiceAccount that lost its rights or an object that will not go: after a few attempts
 * (with the queue's backoff) the finalizer is removed anyway and an Event names what was left.
 * The inventory ConfigMap needs nothing here: its owner reference to the Application lets
 * Kubernetes' garbage collector remove it.
 */
import {
  applicationSpecSchema,
  FINALIZER,
  GROUP,
  type Application,
  type ApplicationSpec,
} from '../api/v1alpha1.js';
import type { InventoryOwner, ObjectResult } from '../apply/index.js';
import { CapstanError, messageOf } from '../core/errors.js';
import { formatRef } from '../core/objects.js';
import { isConflict, isNotFound, type KubeClient } from '../kube/index.js';
import { redactText } from '../source/index.js';
import type { ApplicationReconcilerDeps, ReconcileOutcome } from './application.js';
import { applyIdentityOf, type ApplyIdentity, type ServiceAccountRef } from './tenancy.js';

/** Attempts at deleting an app's objects before its Application is let go with leftovers. */
export const DELETION_ATTEMPTS = 5;

export function ownerOf(app: Application): InventoryOwner | undefined {
  const { uid } = app.metadata;
  return uid ? { apiVersion: app.apiVersion, kind: app.kind, name: app.metadata.name, uid } : undefined;
}

/** Adds the finalizer when missing; false when the Application changed meanwhile (look again). */
export async function ensureFinalizer(kube: KubeClient, app: Application): Promise<boolean> {
  const finalizers = app.metadata.finalizers ?? [];
  if (finalizers.includes(FINALIZER)) return true;
  return setFinalizers(kube, app, [...finalizers, FINALIZER]);
}

export async function finalizeApplication(
  deps: ApplicationReconcilerDeps,
  app: Application,
  failedAttempts: number,
): Promise<ReconcileOutcome> {
  if (!app.metadata.finalizers?.includes(FINALIZER)) return {};
  const parsed = applicationSpecSchema.safeParse(app.spec);
  const spec = parsed.success ? parsed.data : undefined;
  const identity = spec && applyIdentityOf(app.metadata.namespace, spec.serviceAccountName, deps.tenancy);
  const untouched = whyObjectsAreUntouched(spec, identity);

  if (untouched !== undefined || !spec || !identity?.allowed) {
    await deps.recordEvent(app, 'Normal', 'Orphaned', `objects left in place: ${untouched}`);
  } else {
    // Prune off: the objects stay, but the claim of an Application that no longer exists goes.
    const release = !spec.syncPolicy.prune;
    const summary = await removeObjects(deps, app, identity.serviceAccount, { release, failedAttempts });
    await deps.recordEvent(app, summary.type, summary.reason, summary.message);
  }

  const others = (app.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
  return (await setFinalizers(deps.kube, app, others)) ? {} : { requeueAfterMs: 1000 };
}

/** Deletes (or releases) what the Application applied; throws to be retried until the last attempt. */
async function removeObjects(
  deps: ApplicationReconcilerDeps,
  app: Application,
  serviceAccount: ServiceAccountRef,
  options: { release: boolean; failedAttempts: number },
): Promise<{ type: 'Normal' | 'Warning'; reason: string; message: string }> {
  const { namespace, name } = app.metadata;
  const owner = ownerOf(app);
  const lastAttempt = options.failedAttempts + 1 >= DELETION_ATTEMPTS;
  try {
    const { objects, failed } = await deps
      .engineFor(serviceAccount)
      .uninstall({ namespace, name }, { ...(owner ? { owner } : {}), release: options.release });
    if (failed && !lastAttempt) {
      // The queue retries with backoff; what was done is out of the inventory already.
      const failures = describe(objects.filter((o) => o.action === 'failed'));
      throw new CapstanError('transient', `deleting Application ${namespace}/${name}: ${failures}`);
    }
    if (options.release) {
      const released = objects.filter((o) => o.action === 'skipped' && o.reason?.includes('released'));
      return {
        type: failed ? 'Warning' : 'Normal',
        reason: failed ? 'DeletionIncomplete' : 'Orphaned',
        message: `prune is off: ${released.length} object(s) left in place and released (no app owns them now)`,
      };
    }
    // Skipped: kept on purpose (another app's now, or annotated); failed: what the retries are for.
    const leftovers = objects.filter((o) => o.action === 'failed' || o.action === 'skipped');
    const pruned = objects.filter((o) => o.action === 'pruned').length;
    return {
      type: failed ? 'Warning' : 'Normal',
      reason: failed ? 'DeletionIncomplete' : 'Deleted',
      message:
        `deleted ${pruned} object(s)` +
        (leftovers.length > 0 ? `; left in place: ${describe(leftovers)}` : ''),
    };
  } catch (error) {
    if (!lastAttempt) throw error;
    const message = `gave up deleting its objects: ${redactText(messageOf(error))}`.slice(0, 1024);
    return { type: 'Warning', reason: 'DeletionIncomplete', message };
  }
}

/** Why deleting the Application touches none of its objects, or undefined when it does. */
function whyObjectsAreUntouched(
  spec: ApplicationSpec | undefined,
  identity: ApplyIdentity | undefined,
): string | undefined {
  if (!spec) return 'its spec is invalid';
  if (spec.suspend) return 'it is suspended';
  // Deleting is applying too: never with the controller's own rights.
  if (!identity?.allowed) return 'it names no ServiceAccount to delete them as';
  return undefined;
}

function describe(objects: readonly ObjectResult[]): string {
  const shown = objects.slice(0, 5).map((o) => `${formatRef(o.ref)} (${o.reason ?? o.action})`);
  return (
    shown.join('; ') + (objects.length > shown.length ? `; and ${objects.length - shown.length} more` : '')
  );
}

/**
 * A merge patch of the whole list with a resourceVersion precondition: another writer's finalizer
 * is never lost. Returns false on a conflict (the next event brings the newer version); an
 * Application that is already gone needs nothing more.
 */
async function setFinalizers(kube: KubeClient, app: Application, finalizers: string[]): Promise<boolean> {
  try {
    const updated = await kube.patch(
      { group: GROUP, kind: app.kind, namespace: app.metadata.namespace, name: app.metadata.name },
      { metadata: { resourceVersion: app.metadata.resourceVersion, finalizers } },
      'merge',
    );
    // The status written later in this reconcile is sent with the version it now has.
    app.metadata.finalizers = finalizers;
    if (updated.metadata.resourceVersion) app.metadata.resourceVersion = updated.metadata.resourceVersion;
    return true;
  } catch (error) {
    if (isNotFound(error)) return true;
    if (isConflict(error)) return false;
    throw error;
  }
}
