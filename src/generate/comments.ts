/**
 * Preview comments: for each pull request a pullRequests generator made an Application for, one
 * comment (per generator) about that environment, kept up to date from the Application's own
 * events — readiness, health, revision, deletion — and edited in place (`upsertComment`).
 *
 * Event-driven: the component's informers call `applicationChanged` and `generatorChanged`; a key
 * per pull request (`namespace/generator#number`) goes on a queue of its own, so a slow or
 * rate-limited forge never holds up the generator's reconcile. The text is a pure function of the
 * Application (preview-comment.ts) and is written only when it differs from the last one written
 * for that pull request (remembered in memory, bounded: after a restart each comment is written
 * once more). A forge error is logged (src/forge redacts tokens out of its messages, and the log
 * gets the message redacted once more) and retried: after the wait a rate limit names, else with
 * the queue's backoff, a few times, then at the next change.
 *
 * Each tenant's forge is its own: the queue is fair across namespaces (src/controller/tenant-queue.ts, one write of
 * a namespace at a time, below the controller's limit), and a write has a deadline
 * (WRITE_TIMEOUT_MS) its forge calls are aborted at, so a host that never answers holds one worker
 * of its own namespace for that long at most.
 */
import { applicationGeneratorSpecSchema, type ApplicationGenerator } from '../api/generator.js';
import type { Application, Repository } from '../api/v1alpha1.js';
import { isCapstanError, messageOf } from '../core/errors.js';
import { systemClock, type BackoffPolicy, type Clock } from '../core/time.js';
import { ForgeError, type ForgeTarget } from '../forge/index.js';
import { redactText } from '../source/index.js';
import type { Result } from '../controller/queue.js';
import {
  environmentOf,
  generatorOf,
  previewCommentBody,
  previewMarker,
  pullRequestOf,
  type PreviewEnvironment,
} from './preview-comment.js';
import { TenantQueues } from '../controller/tenant-queue.js';

export interface PreviewCommentsLog {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface PreviewCommentsDeps {
  readonly generators: { get(name: string, namespace: string): ApplicationGenerator | undefined };
  /** Every Application carrying a generator label (the component's informer). */
  readonly applications: { list(): readonly Application[] };
  readonly repositories: { get(name: string, namespace: string): Repository | undefined };
  /** The Repository's forge client and its name there, with the token of its Secret (read afresh). */
  forgeOf(repository: Repository): Promise<ForgeTarget>;
  readonly log: PreviewCommentsLog;
  /** Comments written at once, all namespaces together. Default 4. */
  readonly concurrency?: number;
  /** Comments of one namespace written at once; kept below `concurrency`. Default 1. */
  readonly namespaceConcurrency?: number;
  /** The deadline of one write (all its forge calls). Default WRITE_TIMEOUT_MS. */
  readonly writeTimeoutMs?: number;
  readonly clock?: Clock;
  /** Overrides parts of the queue's retry backoff. */
  readonly backoff?: Partial<BackoffPolicy>;
}

/** What a generator's comments need from it, kept after it is gone (its Applications go after it). */
interface Settings {
  readonly uid: string | undefined;
  readonly source: string;
  readonly comment: boolean;
}

/** Per pull request: the last body written, and the last environment seen (for "removed"). */
interface Memory {
  readonly body?: string;
  /** A body the forge refused for good (a token without the scope, say): not tried again as is. */
  readonly refused?: string;
  readonly seen?: Omit<PreviewEnvironment, 'state' | 'url'>;
}

/** Pull requests remembered; the oldest are forgotten past this (their comment is written again). */
export const MAX_REMEMBERED = 10_000;
/** Generators whose settings are remembered after they are deleted. */
const MAX_GENERATORS = 1_000;
/** Failed writes of one text retried with backoff; after that, the next change tries again. */
export const MAX_ATTEMPTS = 6;
/** A rate limit's wait, bounded. */
const MIN_RETRY_MS = 1_000;
const MAX_RETRY_MS = 15 * 60_000;
/** One comment's write (its user, its pages, the edit) ends by then, or is aborted and retried. */
export const WRITE_TIMEOUT_MS = 2 * 60_000;

export class PreviewComments {
  private readonly queue: TenantQueues;
  private readonly memory = new Map<string, Memory>();
  private readonly settings = new Map<string, Settings>();
  private started = false;

