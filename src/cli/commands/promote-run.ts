/** What `capstan promote` does (registered in promote.ts). */
import { randomBytes } from 'node:crypto';
import {
  GROUP,
  PROMOTE_ANNOTATION,
  VERSION,
  type Application,
  type PromotionStatus,
  type Repository,
} from '../../api/v1alpha1.js';
import { CapstanError, UserError } from '../../core/errors.js';
import { sleep } from '../../core/time.js';
import { createKubeClient, UnknownKindError, type HttpKubeClient } from '../../kube/index.js';
import { resolveEnvironment, sameGitRepository } from '../../promote/rules.js';
import { EXIT } from '../exit-codes.js';
import { whoAmI } from '../identity.js';
import { parseDurationFlag } from '../parse.js';
import type { PromoteFlags } from './promote.js';

const POLL_MS = 1000;
const SUCCEEDED = new Set<PromotionStatus['state']>(['PullRequestOpened', 'Pushed', 'UpToDate']);

export async function runPromote(app: string, flags: PromoteFlags): Promise<number> {
  const timeoutMs = parseDurationFlag(flags.timeout, '--timeout');
  const wait = flags.wait ?? Boolean(process.stdout.isTTY);
  const kube = await createKubeClient(flags.kubeconfig ? { kubeconfigPath: flags.kubeconfig } : {});
  try {
    const namespace = flags.namespace ?? kube.contextNamespace ?? 'default';
    const { source, target } = await resolveEnds(kube, namespace, app, flags);
    const id = await requestPromotion(kube, source, target, flags);
    const what = `${namespace}/${source.metadata.name} → ${target.metadata.name}`;
    process.stderr.write(`requested the promotion ${what} (${PROMOTE_ANNOTATION} id ${id})\n`);
    if (!wait) return EXIT.ok;
    const answer = await awaitAnswer(kube, target, id, timeoutMs);
    if (!answer) {
      process.stderr.write(
        `capstan: timed out after ${flags.timeout} waiting for the controller to promote ${what}\n`,
      );
      return EXIT.error;
    }
    report(answer, what, flags.output === 'json');
    return SUCCEEDED.has(answer.state) ? EXIT.ok : EXIT.error;
  } catch (error) {
    if (error instanceof UnknownKindError)
      throw new CapstanError('notFound', `${error.message}: are Capstan's CRDs installed?`, { cause: error });
    throw error;
  } finally {
    kube.close();
  }
}

/** The source and target Applications: one each, on the same Git repository. */
async function resolveEnds(
  kube: HttpKubeClient,
  namespace: string,
  app: string,
  flags: PromoteFlags,
): Promise<{ source: Application; target: Application }> {
  const apps = (await kube.list<Application>(GROUP, VERSION, 'Application', { namespace })).items;
  const source = resolveEnvironment(apps, app, flags.from);
  const target = resolveEnvironment(apps, app, flags.to);
  if (source.metadata.name === target.metadata.name)
    throw new UserError(`--from and --to name the same Application ${source.metadata.name}`);
  const repositoryOf = (a: Application) =>
    kube.get<Repository>({ group: GROUP, kind: 'Repository', namespace, name: a.spec.sourceRef.name });
  const [sourceRepository, targetRepository] = await Promise.all([
    repositoryOf(source),
    repositoryOf(target),
  ]);
  if (
    !sameGitRepository(
      { app: source, repository: sourceRepository },
      { app: target, repository: targetRepository },
    )
  )
    throw new UserError(
      `${source.metadata.name} and ${target.metadata.name} do not use the same Git repository (Repositories ${source.spec.sourceRef.name} and ${target.spec.sourceRef.name}): environments are branches of one repository`,
    );
  return { source, target };
}

async function requestPromotion(
  kube: HttpKubeClient,
  source: Application,
  target: Application,
  flags: PromoteFlags,
): Promise<string> {
  const by = await whoAmI(kube, { kubeconfigPath: flags.kubeconfig });
  const id = `${new Date().toISOString()}-${randomBytes(4).toString('hex')}`;
  const request = {
    id,
    from: source.metadata.name,
    mode: flags.push ? 'push' : 'pullRequest',
    ...(by ? { by } : {}),
  };
  await kube.patch(
    { group: GROUP, kind: 'Application', namespace: target.metadata.namespace, name: target.metadata.name },
    { metadata: { annotations: { [PROMOTE_ANNOTATION]: JSON.stringify(request) } } },
    'merge',
  );
  return id;
}

/** The controller's final answer to request `id`, or undefined at the deadline. */
async function awaitAnswer(
  kube: HttpKubeClient,
  target: Application,
  id: string,
  timeoutMs: number,
): Promise<PromotionStatus | undefined> {
  const deadline = Date.now() + timeoutMs;
  let said = '';
  while (Date.now() < deadline) {
    const app = await kube.get<Application>({
      group: GROUP,
      kind: 'Application',
      namespace: target.metadata.namespace,
      name: target.metadata.name,
    });
    if (!app)
      throw new CapstanError(
        'notFound',
        `application ${target.metadata.namespace}/${target.metadata.name} was deleted`,
      );
    const promotion = app.status?.promotion;
    if (promotion?.id === id && app.status?.lastHandledPromotion === id) return promotion;
    if (promotion?.id === id && promotion.message !== said) {
      said = promotion.message;
      process.stderr.write(`${said}\n`);
    }
    await sleep(POLL_MS);
  }
  return undefined;
}

function report(answer: PromotionStatus, what: string, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
    return;
  }
  const revision = answer.sourceRevision ? ` at ${answer.sourceRevision.slice(0, 12)}` : '';
  switch (answer.state) {
    case 'PullRequestOpened':
      process.stdout.write(`promotion ${what}${revision}: pull request ${answer.url}\n`);
      return;
    case 'Pushed':
      process.stdout.write(`promotion ${what}${revision}: pushed ${answer.sha}\n`);
      return;
    case 'UpToDate':
      process.stdout.write(`promotion ${what}${revision}: already up to date\n`);
      return;
    default:
      process.stderr.write(`capstan: promotion ${what} ${answer.state.toLowerCase()}: ${answer.message}\n`);
  }
}
