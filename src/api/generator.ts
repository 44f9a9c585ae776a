/**
 * `ApplicationGenerator` (capstan.dev/v1alpha1, namespaced): Applications made from one template, one
 * per element a generator lists — the branches of a Repository, the folders at a ref, a fixed list,
 * or the open pull requests of its Git host. As in v1alpha1.ts, the zod schema is the single source
 * of the run-time check, the TypeScript types and the CRD's OpenAPI schema.
 *
 * The template's spec is free-form here on purpose: its strings hold `{{placeholders}}` that no
 * field pattern would accept; the spec each element produces is checked with
 * `applicationSpecSchema` after substitution (src/generate/template.ts).
 */
import { z } from 'zod';
import type { KubeObject, ObjectMeta } from '../core/objects.js';
import { DURATION_PATTERN } from '../core/time.js';
import type { API_VERSION } from './names.js';
import { conditionSchema } from './v1alpha1.js';

export const GENERATOR_KIND = 'ApplicationGenerator';

/** On every Application a generator made: the generator's name (the owner reference says which one). */
export const GENERATOR_LABEL = 'capstan.dev/generator';

/** The field manager of the generator's server-side applies: its fields, put back when edited. */
export const GENERATOR_FIELD_MANAGER = 'capstan-generator';

/**
 * Set on an ApplicationGenerator to let one held deletion through: its value must be the approval
 * code the `DeletionHeld` condition shows, which names exactly those Applications (by uid).
 */
export const APPROVE_DELETIONS_ANNOTATION = 'capstan.dev/approve-deletions';

/** On every Application the pullRequests generator made: the number of its pull request. */
export const PULL_REQUEST_ANNOTATION = 'capstan.dev/pull-request';

/**
 * Set by a template (e.g. `http://pr-{{number}}.preview.example.com`): where the environment an
 * Application makes can be reached. The pull request's comment links to it (http(s) only).
 */
export const ENVIRONMENT_URL_ANNOTATION = 'capstan.dev/environment-url';

/**
 * Deletions allowed in one reconcile without approval. Two: closing a pull request or deleting a
 * branch deletes one Application, merging a pair of related ones two; more than that at once is
 * what a glob typo, a force-push that drops branches, or a token that lost its scope (the forge then
 * lists nothing) looks like, and each deletion prunes a whole environment.
 */
export const DEFAULT_MAX_DELETIONS = 2;

/** Elements (and so Applications) one generator may produce. */
export const MAX_ELEMENTS = 500;

/** Entries of status.applications and of a held deletion's list. */
export const MAX_STATUS_APPLICATIONS = 200;
export const MAX_HELD_LISTED = 20;

const localName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a lowercase DNS name');

const globs = (description: string) =>
  z.array(z.string().min(1).max(256)).max(64).describe(`${description} \`*\` matches any run of characters.`);

const branchesSchema = z
  .object({
    include: globs('Branch names to use, e.g. env/*.').default(['*']),
    exclude: globs('Branch names to leave out (wins over include).').default([]),
  })
  .describe('One element per branch of the Repository (ls-remote). Placeholders: branch, branchSlug.');

const directoriesSchema = z
  .object({
    ref: z
      .string()
      .min(1)
      .max(255)
      .default('main')
      .describe('Branch, tag or commit whose folders are listed.'),
    include: globs('Folder paths to use, e.g. apps/*.').min(1),
    exclude: globs('Folder paths to leave out (wins over include).').default([]),
  })
  .describe(
    'One element per folder at ref whose path matches. Placeholders: path, path.basename, path.slug.',
  );

const valueKey = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[A-Za-z0-9_-]+$/, 'must be letters, digits, _ or -');

const listSchema = z
  .object({
    elements: z
      .array(
        z.object({
          name: z
            .string()
            .min(1)
            .max(63)
            .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label'),
          values: z.record(valueKey, z.string().max(1024)).default({}),
        }),
      )
      .min(1)
      .max(MAX_ELEMENTS),
  })
  .describe('One element per entry. Placeholders: name, values.KEY.');