  constructor(private readonly deps: PreviewCommentsDeps) {
    this.queue = new TenantQueues({
      concurrency: deps.concurrency ?? 4,
      namespaceConcurrency: deps.namespaceConcurrency ?? 1,
      namespaceOf: (key) => key.slice(0, key.indexOf('/')),
      handler: (key, signal) => this.handle(key, signal),
      ...(deps.clock ? { clock: deps.clock } : {}),
      ...(deps.backoff ? { backoff: deps.backoff } : {}),
    });
  }

  /** Both informers have listed: every pull request's comment is brought up to date once. */
  start(): void {
    this.started = true;
    for (const app of this.deps.applications.list()) this.applicationChanged(app);
  }

  /** An Application carrying a generator label was added, changed or deleted (its last state). */
  applicationChanged(app: Application): void {
    const number = pullRequestOf(app);
    const generator = generatorOf(app);
    if (number === undefined || generator === undefined) return;
    const key = keyOf(app.metadata.namespace, generator, number);
    const { state: _state, url: _url, ...seen } = environmentOf(app);
    this.remember(key, { ...this.memory.get(key), seen });
    if (this.started) this.queue.add(key);
  }

  /**
   * A generator was added or its spec changed (`previous`: what it was). Turning comments on
   * reaches every pull request it has an Application for; a template change reaches them through
   * the Applications' own updates.
   */
  generatorChanged(generator: ApplicationGenerator, previous?: ApplicationGenerator): void {
    const { namespace, name } = generator.metadata;
    const settings = settingsOf(generator);
    const before = previous && settingsOf(previous);
    this.keepSettings(namespace, name, settings);
    if (!this.started || !settings?.comment || (before?.comment === true && before.uid === settings.uid))
      return;
    for (const app of this.deps.applications.list())
      if (app.metadata.namespace === namespace && generatorOf(app) === name) this.applicationChanged(app);
  }

  /**
   * Stops writing: waiting comments are dropped, a write in flight is aborted (a host that does not
   * answer is not waited for; after a restart each comment is written once more anyway).
   */
  close(): Promise<void> {
    return this.queue.shutdown({ drain: false });
  }

  private async handle(key: string, stop: AbortSignal): Promise<Result> {
    const { namespace, generator, number } = parseKey(key);
    const settings = this.currentSettings(namespace, generator);
    if (!settings?.comment) return;
    const memory = this.memory.get(key) ?? {};
    const body = this.bodyOf(namespace, generator, number, settings, memory);
    if (memory.body === body || memory.refused === body) return;
    const repository = this.deps.repositories.get(settings.source, namespace);
    const fields = { generator: `${namespace}/${generator}`, pullRequest: number };
    if (!repository) {
      this.deps.log.debug(fields, 'no Repository to comment through: the preview comment is not written');
      return;
    }
    const clock = this.deps.clock ?? systemClock;
    const expired = new AbortController();
    const timer = clock.setTimeout(() => expired.abort(), this.deps.writeTimeoutMs ?? WRITE_TIMEOUT_MS);
    const signal = AbortSignal.any([stop, expired.signal]);
    try {
      const { forge, repo } = await this.deps.forgeOf(repository);
      signal.throwIfAborted();
      await forge.upsertComment(
        repo,
        number,
        { marker: previewMarker(namespace, generator), body },
        { signal },
      );
    } catch (error) {
      // Stopping: not an error, and not to be retried by this queue.
      if (stop.aborted) return;
      return this.failed(key, body, fields, error);
    } finally {
      clock.clearTimeout(timer);
    }
    this.remember(key, { ...this.memory.get(key), body });
    this.deps.log.debug(fields, 'preview comment written');
  }

