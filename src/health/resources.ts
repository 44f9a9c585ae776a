/** Kinds with a simple notion of "ready": claims, services, CRDs, and those that are ready on creation. */
import type { PersistentVolumeClaim, Service } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../core/objects.js';
import { explain, findCondition } from './conditions.js';
import { current, failed, inProgress, suspended, type HealthResult } from './result.js';

export function persistentVolumeClaimStatus(object: KubeObject): HealthResult {
  const phase = (object as unknown as PersistentVolumeClaim).status?.phase;
  if (phase === 'Bound') return current('Claim is bound to a volume');
  // With WaitForFirstConsumer storage classes this lasts until a Pod uses the claim.
  return inProgress(`Waiting for the claim to be bound (phase ${phase ?? 'not yet reported'})`);
}

export function serviceStatus(object: KubeObject): HealthResult {
  const { spec, status } = object as unknown as Service;
  if (spec?.type !== 'LoadBalancer') return current('Service is ready');
  const ingress = status?.loadBalancer?.ingress ?? [];
  if (ingress.length === 0) {
    return inProgress('Waiting for a load balancer address (is a load-balancer controller installed?)');
  }
  const addresses = ingress.map((entry) => entry.ip ?? entry.hostname).filter(Boolean);
  return current(`Load balancer is ready${addresses.length > 0 ? ` at ${addresses.join(', ')}` : ''}`);
}

export function customResourceDefinitionStatus(object: KubeObject): HealthResult {
  // A name clash with another CRD never resolves by itself.
  const namesAccepted = findCondition(object, 'NamesAccepted');
  if (namesAccepted?.status === 'False') return failed(`CRD names not accepted: ${explain(namesAccepted)}`);

  const established = findCondition(object, 'Established');
  if (established?.status === 'True') return current('CRD is established');
  if (established?.status === 'False' && established.reason !== 'Installing') {
    return failed(`CRD cannot be established: ${explain(established)}`);
  }
  return inProgress('Waiting for the API server to establish the CRD');
}

/**
 * The disruption controller sets no conditions, and the generic check has already confirmed it has
 * observed this generation, which is when it has computed the allowed disruptions.
 */
export function podDisruptionBudgetStatus(): HealthResult {
  return current('Allowed disruptions have been computed');
}

/** Data and schedules: there is nothing to wait for once the API server has them. */
export function alwaysCurrent(): HealthResult {
  return current('Resource is current');
}

export function cronJobStatus(object: KubeObject): HealthResult {
  const spec = object.spec as { suspend?: boolean } | undefined;
  return spec?.suspend === true ? suspended('CronJob is suspended') : current('CronJob is scheduled');
}
