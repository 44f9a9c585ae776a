/**
 * The inventory: which objects an app applied, kept in the cluster (a ConfigMap beside the app), so
 * that prune works across processes, restarts and machines. Prune is the previous inventory minus
 * the desired set; nothing else is ever deleted.
 */
import { CapstanError } from '../core/errors.js';
import {
  parseRefKey,
  refKey,
  refOf,
  splitApiVersion,
  type KubeObject,
  type ObjectRef,
} from '../core/objects.js';
import type { KubeClient } from '../kube/index.js';
import type { AppIdentity } from './annotations.js';

export interface InventoryEntry {
  /** `refKey()`: `<namespace>_<name>_<group>_<kind>`. */
  readonly id: string;
  /** The API version it was applied with. */
  readonly v: string;
}

export interface Inventory {
  readonly entries: readonly InventoryEntry[];
  /** The source revision last applied (a commit SHA, or a content hash for local directories). */
  readonly revision?: string;
  /** The render key last applied: unchanged means the desired state is unchanged. */
  readonly renderKey?: string;
  /** The repository paths the last render read: their tree ids make the next render key. */
  readonly renderInputs?: readonly string[];
}

/** The object an inventory belongs to (an Application): Kubernetes deletes the inventory with it. */
export interface InventoryOwner {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
}

export interface InventoryStore {
  read(app: AppIdentity): Promise<Inventory | undefined>;
  write(app: AppIdentity, inventory: Inventory, options?: { owner?: InventoryOwner }): Promise<void>;
}

export function inventoryEntry(object: KubeObject): InventoryEntry {
  return { id: refKey(refOf(object)), v: splitApiVersion(object.apiVersion).version };
}

export function entryRef(entry: InventoryEntry): ObjectRef {
  return parseRefKey(entry.id);
}

const DATA_KEY = 'inventory';

export function inventoryConfigMapName(app: AppIdentity): string {
  return `capstan-inventory-${app.name}`;
}

/** Keeps each app's inventory in a ConfigMap `capstan-inventory-<app>` in the app's namespace. */
export class ConfigMapInventoryStore implements InventoryStore {
  constructor(private readonly kube: KubeClient) {}

  async read(app: AppIdentity): Promise<Inventory | undefined> {
    const configMap = await this.kube.get({
      group: '',
      kind: 'ConfigMap',
      namespace: app.namespace,
      name: inventoryConfigMapName(app),
    });
    const text = (configMap?.data as Record<string, string> | undefined)?.[DATA_KEY];
    if (text === undefined) return undefined;
    try {
      const parsed = JSON.parse(text) as Inventory;
      if (!Array.isArray(parsed.entries)) throw new Error('entries is not a list');
      return parsed;
    } catch (error) {
      // A damaged inventory must stop prune, not turn into "nothing was applied before".
      throw new CapstanError(
        'internal',
        `the inventory ConfigMap ${app.namespace}/${inventoryConfigMapName(app)} is unreadable`,
        {
          cause: error,
        },
      );
    }
  }

  async write(
    app: AppIdentity,
    inventory: Inventory,
    options: { owner?: InventoryOwner } = {},
  ): Promise<void> {
    const entries = [...inventory.entries].sort((a, b) => a.id.localeCompare(b.id));
    const { owner } = options;
    await this.kube.apply(
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: inventoryConfigMapName(app),
          namespace: app.namespace,
          labels: { 'app.kubernetes.io/managed-by': 'capstan', 'capstan.dev/inventory-of': app.name },
          ...(owner ? { ownerReferences: [{ ...owner, blockOwnerDeletion: false }] } : {}),
        },
        data: { [DATA_KEY]: JSON.stringify({ ...inventory, entries }) },
      },
      { force: true },
    );
  }
}