  /** The text for the pull request now: its live Application's state, or "removed" when it has none. */
  private bodyOf(
    namespace: string,
    generator: string,
    number: number,
    settings: Settings,
    memory: Memory,
  ): string {
    const apps = this.deps.applications
      .list()
      .filter(
        (app) =>
          app.metadata.namespace === namespace &&
          generatorOf(app) === generator &&
          pullRequestOf(app) === number &&
          (settings.uid === undefined || isControlledBy(app, settings.uid)),
      )
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    // A renamed template makes the new one before the old one goes: the live one speaks.
    const shown = apps.find((app) => !app.metadata.deletionTimestamp) ?? apps[0];
    return shown
      ? previewCommentBody(namespace, generator, environmentOf(shown))
      : previewCommentBody(namespace, generator, undefined, memory.seen);
  }

  private failed(key: string, body: string, fields: Record<string, unknown>, error: unknown): Result {
    const logged = { ...fields, err: redactText(messageOf(error)) };
    const waitMs = error instanceof ForgeError ? error.retryAfterMs : undefined;
    if (waitMs !== undefined) {
      const requeueAfterMs = Math.min(MAX_RETRY_MS, Math.max(MIN_RETRY_MS, waitMs));
      this.deps.log.info(
        { ...logged, waitMs: requeueAfterMs },
        'forge rate limit: the preview comment is written later',
      );
      return { requeueAfterMs };
    }
    const hopeless = isCapstanError(error) && (error.kind === 'user' || error.kind === 'notFound');
    if (hopeless || this.queue.failures(key) + 1 >= MAX_ATTEMPTS) {
      this.remember(key, { ...this.memory.get(key), refused: body });
      this.deps.log.warn(logged, 'writing the preview comment failed; tried again when its text changes');
      return;
    }
    this.deps.log.warn(logged, 'writing the preview comment failed; retrying');
    throw error;
  }

  private currentSettings(namespace: string, name: string): Settings | undefined {
    const generator = this.deps.generators.get(name, namespace);
    if (!generator) return this.settings.get(`${namespace}/${name}`);
    const settings = settingsOf(generator);
    this.keepSettings(namespace, name, settings);
    return settings;
  }

  private keepSettings(namespace: string, name: string, settings: Settings | undefined): void {
    const key = `${namespace}/${name}`;
    this.settings.delete(key);
    if (!settings) return;
    this.settings.set(key, settings);
    if (this.settings.size > MAX_GENERATORS) this.settings.delete(this.settings.keys().next().value!);
  }

  private remember(key: string, memory: Memory): void {
    this.memory.delete(key);
    this.memory.set(key, memory);
    if (this.memory.size > MAX_REMEMBERED) this.memory.delete(this.memory.keys().next().value!);
  }
}

/** A pullRequests generator's settings; undefined for an invalid spec or another generator. */
function settingsOf(generator: ApplicationGenerator): Settings | undefined {
  const parsed = applicationGeneratorSpecSchema.safeParse(generator.spec);
  if (!parsed.success || !parsed.data.pullRequests) return undefined;
  return {
    uid: generator.metadata.uid,
    source: parsed.data.sourceRef.name,
    comment: parsed.data.pullRequests.comment,
  };
}

function isControlledBy(app: Application, uid: string): boolean {
  return (app.metadata.ownerReferences ?? []).some((ref) => ref.controller === true && ref.uid === uid);
}

function keyOf(namespace: string, generator: string, number: number): string {
  return `${namespace}/${generator}#${number}`;
}

function parseKey(key: string): { namespace: string; generator: string; number: number } {
  const slash = key.indexOf('/');
  const hash = key.lastIndexOf('#');
  return {
    namespace: key.slice(0, slash),
    generator: key.slice(slash + 1, hash),
    number: Number(key.slice(hash + 1)),
  };
}
