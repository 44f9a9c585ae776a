/**
 * What a reviewer must not miss in an app's preview: deletions that take much with them (a
 * Namespace, a CustomResourceDefinition), re-creates, objects another app (or nobody) holds, fields
 * taken from another field manager, failures, prune not running, objects left out of the list.
 */
import { formatRef } from '../core/objects.js';
import type { PreviewObject, SyncPreview } from '../engine/preview.js';
import { EMPTY_COUNTS, type PlanCounts, type PlanWarning } from './types.js';

/** The field managers that are Capstan itself: taking fields back from them is no news. */
const OWN_MANAGERS = new Set(['capstan']);

export function countsOf(objects: readonly PreviewObject[]): PlanCounts {
  const counts = { ...EMPTY_COUNTS };
  for (const object of objects) {
    if (object.action === 'skipped') continue;
    counts[object.action]++;
  }
  return counts;
}

export function warningsOf(
  preview: Pick<SyncPreview, 'objects' | 'omitted' | 'pruneSkipped'>,
): PlanWarning[] {
  const warnings = preview.objects.flatMap(objectWarnings);
  if (preview.pruneSkipped)
    warnings.push({ kind: 'pruneSkipped', message: `prune would not run: ${preview.pruneSkipped}` });
  if (preview.omitted > 0)
    warnings.push({
      kind: 'objectsOmitted',
      message: `${preview.omitted} more changing object(s) are not listed`,
    });
  return warnings;
}

function objectWarnings(object: PreviewObject): PlanWarning[] {
  const ref = object.ref;
  const name = formatRef(ref);
  const warnings: PlanWarning[] = [];
  if (object.action === 'prune' && ref.group === '' && ref.kind === 'Namespace')
    warnings.push({
      kind: 'prunesNamespace',
      message: `deletes ${name} and everything in it`,
      object: ref,
    });
  if (
    object.action === 'prune' &&
    ref.group === 'apiextensions.k8s.io' &&
    ref.kind === 'CustomResourceDefinition'
  )
    warnings.push({
      kind: 'prunesDefinition',
      message: `deletes ${name} and every object of its kind`,
      object: ref,
    });
  if (object.action === 'recreate')
    warnings.push({
      kind: 'recreate',
      message: `deletes and re-creates ${name}${object.reason ? ` (${object.reason})` : ''}`,
      object: ref,
    });
  if (object.heldBy !== undefined)
    warnings.push({
      kind: 'heldByOther',
      message: object.heldBy
        ? `${name} belongs to app ${object.heldBy}`
        : object.action === 'failed'
          ? `${name} exists and no app manages it`
          : `adopts ${name}, which no app managed`,
      object: ref,
    });
  // A refused take-over is said above; any other failure here.
  if (object.action === 'failed' && object.heldBy === undefined)
    warnings.push({
      kind: 'failed',
      message: `${name} would fail: ${object.reason ?? 'unknown reason'}`,
      object: ref,
    });
  const taken = takenFrom(object);
  if (taken.length > 0)
    warnings.push({
      kind: 'takesFields',
      message: `takes fields of ${name} from ${taken.join(', ')}`,
      object: ref,
    });
  return warnings;
}

/** Other field managers owning a field this change sets or removes. */
function takenFrom(object: PreviewObject): string[] {
  const managers = new Set<string>();
  for (const change of object.changes)
    for (const manager of change.managers) if (!OWN_MANAGERS.has(manager)) managers.add(manager);
  return [...managers].sort();
}
