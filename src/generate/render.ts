/**
 * The Application each element makes: the template with the element's placeholders filled in, in
 * the generator's namespace (a template has no namespace field, and none is taken from it),
 * labelled and owned by the generator, its spec checked with the Application schema. Any problem
 * is a TemplateError that names the element, and nothing at all is applied for that generator.
 */
import {
  GENERATOR_KIND,
  GENERATOR_LABEL,
  PULL_REQUEST_ANNOTATION,
  type ApplicationGenerator,
  type ApplicationGeneratorSpec,
} from '../api/generator.js';
import { API_VERSION, applicationSpecSchema, type Application } from '../api/v1alpha1.js';
import type { Element } from './elements.js';
import { applicationName, substitute, substituteDeep, TemplateError } from './template.js';

export interface DesiredApplication {
  readonly name: string;
  /** The element it came from (its key). */
  readonly element: string;
  /** What is applied: only the template's fields, so fields others own are left to them. */
  readonly object: Application;
}

export function renderApplications(
  generator: ApplicationGenerator,
  spec: ApplicationGeneratorSpec,
  elements: readonly Element[],
): DesiredApplication[] {
  const byName = new Map<string, DesiredApplication>();
  for (const element of elements) {
    const desired = renderNaming(generator, spec, element);
    const clash = byName.get(desired.name);
    if (clash)
      throw new TemplateError(
        `elements ${JSON.stringify(clash.element.slice(0, 80))} and ${JSON.stringify(element.key.slice(0, 80))} both make the Application ${desired.name}: the template's name must tell them apart`,
      );
    byName.set(desired.name, desired);
  }
  return [...byName.values()];
}

/** renderOne, its errors naming the element (a hostile one is quoted, and cut). */
function renderNaming(
  generator: ApplicationGenerator,
  spec: ApplicationGeneratorSpec,
  element: Element,
): DesiredApplication {
  try {
    return renderOne(generator, spec, element);
  } catch (error) {
    if (!(error instanceof TemplateError)) throw error;
    throw new TemplateError(`element ${JSON.stringify(element.key.slice(0, 80))}: ${error.message}`);
  }
}

function renderOne(
  generator: ApplicationGenerator,
  spec: ApplicationGeneratorSpec,
  element: Element,
): DesiredApplication {
  const where = (field: string) => `template.${field}`;
  const { metadata, spec: templateSpec } = spec.template;
  const name = nameOf(
    substitute(metadata.name, element.params, where('metadata.name')),
    where('metadata.name'),
  );
  const labels = substituteRecord(metadata.labels, element.params, where('metadata.labels'));
  const templated = substituteRecord(metadata.annotations, element.params, where('metadata.annotations'));
  // The pull request's number last, as the label: what the pull request's comment is found by.
  const annotations =
    element.pullRequest === undefined
      ? templated
      : { ...templated, [PULL_REQUEST_ANNOTATION]: String(element.pullRequest) };
  const appSpec = {
    sourceRef: { name: spec.sourceRef.name },
    ...(substituteDeep(templateSpec, element.params, where('spec')) as Record<string, unknown>),
  };
  const checked = applicationSpecSchema.safeParse(appSpec);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new TemplateError(
      `${where('spec')} makes an invalid Application spec: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  const object: Application = {
    apiVersion: API_VERSION,
    kind: 'Application',
    metadata: {
      name,
      namespace: generator.metadata.namespace,
      // The generator's label last: a template cannot claim another generator's Applications.
      labels: { ...labels, [GENERATOR_LABEL]: generator.metadata.name },
      ...(annotations ? { annotations } : {}),
      ownerReferences: [
        {
          apiVersion: API_VERSION,
          kind: GENERATOR_KIND,
          name: generator.metadata.name,
          uid: generator.metadata.uid ?? '',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: appSpec as Application['spec'],
  };
  return { name, element: element.key, object };
}

function nameOf(rendered: string, where: string): string {
  try {
    return applicationName(rendered);
  } catch (error) {
    if (error instanceof TemplateError) throw new TemplateError(`${where}: ${error.message}`);
    throw error;
  }
}

function substituteRecord(
  record: Readonly<Record<string, string>> | undefined,
  params: ReadonlyMap<string, string>,
  where: string,
): Record<string, string> | undefined {
  if (!record) return undefined;
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(record)) out[key] = substitute(value, params, `${where}.${key}`);
  return out;
}
