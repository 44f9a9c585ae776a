/**
 * A push wakes the same Repositories whichever replica's webhook server receives it. The leader polls
 * them at once; a standby runs no controller and passes the push on through each Repository's
 * request annotation. One table of spellings runs through both paths against the real control plane:
 * a signed webhook goes to the real HTTP server, whose `onPush` is wired as `capstan controller`
 * wires it, and "woken" means the running controller fetched that Repository again.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REQUESTED_AT_ANNOTATION, type Repository } from '../../src/api/v1alpha1.js';
import { routePush } from '../../src/cli/commands/controller-run.js';
import { CapstanMetrics, createServer } from '../../src/server/index.js';
import { kubectl, kubectlOk } from '../support/cluster.js';
import { eventually, repository, startTestController, type TestController } from '../support/controller.js';
import { sleep } from '../../src/core/time.js';

/** What a Git host names in its webhook, and what a user wrote in a Repository. */
const CASES = [
  // The finding: https with an explicit default port and capitals, against ssh on another port.
  {
    pushed: 'https://Git.Example.com:443/Org/Repo.git',
    repository: 'ssh://git@git.example.com:2222/org/repo',
    wakes: true,
  },
  { pushed: 'git@github.com:Acme/Deploy.git', repository: 'https://github.com/acme/deploy', wakes: true },
  {
    pushed: 'https://gitlab.example.com/Group/Sub/App',
    repository: 'https://gitlab.example.com:8443/group/sub/app.git',
    wakes: true,
  },
  { pushed: 'https://github.com/acme/other', repository: 'https://github.com/acme/other-2', wakes: false },
  { pushed: 'https://bitbucket.org/team/svc', repository: 'https://gitlab.com/team/svc', wakes: false },
] as const;

const SECRET = 'push-routing-webhook-secret';
/** How long a push that should wake nothing is given to wake something anyway. */
const SETTLE_MS = 1500;

let t: TestController;
let namespace: string;
const fetches = new Map<string, number>();
let leading = true;
let server: ReturnType<typeof createServer>;

const nameOf = (index: number): string => `case-${index}`;
const fetchesOf = (index: number): number => fetches.get(nameOf(index)) ?? 0;

beforeAll(async () => {
  // One namespace for the whole table (freshNamespace belongs to a single test).
  namespace = `push-${randomBytes(4).toString('hex')}`;
  await kubectlOk(['create', 'namespace', namespace]);
  t = await startTestController({
    namespace,
    hooks: {
      onFetch: (repo) => void fetches.set(repo.metadata.name, (fetches.get(repo.metadata.name) ?? 0) + 1),
    },
  });
  server = createServer({
    metrics: new CapstanMetrics({ defaultMetrics: false }),
    isReady: () => true,
    webhookSecrets: { generic: SECRET },
    onPush: routePush({ kube: t.kube, controller: t.controller, isLeading: () => leading }),
    limits: { debounceMs: 0 },
  });
  // No Application uses them, so a reconcile fetches nothing from these made-up hosts, yet it
  // reports a fetch: that is what the test counts. A long interval keeps polls out of the count.
  for (const [index, { repository: url }] of CASES.entries())
    await t.kube.apply(repository(namespace, nameOf(index), { url, interval: '1h' }));
  await eventually('every Repository fetched once', async () =>
    CASES.every((_, index) => fetchesOf(index) >= 1),
  );
});

afterAll(async () => {
  await server?.close();
  await t?.stop();
  if (namespace) await kubectl(['delete', 'namespace', namespace, '--wait=false']);
});

async function push(url: string): Promise<void> {
  const body = JSON.stringify({ repository: url, ref: 'refs/heads/main' });
  const response = await server.inject({
    method: 'POST',
    url: '/hooks/generic',
    headers: {
      'content-type': 'application/json',
      'x-capstan-signature': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`,
    },
    payload: body,
  });
  expect(response.statusCode).toBe(202);
}

async function requestedAt(index: number): Promise<string | undefined> {
  const repo = await t.kube.get<Repository>({
    group: 'capstan.dev',
    kind: 'Repository',
    namespace,
    name: nameOf(index),
  });
  return repo?.metadata.annotations?.[REQUESTED_AT_ANNOTATION];
}

describe.each(['leader', 'standby'] as const)('a push received by the %s', (path) => {
  it.each(CASES.map((c, index) => ({ ...c, index })))(
    '$pushed wakes a Repository at $repository: $wakes',
    async ({ pushed, wakes, index }) => {
      leading = path === 'leader';
      const before = fetchesOf(index);
      const annotationBefore = await requestedAt(index);
      await push(pushed);
      if (wakes) {
        await eventually(`${nameOf(index)} fetched again`, async () => fetchesOf(index) > before, 15_000);
      } else {
        await sleep(SETTLE_MS);
        expect(fetchesOf(index)).toBe(before);
      }
      // A standby speaks to the leader only through the annotation, and only for the Repository pushed to.
      const annotationChanged = (await requestedAt(index)) !== annotationBefore;
      expect(annotationChanged).toBe(path === 'standby' && wakes);
    },
  );
});
