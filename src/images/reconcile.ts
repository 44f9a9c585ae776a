/**
 * One reconcile of an ImagePolicy, as named steps: check the spec, reach the registry, scan (list
 * the tags, choose, resolve the digest), write the choice into Git for each Repository branch of
 * the Applications it names, and record what happened in status and Events.
 *
 * The cluster is never changed here: a commit (or a pull request) is the only output, and the
 * Applications' ordinary sync rolls it out. A failed scan writes nothing to Git; a write refused by
 * the Git server is said in status and retried at the next interval, nothing lost.
 */
import {
  imagePolicySpecSchema,
  type ImagePolicy,
  type ImagePolicySpec,
  type ImagePolicyStatus,
  type ImageUpdateStatus,
} from '../api/image-policy.js';
import type { Repository } from '../api/v1alpha1.js';
import { isCapstanError, messageOf } from '../core/errors.js';
import { parseDuration, pollInterval } from '../core/time.js';
import type { ForgeTarget } from '../forge/index.js';
import type { KubeClient } from '../kube/index.js';
import { outcomeConditions } from '../controller/conditions.js';
import type { EventRecorder } from '../controller/events.js';
import { patchStatus } from '../controller/status.js';
import type { Repository as GitRepository } from '../source/index.js';
import { redactText } from '../source/redact.js';
import type { ImageCommitRequest, ImageCommitResult } from './git.js';
import { imageCommitMessage, imagePullRequestText, imageUpdateBranch } from './message.js';
import type { RegistryAccess } from './registry-access.js';
import { scanImage, tagFilterOf, tagPolicyOf, type ScanResult } from './scan.js';
import { updateImagesInYamlAsync, type ImageChoice } from './setters.js';
import { writeTargets, type TargetLookup, type WriteTarget } from './targets.js';
import { formatImageName, parseImageName } from '../registry/index.js';

export interface ImagePolicyDeps {
  readonly kube: KubeClient;
  readonly policies: { get(name: string, namespace: string): ImagePolicy | undefined };
  readonly lookup: TargetLookup;
  readonly registry: (policy: ImagePolicy) => Promise<RegistryAccess>;
  /** A Repository as Git gets it: URL, credentials (scope-checked), timeout. */
  readonly gitSource: (repository: Repository) => Promise<GitRepository>;
  /** The Repository's forge, for pull requests (a UserError says what is missing). */
  readonly forgeOf: (repository: Repository) => Promise<ForgeTarget>;
  readonly commit: (request: ImageCommitRequest) => Promise<ImageCommitResult>;
  /** The commit the branch was last seen at by the source stage, if known. */
  readonly headOf: (repository: Repository, branch: string) => string | undefined;
  /** A commit landed on the Repository's branch: look at it now rather than at the next poll. */
  readonly onPushed: (repository: Repository) => void;
  readonly recordEvent: EventRecorder;
  readonly now: () => Date;
  /** What each policy last brought each branch to, so an unchanged branch and tag is not fetched again. */
  readonly memory: Map<string, string>;
}

/** The longest a scan may take whatever spec.timeout says: past the reconcile's own deadline anyway. */
const MAX_SCAN_MS = 60 * 60_000;

export interface ImagePolicyOutcome {
  readonly requeueAfterMs?: number;
}

type Outcome = Parameters<typeof outcomeConditions>[1];

export async function reconcileImagePolicy(
  deps: ImagePolicyDeps,
  namespace: string,
  name: string,
  signal?: AbortSignal,
): Promise<ImagePolicyOutcome> {
  const cached = deps.policies.get(name, namespace);
  // A copy: writing the status updates the object it was computed from, never the informer's.
  const policy = cached && structuredClone(cached);
  if (!policy || policy.metadata.deletionTimestamp) return {};
  const checked = checkSpec(policy);
  if ('problem' in checked) {
    await writeStatus(
      deps,
      policy,
      {},
      { state: 'stalled', reason: 'InvalidSpec', message: checked.problem },
    );
    return {};
  }
  const { spec } = checked;
  if (spec.suspend) {
    await writeStatus(
      deps,
      policy,
      {},
      { state: 'failed', reason: 'Suspended', message: 'spec.suspend is true' },
    );
    return {};
  }
  const every = { requeueAfterMs: pollInterval(spec.interval) };
  const scanned = await scan(deps, policy, spec, signal);
  if ('failure' in scanned) {
    await writeStatus(deps, policy, { lastError: scanned.failure.message }, scanned.failure);
    // A user error waits for a change (or the interval); anything else is retried with backoff.
    if (scanned.retry) throw new ScanFailedError(scanned.failure.message);
    return every;
  }
  await recordChoice(deps, policy, spec, scanned.result);
  return every;
}

