/**
 * `ImagePolicy` (capstan.dev/v1alpha1, namespaced): image automation. Capstan lists the tags of an
 * image repository, chooses the newest its policy allows, and writes that tag into the manifests in
 * Git of the Applications it names — a commit on their branch, or a pull request — never into the
 * cluster. The ordinary sync then rolls it out, and a rollback or a revert stays a Git matter.
 *
 * As in v1alpha1.ts, the zod schema is the single source of the run-time check, the TypeScript types
 * and the CRD's OpenAPI schema.
 */
import { z } from 'zod';
import type { KubeObject, ObjectMeta } from '../core/objects.js';
import { DURATION_PATTERN } from '../core/time.js';
import type { API_VERSION } from './names.js';
import { conditionSchema } from './v1alpha1.js';

export const IMAGE_POLICY_KIND = 'ImagePolicy';

/** Applications one policy may update (each names its Repository, branch and path). */
export const MAX_POLICY_APPLICATIONS = 32;

/** Tags whose creation time a `newest` policy reads in one scan (one or two requests each). */
export const MAX_NEWEST_CANDIDATES = 100;

const localName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a lowercase DNS name');

const duration = (description: string, fallback: string) =>
  z
    .string()
    .regex(new RegExp(DURATION_PATTERN), 'must be a duration such as 30s, 5m or 1h')
    .default(fallback)
    .describe(description);

const order = z.enum(['asc', 'desc']).default('asc');

const tagPolicySchema = z
  .object({
    semver: z
      .object({
        range: z
          .string()
          .min(1)
          .max(256)
          .describe(
            'A semver range such as ">=1.0.0 <2" or "1.x"; tags like v1.2.3 count. Prereleases only when the range names one (">=1.3.0-0").',
          ),
      })
      .optional(),
    numerical: z
      .object({ order: order.describe('asc: the highest number wins; desc: the lowest.') })
      .optional(),
    alphabetical: z
      .object({ order: order.describe('asc: the last in alphabetical order wins; desc: the first.') })
      .optional(),
    newest: z
      .object({})
      .optional()
      .describe(
        `The tag whose image was created last, as the registry tells (the manifest's org.opencontainers.image.created annotation, else the image config's created time); tags without a time are left out. Reads each tag's manifest: filterTags must leave at most ${MAX_NEWEST_CANDIDATES} tags.`,
      ),
  })
  .describe('Exactly one of semver, numerical, alphabetical, newest.');

const pathInApp = z.string().min(1).max(1024).describe("A file relative to the Application's path.");

const helmValuesSchema = z.object({
  file: pathInApp,
  tag: z.string().min(1).max(256).describe('Dotted path of the tag, e.g. image.tag.'),
  repository: z
    .string()
    .min(1)
    .max(256)
    .optional()
    .describe('Dotted path of the image name, e.g. image.repository.'),
  digest: z
    .string()
    .min(1)
    .max(256)
    .optional()
    .describe('Dotted path of the digest, set when spec.digest is on.'),
});

