/**
 * The CustomResourceDefinitions, generated from the zod schemas of v1alpha1.ts. `deploy/crds.yaml`
 * is their YAML (`npm run generate`); a test keeps the two equal.
 */
import { stringify } from 'yaml';
import { z } from 'zod';
import type { KubeObject } from '../core/objects.js';
import { applicationGeneratorSpecSchema, applicationGeneratorStatusSchema } from './generator.js';
import { imagePolicySpecSchema, imagePolicyStatusSchema } from './image-policy.js';
import {
  accessPolicySpecSchema,
  applicationSpecSchema,
  applicationStatusSchema,
  GROUP,
  notificationSpecSchema,
  repositorySpecSchema,
  repositoryStatusSchema,
  VERSION,
} from './v1alpha1.js';

type Schema = { [key: string]: unknown };

/**
 * zod's OpenAPI 3.0 output made structural, as the API server requires: free-form maps become
 * `x-kubernetes-preserve-unknown-fields`, JavaScript's integer bounds disappear, closed objects stay
 * closed by pruning (the API server's default) rather than `additionalProperties: false`.
 */
export function toStructural(schema: Schema): Schema {
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === '$schema') continue;
    if (key === 'additionalProperties') {
      if (value === false) continue;
      if (value && typeof value === 'object' && Object.keys(value).length === 0) {
        out['x-kubernetes-preserve-unknown-fields'] = true;
        continue;
      }
      out[key] = toStructural(value as Schema);
      continue;
    }
    if (
      (key === 'maximum' && value === Number.MAX_SAFE_INTEGER) ||
      (key === 'minimum' && value === Number.MIN_SAFE_INTEGER)
    )
      continue;
    if (key === 'properties') {
      out[key] = Object.fromEntries(
        Object.entries(value as Schema).map(([name, child]) => [name, toStructural(child as Schema)]),
      );
    } else if (key === 'items') {
      out[key] = toStructural(value as Schema);
    } else {
      out[key] = value;
    }
  }
  // `z.unknown()` has no type at all: anything goes below it.
  if (!('type' in out) && !('x-kubernetes-preserve-unknown-fields' in out))
    out['x-kubernetes-preserve-unknown-fields'] = true;
  return out;
}

function openApi(schema: z.ZodType, io: 'input' | 'output'): Schema {
  return toStructural(z.toJSONSchema(schema, { io, target: 'openapi-3.0' }) as Schema);
}

interface CrdInput {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  /** Default `Namespaced`. */
  scope?: 'Namespaced' | 'Cluster';
  spec: z.ZodType;
  /** With a status, the CRD gets the status subresource (spec and status written apart). */
  status?: z.ZodType;
  columns: { name: string; type: string; jsonPath: string; priority?: number }[];
}

