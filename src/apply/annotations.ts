/**
 * The annotations Capstan reads on desired objects and writes on applied ones. One place, so the
 * CLI's help, the README and the code agree.
 */
/** On every applied object, so drift watches can select Capstan's objects alone. */
export const MANAGED_LABEL = { key: 'capstan.dev/managed', value: 'true' } as const;

export const ANNOTATION = {
  /** Written on every applied object: `<namespace>/<name>` of the app that owns it. */
  app: 'capstan.dev/app',
  /** `disabled` on a desired or live object: never prune it. */
  prune: 'capstan.dev/prune',
  /** `recreate` on a desired object: when a change hits an immutable field, delete and re-create it. */
  force: 'capstan.dev/force',
  /** An integer: objects of a lower wave are applied (and healthy) before higher waves start. */
  wave: 'capstan.dev/wave',
  /**
   * `"true"` on a desired object: take over the live object of that name although no app manages it
   * (created by hand or by another tool, or released by an app that left it). Without it such an
   * object is refused, never silently taken.
   */
  adopt: 'capstan.dev/adopt',
  /** Written: the commit that last created or changed the object. */
  revision: 'capstan.dev/revision',
} as const;

export interface AppIdentity {
  /** The namespace that holds the app's inventory (and, later, its Application object). */
  readonly namespace: string;
  readonly name: string;
}

export function appKey(app: AppIdentity): string {
  return `${app.namespace}/${app.name}`;
}