/** The scan's choice: said in status and an Event, and written into Git when the spec says where. */
async function recordChoice(
  deps: ImagePolicyDeps,
  policy: ImagePolicy,
  spec: ImagePolicySpec,
  result: ScanResult,
): Promise<void> {
  const latest = latestOf(policy, result, deps.now());
  if (!latest) {
    const message = `none of the ${result.tags} tags of ${spec.image} is allowed by the policy`;
    const outcome: Outcome = { state: 'failed', reason: 'NoMatchingTag', message };
    await writeStatus(deps, policy, { lastScan: scanFacts(result) }, outcome);
    return;
  }
  if (latest.tag !== policy.status?.latest?.tag || latest.digest !== policy.status?.latest?.digest) {
    const message = `${spec.image}:${latest.tag} (${latest.digest ?? 'no digest'}) is the newest allowed tag`;
    await deps.recordEvent(policy, 'Normal', 'NewTag', message);
  }
  const updates = spec.update ? await writeToGit(deps, policy, spec, latest) : { entries: [], problems: [] };
  const fields = {
    lastScan: scanFacts(result),
    latest,
    ...(spec.update ? { updates: updates.entries } : {}),
    ...(updates.problems.length > 0 ? { lastError: updates.problems.join('; ') } : {}),
  };
  await writeStatus(deps, policy, fields, judge(spec, latest.tag, updates));
}

/** A scan that failed for a reason other than the user's: the queue retries it with backoff. */
export class ScanFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScanFailedError';
  }
}

function checkSpec(policy: ImagePolicy): { spec: ImagePolicySpec } | { problem: string } {
  const parsed = imagePolicySpecSchema.safeParse(policy.spec);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      problem: `spec${issue?.path.length ? `.${issue.path.join('.')}` : ''}: ${issue?.message ?? 'invalid'}`,
    };
  }
  try {
    tagPolicyOf(parsed.data);
    tagFilterOf(parsed.data);
  } catch (error) {
    return { problem: messageOf(error) };
  }
  return { spec: parsed.data };
}

async function scan(
  deps: ImagePolicyDeps,
  policy: ImagePolicy,
  spec: ImagePolicySpec,
  signal: AbortSignal | undefined,
): Promise<{ result: ScanResult } | { failure: Outcome & { message: string }; retry: boolean }> {
  try {
    const registry = await deps.registry(policy);
    // spec.timeout bounds the whole scan, every page of the tag list together: the client's own
    // bound is per request, and a registry answering page after page just in time would otherwise
    // hold this namespace's worker until the reconcile's deadline.
    // Bounded: AbortSignal.timeout fires at once past 2^31 ms (a timeout of `1000h`).
    const deadline = AbortSignal.timeout(Math.min(parseDuration(spec.timeout), MAX_SCAN_MS));
    return {
      result: await scanImage(registry, spec, signal ? AbortSignal.any([signal, deadline]) : deadline),
    };
  } catch (error) {
    const user = isCapstanError(error) && error.kind === 'user';
    const message = redactText(`cannot list the tags of ${spec.image}: ${messageOf(error)}`);
    return {
      failure: {
        state: user ? 'stalled' : 'failed',
        reason: user ? 'RegistryRefused' : 'ScanFailed',
        message,
      },
      retry: !user,
    };
  }
}

/** What the scan found; no time of its own, so that a scan finding the same writes no status. */
function scanFacts(result: ScanResult): NonNullable<ImagePolicyStatus['lastScan']> {
  return { tags: result.tags, considered: result.considered };
}