function crd(input: CrdInput): KubeObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${input.plural}.${GROUP}`, labels: { 'app.kubernetes.io/part-of': 'capstan' } },
    spec: {
      group: GROUP,
      names: {
        kind: input.kind,
        listKind: `${input.kind}List`,
        plural: input.plural,
        singular: input.singular,
        shortNames: input.shortNames,
        categories: ['capstan'],
      },
      scope: input.scope ?? 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          ...(input.status ? { subresources: { status: {} } } : {}),
          additionalPrinterColumns: input.columns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: openApi(input.spec, 'input'),
                ...(input.status ? { status: openApi(input.status, 'output') } : {}),
              },
            },
          },
        },
      ],
    },
  };
}

export function repositoryCrd(): KubeObject {
  return crd({
    kind: 'Repository',
    plural: 'repositories',
    singular: 'repository',
    shortNames: ['crepo'],
    spec: repositorySpecSchema,
    status: repositoryStatusSchema,
    columns: [
      { name: 'URL', type: 'string', jsonPath: '.spec.url' },
      { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
      {
        name: 'Status',
        type: 'string',
        jsonPath: '.status.conditions[?(@.type=="Ready")].message',
        priority: 1,
      },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
  });
}

export function applicationCrd(): KubeObject {
  return crd({
    kind: 'Application',
    plural: 'applications',
    singular: 'application',
    shortNames: ['capp'],
    spec: applicationSpecSchema,
    status: applicationStatusSchema,
    columns: [
      { name: 'Ref', type: 'string', jsonPath: '.spec.ref' },
      { name: 'Revision', type: 'string', jsonPath: '.status.lastAppliedRevision.sha' },
      { name: 'Sync', type: 'string', jsonPath: '.status.sync.status' },
      { name: 'Health', type: 'string', jsonPath: '.status.health.status' },
      { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
      {
        name: 'Status',
        type: 'string',
        jsonPath: '.status.conditions[?(@.type=="Ready")].message',
        priority: 1,
      },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
  });
}

/**
 * Cluster-scoped (a tenant cannot touch the policy that binds it) and without status: the controller
 * only reads policies, so it needs no right to write these security objects.
 */
export function accessPolicyCrd(): KubeObject {
  return crd({
    kind: 'AccessPolicy',
    plural: 'accesspolicies',
    singular: 'accesspolicy',
    shortNames: ['cpol'],
    scope: 'Cluster',
    spec: accessPolicySpecSchema,
    columns: [
      { name: 'Namespaces', type: 'string', jsonPath: '.spec.namespaces' },
      { name: 'Destinations', type: 'string', jsonPath: '.spec.destinationNamespaces', priority: 1 },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
  });
}

/**
 * Namespaced (a team's own, seeing only its own namespace's Applications) and without status: the
 * controller only reads Notifications; delivery outcomes go to its log and metrics.
 */
export function notificationCrd(): KubeObject {
  return crd({
    kind: 'Notification',
    plural: 'notifications',
    singular: 'notification',
    shortNames: ['cnotif'],
    spec: notificationSpecSchema,
    columns: [
      { name: 'Target', type: 'string', jsonPath: '.spec.target.type' },
      { name: 'Applications', type: 'string', jsonPath: '.spec.applications' },
      { name: 'Events', type: 'string', jsonPath: '.spec.events', priority: 1 },
      { name: 'Suspended', type: 'boolean', jsonPath: '.spec.suspend', priority: 1 },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
  });
}

/** Applications made from a template, one per branch, folder, list entry or open pull request. */
export function applicationGeneratorCrd(): KubeObject {
  return crd({
    kind: 'ApplicationGenerator',
    plural: 'applicationgenerators',
    singular: 'applicationgenerator',
    shortNames: ['appgen'],
    spec: applicationGeneratorSpecSchema,
    status: applicationGeneratorStatusSchema,
    columns: [
      { name: 'Source', type: 'string', jsonPath: '.spec.sourceRef.name' },
      { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
      {
        name: 'Status',
        type: 'string',
        jsonPath: '.status.conditions[?(@.type=="Ready")].message',
        priority: 1,
      },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
  });
}

/** Image automation: the newest allowed tag of an image, written into Git. */
export function imagePolicyCrd(): KubeObject {
  return crd({
    kind: 'ImagePolicy',
    plural: 'imagepolicies',
    singular: 'imagepolicy',
    shortNames: ['imgpol'],
    spec: imagePolicySpecSchema,
    status: imagePolicyStatusSchema,
    columns: [
      { name: 'Image', type: 'string', jsonPath: '.spec.image' },
      { name: 'Latest', type: 'string', jsonPath: '.status.latest.tag' },
      { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
      {
        name: 'Status',
        type: 'string',
        jsonPath: '.status.conditions[?(@.type=="Ready")].message',
        priority: 1,
      },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
  });
}

export function crds(): KubeObject[] {
  return [
    repositoryCrd(),
    applicationCrd(),
    accessPolicyCrd(),
    notificationCrd(),
    applicationGeneratorCrd(),
    imagePolicyCrd(),
  ];
}

/** The YAML of deploy/crds.yaml. */
export function crdsYaml(): string {
  const header = '# Generated from src/api/v1alpha1.ts by `npm run generate`; do not edit.\n';
  return (
    header +
    crds()
      .map((c) => `---\n${stringify(c, { lineWidth: 0 })}`)
      .join('')
  );
}
