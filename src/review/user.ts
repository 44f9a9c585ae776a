/**
 * A plan on someone's own terms (`capstan plan`): the kubeconfig user lists the Applications,
 * reads the Repositories and their Secrets, and makes each dry-run with their own client — their
 * RBAC decides, never a ServiceAccount's (controller/preview.ts userPreparer). What they may not
 * read counts as absent, or fails that app's plan and says why.
 */
import { GROUP, VERSION, type Application, type Repository } from '../api/v1alpha1.js';
import {
  previewApplication,
  readableOrUndefined,
  userPreparer,
  type PreviewDeps,
} from '../controller/preview.js';
import { createRepositoryAccess } from '../controller/repository.js';
import type { Engine } from '../engine/sync.js';
import type { KubeClient } from '../kube/index.js';
import type { GitSource } from '../source/index.js';
import type { ReviewDeps } from './plan.js';
import type { RenderAt } from './touched.js';

export function userReviewDeps(input: {
  readonly kube: KubeClient;
  readonly git: GitSource;
  /** An engine acting through `kube`. */
  readonly engine: Engine;
  readonly renderAt: RenderAt;
  /** For people: `you (your kubeconfig user)`. */
  readonly name: string;
  readonly now?: () => Date;
}): ReviewDeps {
  const { kube, git } = input;
  const now = input.now ?? (() => new Date());
  const access = createRepositoryAccess({ kube, git, now });
  const repository = (namespace: string, name: string): Promise<Repository | undefined> =>
    readableOrUndefined(() => kube.get<Repository>({ group: GROUP, kind: 'Repository', namespace, name }));
  const previews: PreviewDeps = {
    prepare: userPreparer({ kube, engine: input.engine, name: input.name }),
    access,
    application: (namespace, name) =>
      readableOrUndefined(() =>
        kube.get<Application>({ group: GROUP, kind: 'Application', namespace, name }),
      ),
    repository,
    freshRevisions: true,
    now,
  };
  return {
    listApplications: async (namespace) =>
      (await kube.list<Application>(GROUP, VERSION, 'Application', namespace ? { namespace } : {})).items,
    repository,
    access,
    git,
    renderAt: input.renderAt,
    preview: (app, revision, signal) => previewApplication(previews, app, signal, { revision }),
  };
}
