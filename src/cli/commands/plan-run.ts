/** What `capstan plan` does (registered in plan.ts). */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { UserError } from '../../core/errors.js';
import { createKubeClient } from '../../kube/index.js';
import { formatPlanMarkdown, planChange, userReviewDeps, type ChangePlan } from '../../review/index.js';
import { EXIT } from '../exit-codes.js';
import { capstanCacheDir, engineParts } from '../wiring.js';
import type { PlanFlags } from './plan.js';

export async function runPlan(flags: PlanFlags): Promise<number> {
  const head = flags.ref === 'HEAD' ? await checkoutHead() : flags.ref;
  const kube = await createKubeClient({
    ...(flags.kubeconfig ? { kubeconfigPath: flags.kubeconfig } : {}),
    ...(flags.context ? { context: flags.context } : {}),
  });
  try {
    const stateDir = capstanCacheDir();
    // Repository URLs come from the cluster: file:// is refused, as in `capstan dashboard`.
    const parts = await engineParts({
      stateDir,
      allowFileUrls: false,
      progress: (line) => process.stderr.write(`${line}\n`),
    });
    const deps = userReviewDeps({
      kube,
      git: parts.git,
      engine: parts.engineOn(kube),
      renderAt: parts.renderAt,
      name: 'you (your kubeconfig user)',
    });
    const plan = await planChange(deps, {
      repositoryUrl: flags.repo,
      base: flags.base,
      head,
      ...(flags.namespace ? { namespace: flags.namespace } : {}),
    });
    process.stdout.write(
      flags.output === 'json' ? `${JSON.stringify(plan, null, 2)}\n` : formatPlanMarkdown(plan),
    );
    return exitCodeOf(plan);
  } finally {
    kube.close();
  }
}

/** A plan with an app in error is a failed check: merging it would fail a sync. */
export function exitCodeOf(plan: ChangePlan): number {
  return plan.apps.some((app) => app.result === 'error') ? EXIT.error : EXIT.ok;
}

/** The commit this folder's checkout is at: what CI checked out for the pull request. */
async function checkoutHead(): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)('git', ['rev-parse', '--verify', 'HEAD^{commit}'], {
      env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1' },
      maxBuffer: 4096,
    });
    return stdout.trim();
  } catch (error) {
    throw new UserError('--ref HEAD needs a git checkout with a commit here; give --ref BRANCH or SHA', {
      cause: error,
    });
  }
}