/** The chosen tag as status shows it; `since` kept while the choice stays the same. */
function latestOf(policy: ImagePolicy, result: ScanResult, now: Date): ImagePolicyStatus['latest'] {
  if (!result.chosen) return undefined;
  const previous = policy.status?.latest;
  const same = previous?.tag === result.chosen.tag && previous?.digest === result.chosen.digest;
  return {
    tag: result.chosen.tag,
    digest: result.chosen.digest,
    since: same && previous ? previous.since : now.toISOString(),
  };
}

interface Written {
  readonly entries: ImageUpdateStatus[];
  readonly problems: string[];
}

/** Each Repository branch of the named Applications brought to the chosen tag, one after another. */
async function writeToGit(
  deps: ImagePolicyDeps,
  policy: ImagePolicy,
  spec: ImagePolicySpec,
  latest: NonNullable<ImagePolicyStatus['latest']>,
): Promise<Written> {
  const { targets, problems } = writeTargets(spec.update!, policy.metadata.namespace, deps.lookup);
  const choice: ImageChoice = {
    policy: { namespace: policy.metadata.namespace, name: policy.metadata.name },
    image: formatImageName(parseImageName(spec.image)),
    tag: latest.tag,
    ...(spec.digest && latest.digest ? { digest: latest.digest } : {}),
  };
  const entries: ImageUpdateStatus[] = [];
  for (const target of targets) {
    entries.push(await writeTarget(deps, policy, spec, target, choice));
  }
  for (const entry of entries) {
    if ((entry.outcome === 'refused' || entry.outcome === 'failed') && entry.message)
      problems.push(entry.message);
  }
  return { entries, problems };
}

async function writeTarget(
  deps: ImagePolicyDeps,
  policy: ImagePolicy,
  spec: ImagePolicySpec,
  target: WriteTarget,
  choice: ImageChoice,
): Promise<ImageUpdateStatus> {
  const mode = spec.update!.mode;
  const at = deps.now().toISOString();
  const base = { repository: target.repository.metadata.name, branch: target.branch, tag: choice.tag, at };
  const memoryKey = keyOf(policy.metadata.namespace, policy.metadata.name, target);
  const head = deps.headOf(target.repository, target.branch);
  const wanted = `${mode} ${choice.tag} ${choice.digest ?? ''} ${head ?? '?'} ${JSON.stringify(target.paths)}`;
  const previous = policy.status?.updates?.find(
    (u) => u.repository === base.repository && u.branch === base.branch,
  );
  if (head !== undefined && deps.memory.get(memoryKey) === wanted && previous) return previous;
  try {
    const notes: string[] = [];
    const result = await deps.commit(await commitRequest(deps, spec, target, choice, notes));
    if (result.outcome !== 'refused') {
      for (const skipped of result.skipped ?? []) notes.push(`${skipped.file} left alone: ${skipped.reason}`);
    }
    const entry = withNotes(statusEntry(base, result), notes);
    if (result.outcome === 'pushed') {
      deps.onPushed(target.repository);
      await deps.recordEvent(policy, 'Normal', 'Committed', `${entry.message}`);
    } else if (result.outcome === 'pullRequest') {
      await deps.recordEvent(policy, 'Normal', 'PullRequest', `${entry.message}`);
    } else if (result.outcome === 'refused') {
      await deps.recordEvent(policy, 'Warning', 'WriteRefused', result.message);
    }
    if (result.outcome !== 'refused') deps.memory.set(memoryKey, wanted);
    return entry;
  } catch (error) {
    const message = redactText(
      `cannot write ${choice.tag} to branch ${target.branch} of Repository ${target.repository.metadata.name}: ${messageOf(error)}`,
    );
    await deps.recordEvent(policy, 'Warning', 'WriteFailed', message);
    return { ...base, outcome: 'failed', message };
  }
}

