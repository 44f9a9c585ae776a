/**
 * Revisions of artifacts, written as Flux writes them: `<version or tag>@sha256:<hex>` (or the bare
 * digest when pinned by one). The digest decides; the label is for people. A Helm repository's
 * Applications name a chart as well as a version, so their ref, as the source stage sees it, is
 * `<chart>@<version or range>` (see `sourceRefOf`).
 */
import { UserError } from '../../core/errors.js';
import { quote } from '../redact.js';

const REVISION = /^(?:([^@\s]{1,128})@)?(sha256:[0-9a-f]{64})$/;
/** Helm's chart names: lowercase letters, digits, `-`, `_` and `.` (the folder of the chart). */
const CHART_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface ArtifactRevision {
  /** The version or tag it was resolved from, when known. */
  readonly label?: string;
  readonly digest: string;
}

export function formatArtifactRevision(label: string | undefined, digest: string): string {
  return label ? `${label}@${digest}` : digest;
}

/** `1.2.3@sha256:…` or `sha256:…`; undefined for anything else (a version, a range, a tag). */
export function parseArtifactRevision(text: string): ArtifactRevision | undefined {
  const match = REVISION.exec(text);
  if (!match) return undefined;
  return { ...(match[1] ? { label: match[1] } : {}), digest: match[2]! };
}

/** Whether a revision string names an artifact (not a Git commit). */
export function isArtifactRevision(text: string): boolean {
  return REVISION.test(text);
}

/**
 * What the source stage resolves for an Application: its ref, and for a Helm repository the chart
 * (its path) in front of it. `main` (the default ref, meaningless here) and `*` ask for the newest
 * stable version.
 */
export function sourceRefOf(type: string | undefined, spec: { ref?: string; path?: string }): string {
  const ref = spec.ref ?? 'main';
  if (type !== 'helm') return ref;
  const chart = (spec.path ?? '').replace(/^\.?\/+|\/+$/g, '');
  return `${chart}@${ref}`;
}

/** Splits a Helm source ref (`chart@range`); UserError naming what is wrong. */
export function parseHelmRef(ref: string): { chart: string; range: string } {
  const at = ref.indexOf('@');
  const chart = at < 0 ? '' : ref.slice(0, at);
  const range = at < 0 ? ref : ref.slice(at + 1);
  if (chart === '')
    throw new UserError(
      'an Application on a Helm repository names its chart in spec.path (e.g. path: podinfo)',
    );
  if (!CHART_NAME.test(chart)) throw new UserError(`chart name ${quote(chart)} is not valid`);
  return { chart, range: range === 'main' || range === '' || range === 'latest' ? '*' : range };
}

/**
 * A revision for people: a commit's first 12 hex digits, an artifact's label with the first 12 of
 * its digest (`1.2.3@sha256:0123456789ab`).
 */
export function shortRevision(id: string): string {
  const artifact = parseArtifactRevision(id);
  if (!artifact) return id.slice(0, 12);
  const digest = artifact.digest.slice(0, 'sha256:'.length + 12);
  return artifact.label ? `${artifact.label}@${digest}` : digest;
}