export const imagePolicySpecSchema = z.object({
  image: z
    .string()
    .min(1)
    .max(512)
    .describe(
      'The image repository, without tag: registry.example.com/team/web, ghcr.io/org/app, nginx (Docker Hub).',
    ),
  secretRef: z
    .object({ name: localName })
    .optional()
    .describe(
      'Secret in the same namespace holding the registry credentials: `.dockerconfigjson` (kubernetes.io/dockerconfigjson; only the entry of this registry is used) or `username` + `password`.',
    ),
  insecure: z
    .boolean()
    .default(false)
    .describe(
      'Talk to the registry over plain HTTP. Credentials are still only sent over HTTPS unless the Secret carries capstan.dev/allow-insecure-http: "true".',
    ),
  interval: duration('How often to list the tags (a registry webhook makes it immediate).', '5m'),
  timeout: duration('Timeout of one scan (all its registry requests).', '60s'),
  policy: tagPolicySchema,
  filterTags: z
    .object({
      pattern: z
        .string()
        .min(1)
        .max(1024)
        .describe(
          'Regular expression (RE2 syntax, linear time) a tag must match, e.g. ^main-[a-f0-9]+-(?P<ts>[0-9]+)$.',
        ),
      extract: z
        .string()
        .max(256)
        .optional()
        .describe('What the policy orders by: a replacement such as $ts or ${1}; default the whole tag.'),
    })
    .optional()
    .describe('Only tags matching pattern are considered.'),
  digest: z
    .boolean()
    .default(false)
    .describe(
      "Also write the chosen tag's digest (image:tag@sha256:…, Kustomize digest, Helm digest path), so a re-pushed tag is rolled out too.",
    ),
  update: z
    .object({
      applications: z
        .array(z.object({ name: localName }))
        .min(1)
        .max(MAX_POLICY_APPLICATIONS)
        .describe(
          'Applications (same namespace) whose path is updated, on the branch they follow, with their Repository\'s credentials. Files: setter comments # {"$imagepolicy": "<namespace>:<name>"} (also :tag, :name, :digest), Kustomize images entries naming this image, and helmValues.',
        ),
      helmValues: z
        .array(helmValuesSchema)
        .max(32)
        .default([])
        .describe(
          'Helm values files to update without setter comments: which dotted paths hold the tag (and image, digest).',
        ),
      mode: z
        .enum(['push', 'pullRequest'])
        .default('push')
        .describe(
          "push: one commit on the Applications' branch; pullRequest: a branch capstan/images/<namespace>/<name> and a pull request on the Repository's spec.forge.",
        ),
      author: z
        .object({
          name: z.string().min(1).max(128),
          email: z
            .string()
            .min(3)
            .max(254)
            .regex(/^[^\s<>@]+@[^\s<>@]+$/, 'must be an e-mail address'),
        })
        .optional()
        .describe('Author of the commits; default Capstan <capstan@localhost>.'),
    })
    .optional()
    .describe('Where the chosen tag is written. Without it, the policy only reports the tag in status.'),
  suspend: z.boolean().default(false).describe('Stop scanning and writing.'),
});

export type ImagePolicySpec = z.output<typeof imagePolicySpecSchema>;

const chosenSchema = z.object({
  tag: z.string(),
  digest: z.string().optional(),
  /** When this tag was first chosen. */
  since: z.string(),
});

export const imagePolicyStatusSchema = z.object({
  observedGeneration: z.number().int().optional(),
  conditions: z.array(conditionSchema).optional(),
  /** What the last scan found: tags the registry listed, tags the policy considered. */
  lastScan: z.object({ tags: z.number().int(), considered: z.number().int() }).optional(),
  /** The newest tag the policy allows, as last seen in the registry. */
  latest: chosenSchema.optional(),
  /** What Git was last brought to, per Repository branch. */
  updates: z
    .array(
      z.object({
        repository: z.string(),
        branch: z.string(),
        tag: z.string(),
        outcome: z.enum(['pushed', 'pullRequest', 'upToDate', 'refused', 'failed']),
        commit: z.string().optional(),
        pullRequest: z.object({ number: z.number().int(), url: z.string() }).optional(),
        message: z.string().optional(),
        at: z.string(),
      }),
    )
    .optional(),
  lastError: z.string().optional(),
});
export type ImagePolicyStatus = z.output<typeof imagePolicyStatusSchema>;
export type ImageUpdateStatus = NonNullable<ImagePolicyStatus['updates']>[number];

export interface ImagePolicy extends KubeObject {
  apiVersion: typeof API_VERSION;
  kind: typeof IMAGE_POLICY_KIND;
  metadata: ObjectMeta & { name: string; namespace: string };
  spec: z.input<typeof imagePolicySpecSchema>;
  status?: ImagePolicyStatus;
}
