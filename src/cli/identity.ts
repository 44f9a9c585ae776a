/**
 * Who is running the CLI, for requests that record their author (`capstan.dev/requested-by`): the
 * API server's own answer (a SelfSubjectReview, authentication.k8s.io/v1, which every authenticated
 * user may create), else the kubeconfig's user entry name. A record, not a proof: whoever may
 * annotate the Application may write any name there.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { messageOf } from '../core/errors.js';
import type { KubeObject } from '../core/objects.js';
import type { KubeClient } from '../kube/index.js';

interface SelfSubjectReview extends KubeObject {
  status?: { userInfo?: { username?: string } };
}

export async function whoAmI(
  kube: Pick<KubeClient, 'create'>,
  options: { kubeconfigPath?: string | undefined; debug?: (line: string) => void } = {},
): Promise<string | undefined> {
  try {
    const review = await kube.create<SelfSubjectReview>({
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'SelfSubjectReview',
      metadata: {},
    });
    const username = review.status?.userInfo?.username;
    if (username) return username;
  } catch (error) {
    // Servers before Kubernetes 1.28, or an authorizer that refuses it: the kubeconfig's word.
    options.debug?.(`cannot ask the API server who we are: ${messageOf(error)}`);
  }
  return kubeconfigUser(options.kubeconfigPath);
}

function kubeconfigUser(path: string | undefined): string | undefined {
  try {
    const config = new KubeConfig();
    if (path) config.loadFromFile(path);
    else config.loadFromDefault();
    return config.getCurrentUser()?.name || undefined;
  } catch {
    return undefined;
  }
}