/** The commit to ask for; `notes` collects what the setters could not do (a Helm values path missing). */
async function commitRequest(
  deps: ImagePolicyDeps,
  spec: ImagePolicySpec,
  target: WriteTarget,
  choice: ImageChoice,
  notes: string[],
): Promise<ImageCommitRequest> {
  const update = spec.update!;
  const pullRequest =
    update.mode === 'pullRequest'
      ? {
          pullRequestBranch: imageUpdateBranch(choice.policy),
          forge: await deps.forgeOf(target.repository),
          pullRequestText: (files: Parameters<typeof imagePullRequestText>[1]) =>
            imagePullRequestText([choice], files),
        }
      : {};
  return {
    repository: await deps.gitSource(target.repository),
    branch: target.branch,
    paths: target.paths,
    edit: async (file, text) => {
      const helmValues = target.helmValues.filter((values) => values.file === file);
      const result = await updateImagesInYamlAsync({ file, text, choices: [choice], helmValues });
      for (const missing of result.missing ?? []) notes.push(`${file}: ${missing}`);
      return result.changes.length > 0 ? { text: result.text, changes: result.changes } : undefined;
    },
    message: (files) => imageCommitMessage([choice], files),
    mode: update.mode,
    ...pullRequest,
    ...(update.author ? { author: update.author } : {}),
  };
}

/** At most a few notes, bounded, after the outcome's own message. */
function withNotes(entry: ImageUpdateStatus, notes: readonly string[]): ImageUpdateStatus {
  if (notes.length === 0) return entry;
  const shown = notes.slice(0, 5).join('; ') + (notes.length > 5 ? `; and ${notes.length - 5} more` : '');
  return { ...entry, message: `${entry.message ?? ''} (${shown})`.slice(0, 2048) };
}

function statusEntry(
  base: Pick<ImageUpdateStatus, 'repository' | 'branch' | 'tag' | 'at'>,
  result: ImageCommitResult,
): ImageUpdateStatus {
  switch (result.outcome) {
    case 'upToDate':
      return {
        ...base,
        outcome: 'upToDate',
        commit: result.head,
        message: `branch ${base.branch} already holds ${base.tag}`,
      };
    case 'pushed':
      return {
        ...base,
        outcome: 'pushed',
        commit: result.commit,
        message: `committed ${base.tag} to branch ${base.branch} (${result.commit.slice(0, 12)}, ${result.files.length} file${result.files.length === 1 ? '' : 's'})`,
      };
    case 'pullRequest':
      return {
        ...base,
        outcome: 'pullRequest',
        commit: result.commit,
        pullRequest: { number: result.number, url: result.url },
        message: `pull request #${result.number} proposes ${base.tag} for branch ${base.branch}`,
      };
    case 'refused':
      return { ...base, outcome: 'refused', message: result.message };
  }
}

function judge(spec: ImagePolicySpec, tag: string, written: Written): Outcome {
  if (written.problems.length > 0) {
    return { state: 'failed', reason: 'WriteFailed', message: written.problems.join('; ') };
  }
  if (!spec.update) {
    return { state: 'ready', reason: 'Scanned', message: `the newest allowed tag is ${tag}` };
  }
  const pending = written.entries.filter((e) => e.outcome === 'pullRequest');
  const message =
    pending.length > 0
      ? `${tag} is proposed in ${pending.map((e) => `pull request #${e.pullRequest?.number}`).join(', ')}`
      : `${tag} is in Git on ${written.entries.map((e) => `${e.repository}@${e.branch}`).join(', ') || 'no branch'}`;
  return { state: 'ready', reason: pending.length > 0 ? 'PullRequestOpen' : 'UpToDate', message };
}

async function writeStatus(
  deps: ImagePolicyDeps,
  policy: ImagePolicy,
  fields: Omit<ImagePolicyStatus, 'conditions' | 'observedGeneration'>,
  outcome: Outcome,
): Promise<void> {
  const now = deps.now();
  const previous = policy.status ?? {};
  const status: ImagePolicyStatus = {
    // What a failed scan does not know is kept from before: the last choice stays visible.
    ...(previous.latest ? { latest: previous.latest } : {}),
    ...(previous.updates ? { updates: previous.updates } : {}),
    ...(previous.lastScan ? { lastScan: previous.lastScan } : {}),
    ...fields,
    observedGeneration: policy.metadata.generation,
    conditions: outcomeConditions(previous.conditions, outcome, policy.metadata.generation, now),
  };
  await patchStatus(deps.kube, policy, status);
}

function keyOf(namespace: string, name: string, target: WriteTarget): string {
  return `${namespace}/${name}\n${target.repository.metadata.name}\n${target.branch}`;
}
