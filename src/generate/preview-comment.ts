/**
 * The comment a pull request gets about its preview environment: which Application the
 * pullRequests generator made for it, where it deploys, its state (Progressing, Ready at a commit,
 * Degraded and why, being removed, removed) and the environment's URL when the template gives one.
 *
 * Pure, so that the same state always gives the same text: the comment is written only when the
 * text changes. Every value is hostile (a branch name can reach an annotation, a health message
 * quotes objects): text is escaped with the plan comment's helpers (no link, mention, tag or
 * table break of its own), messages are redacted and cut, and a URL is linked only when http(s).
 */
import { ENVIRONMENT_URL_ANNOTATION, GENERATOR_LABEL, PULL_REQUEST_ANNOTATION } from '../api/generator.js';
import type { Application } from '../api/v1alpha1.js';
import { code, escapeText } from '../review/markdown.js';
import { redactText } from '../source/index.js';

/** The invisible marker of the one comment a generator keeps on a pull request. */
export function previewMarker(namespace: string, generator: string): string {
  return `<!-- capstan:preview ${namespace}/${generator} -->`;
}

/** Characters of a health message shown at most. */
export const MAX_MESSAGE_CHARS = 500;
/** A longer URL is left out. */
export const MAX_URL_CHARS = 2048;

/** What the comment says about an Application, and the Application's own words on it. */
export type PreviewState =
  | { readonly kind: 'progressing' }
  | { readonly kind: 'ready'; readonly sha?: string }
  | { readonly kind: 'degraded'; readonly message: string }
  | { readonly kind: 'removing' };

/** The environment as the comment describes it: taken from the generated Application. */
export interface PreviewEnvironment {
  /** `namespace/name` of the Application. */
  readonly application: string;
  /** Where its namespaced objects go. */
  readonly destination: string;
  /** The Application creates (and deletes) that namespace. */
  readonly createsNamespace: boolean;
  /** The checked URL (see environmentUrl); absent when the template gives none or a bad one. */
  readonly url?: string;
  readonly state: PreviewState;
}

/** The pull request's number an Application of the pullRequests generator carries, if any. */
export function pullRequestOf(app: Application): number | undefined {
  const raw = app.metadata.annotations?.[PULL_REQUEST_ANNOTATION];
  if (raw === undefined || !/^[1-9][0-9]{0,15}$/.test(raw)) return undefined;
  const number = Number(raw);
  return Number.isSafeInteger(number) ? number : undefined;
}

/** The generator that made it (its label). */
export function generatorOf(app: Application): string | undefined {
  return app.metadata.labels?.[GENERATOR_LABEL];
}

/** The Application as the comment shows it. */
export function environmentOf(app: Application): PreviewEnvironment {
  const { namespace, name } = app.metadata;
  const destination = (app.spec as { destination?: { namespace?: unknown; createNamespace?: unknown } })
    .destination;
  const target = typeof destination?.namespace === 'string' ? destination.namespace : namespace;
  const url = environmentUrl(app.metadata.annotations?.[ENVIRONMENT_URL_ANNOTATION]);
  return {
    application: `${namespace}/${name}`,
    destination: target,
    createsNamespace: destination?.createNamespace === true && target !== namespace,
    ...(url === undefined ? {} : { url }),
    state: previewState(app),
  };
}

/**
 * The state from the Application's conditions: Ready (for the spec it has now) at the revision it
 * applied; Degraded when Ready is False and nothing is still rolling out; Progressing otherwise.
 */
export function previewState(app: Application): PreviewState {
  if (app.metadata.deletionTimestamp) return { kind: 'removing' };
  const conditions = app.status?.conditions ?? [];
  const ready = conditions.find((c) => c.type === 'Ready');
  const current =
    ready !== undefined &&
    (ready.observedGeneration === undefined ||
      app.metadata.generation === undefined ||
      ready.observedGeneration === app.metadata.generation);
  if (!ready || !current) return { kind: 'progressing' };
  if (ready.status === 'True') {
    const sha = app.status?.lastAppliedRevision?.sha;
    return sha ? { kind: 'ready', sha } : { kind: 'ready' };
  }
  const reconciling = conditions.find((c) => c.type === 'Reconciling')?.status === 'True';
  if (ready.status !== 'False' || reconciling) return { kind: 'progressing' };
  const health = app.status?.health;
  const healthMessage = health && health.status !== 'Healthy' && health.message ? health.message : undefined;
  return { kind: 'degraded', message: boundedMessage(healthMessage ?? ready.message) };
}

/** Redacted (no credential a URL or an error carried), cut at MAX_MESSAGE_CHARS. */
function boundedMessage(text: string): string {
  const redacted = redactText(text).trim();
  const chars = Array.from(redacted);
  return chars.length <= MAX_MESSAGE_CHARS ? redacted : `${chars.slice(0, MAX_MESSAGE_CHARS - 1).join('')}…`;
}

/**
 * The annotation's value as a URL fit for a link: http(s), no user name or password, at most
 * MAX_URL_CHARS, `@`, `|` and `\` percent-encoded. Anything else is left out.
 */
export function environmentUrl(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (text === '' || text.length > MAX_URL_CHARS) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.username !== '' || url.password !== '') return undefined;
  // The serialisation percent-encodes spaces, quotes and angle brackets; `@` (a mention), `|` (a
  // table cell's end) and `\` (a Markdown escape) are left to us.
  const href = url.href.replace(/[@|\\]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return href.length <= MAX_URL_CHARS ? href : undefined;
}

/** The whole comment for one pull request of one generator; `undefined` environment = removed. */
export function previewCommentBody(
  namespace: string,
  generator: string,
  environment: PreviewEnvironment | undefined,
  /** For a removed one: what it was, when known. */
  removed?: Omit<PreviewEnvironment, 'state' | 'url'>,
): string {
  const lines = [previewMarker(namespace, generator)];
  if (!environment) {
    lines.push('### 🗑️ Preview environment removed', '');
    const what = removed?.application
      ? `The Application ${escapeText(removed.application)} and everything it applied`
      : 'The Application and everything it applied';
    const namespaceToo =
      removed?.createsNamespace && removed.destination
        ? ` (its namespace ${escapeText(removed.destination)} included)`
        : '';
    lines.push(`${what}${namespaceToo} are deleted.`);
  } else {
    lines.push(`### ${headline(environment.state)}`, '');
    if (environment.state.kind === 'degraded' && environment.state.message !== '')
      lines.push(`> ${escapeText(environment.state.message)}`, '');
    lines.push(
      '| | |',
      '| --- | --- |',
      `| Application | ${escapeText(environment.application)} |`,
      `| Namespace | ${escapeText(environment.destination)}${environment.createsNamespace ? ' (created for it)' : ''} |`,
    );
    if (environment.url !== undefined)
      lines.push(`| URL | [${escapeText(environment.url)}](<${environment.url}>) |`);
  }
  lines.push(
    '',
    `_Kept up to date by Capstan's ApplicationGenerator ${escapeText(`${namespace}/${generator}`)}; the environment is removed when the pull request closes._`,
  );
  return `${lines.join('\n')}\n`;
}

function headline(state: PreviewState): string {
  switch (state.kind) {
    case 'ready':
      return `✅ Preview environment Ready${state.sha ? ` at ${code(state.sha.slice(0, 7))}` : ''}`;
    case 'degraded':
      return '❌ Preview environment Degraded';
    case 'removing':
      return '⏳ Preview environment being removed';
    case 'progressing':
      return '⏳ Preview environment Progressing';
  }
}