const pullRequestsSchema = z
  .object({
    base: z.string().min(1).max(255).optional().describe('Only pull requests into this branch.'),
    labels: z
      .array(z.string().min(1).max(128))
      .max(16)
      .default([])
      .describe('Only pull requests carrying every one of these labels.'),
    includeForks: z
      .boolean()
      .default(false)
      .describe(
        'Also pull requests whose head is in another repository: their content is chosen by whoever forked it.',
      ),
    comment: z
      .boolean()
      .default(true)
      .describe(
        `Keep one comment on each pull request about its environment: the Application, its destination namespace, its state (Progressing, Ready at a commit, Degraded and why), the URL of the template's ${ENVIRONMENT_URL_ANNOTATION} annotation, and "removed" once it is deleted. Needs a token that may comment (Gitea: write:issue).`,
      ),
  })
  .describe(
    "One element per open pull request, through the Repository's spec.forge and token. Placeholders: number, branch, branchSlug, headRef, headSha, ref (the ref the head can be fetched by on this host).",
  );

const templateMetadataSchema = z.object({
  name: z
    .string()
    .min(1)
    .max(253)
    .describe('The Application name; cut to 63 characters with a hash when longer.'),
  labels: z.record(z.string().min(1).max(317), z.string().max(253)).optional(),
  annotations: z.record(z.string().min(1).max(317), z.string().max(4096)).optional(),
});

export const applicationGeneratorSpecSchema = z.object({
  sourceRef: z.object({ name: localName }).describe('The Repository (same namespace) the generators list.'),
  interval: z
    .string()
    .regex(new RegExp(DURATION_PATTERN), 'must be a duration such as 30s, 5m or 1h')
    .default('3m')
    .describe('How often to list the elements again (pushes and pull-request webhooks wake it at once).'),
  suspend: z.boolean().default(false).describe('Create, change and delete nothing.'),
  branches: branchesSchema.optional(),
  directories: directoriesSchema.optional(),
  list: listSchema.optional(),
  pullRequests: pullRequestsSchema.optional(),
  template: z
    .object({
      metadata: templateMetadataSchema,
      spec: z
        .record(z.string(), z.unknown())
        .describe(
          'An Application spec; its strings may hold {{placeholders}}. sourceRef defaults to the generator’s.',
        ),
    })
    .describe('The Applications made, in the generator’s namespace (the template cannot name another).'),
  deletionGuard: z
    .object({
      maxDeletions: z
        .number()
        .int()
        .min(0)
        .max(10_000)
        .default(DEFAULT_MAX_DELETIONS)
        .describe(
          `Applications one reconcile may delete without approval (default ${DEFAULT_MAX_DELETIONS}); more are held until approved with the annotation ${APPROVE_DELETIONS_ANNOTATION}.`,
        ),
    })
    .default({ maxDeletions: DEFAULT_MAX_DELETIONS }),
});

export type ApplicationGeneratorSpec = z.output<typeof applicationGeneratorSpecSchema>;
export type GeneratorKind = 'branches' | 'directories' | 'list' | 'pullRequests';
export const GENERATOR_KINDS: readonly GeneratorKind[] = ['branches', 'directories', 'list', 'pullRequests'];

export const applicationGeneratorStatusSchema = z.object({
  observedGeneration: z.number().int().optional(),
  conditions: z.array(conditionSchema).optional(),
  /** The Applications made, by name, with the element each came from (at most MAX_STATUS_APPLICATIONS). */
  applications: z.array(z.object({ name: z.string(), element: z.string() })).optional(),
  /** Deletions over the guard's limit, waiting for approval. */
  deletionHeld: z
    .object({
      count: z.number().int(),
      applications: z.array(z.string()),
      approval: z.string().describe(`The value of ${APPROVE_DELETIONS_ANNOTATION} that lets these through.`),
    })
    .optional(),
  lastError: z.string().optional(),
});
export type ApplicationGeneratorStatus = z.output<typeof applicationGeneratorStatusSchema>;

export interface ApplicationGenerator extends KubeObject {
  apiVersion: typeof API_VERSION;
  kind: typeof GENERATOR_KIND;
  metadata: ObjectMeta & { name: string; namespace: string };
  spec: z.input<typeof applicationGeneratorSpecSchema>;
  status?: ApplicationGeneratorStatus;
}
