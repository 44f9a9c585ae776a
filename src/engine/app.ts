/**
 * What the engine syncs: one app = a source (a Git repository at a ref, or a local folder), a path
 * in it, how to render it, and the policy for applying, pruning and waiting.
 */
import type { AppIdentity } from '../apply/annotations.js';
import type { InventoryOwner } from '../apply/inventory.js';
import type { EffectivePolicy } from '../plan/index.js';
import type { RenderOptions } from '../render/index.js';
import type { Repository, Revision } from '../source/index.js';

export type AppSource =
  | {
      readonly type: 'git';
      readonly repository: Repository;
      readonly ref: string;
      readonly path: string;
      /** Already resolved (by the controller's one fetch per repository): the engine uses it as is. */
      readonly revision?: Revision;
    }
  /** A folder on this machine (the CLI's `capstan apply ./dir`): rendered every time, never cached. */
  | { readonly type: 'directory'; readonly dir: string; readonly path: string };

export interface AppSpec {
  readonly identity: AppIdentity;
  /** The object that stands for the app in the cluster (an Application); its inventory goes with it. */
  readonly owner?: InventoryOwner;
  readonly source: AppSource;
  readonly render?: RenderOptions;
  /** Namespace for namespaced objects that name none. */
  readonly destinationNamespace?: string;
  /**
   * Make the destination Namespace part of the app (created, inventoried, pruned with it), unless
   * Git has one of that name or it is the app's own namespace.
   */
  readonly createNamespace?: boolean;
  /** Delete objects this app applied before and no longer renders. */
  readonly prune: boolean;
  /** Let prune delete everything when the render is empty (normally refused). */
  readonly allowEmpty?: boolean;
  /** Recreate objects whose change hits an immutable field. */
  readonly forceRecreate?: boolean;
  /** Field managers whose fields Capstan never overwrites (e.g. an autoscaler). */
  readonly leaveFieldsToManagers?: readonly string[];
  /**
   * Wait for applied objects to become healthy; how long at most. Without `wait`, a wave that is
   * not healthy yet is not waited for either: the sync stops there (`waitingFor`) and the next one,
   * started when the wave's objects change, goes on — no one parks on a rollout (the controller).
   */
  readonly health?: { readonly wait: boolean; readonly timeoutSeconds: number };
  /**
   * The AccessPolicies binding the app's namespace: a render (or a source URL) they refuse fails the
   * sync before anything is applied. Absent: no policy binds it (RBAC still does).
   */
  readonly policy?: EffectivePolicy;
}
