/**
 * Capstan inside the cluster it manages: its own image (built without Docker) on a real node, put
 * there by `capstan bootstrap` from a Gitea repository, and from then on managing itself from Git.
 * Pods reach the forge at the node's address (a forwarder: Gitea listens on loopback only) and the
 * API server through the `kubernetes` Service (kube-proxy).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushLocalImage } from '../../src/dev/buildah.js';
import { startForge, type Forge, type ForgeUser } from '../../src/dev/forge.js';
import { buildCapstanImage } from '../../src/dev/image.js';
import { capstan } from '../support/cli.js';
import { git, makeTempDir } from '../support/git-servers.js';
import { forwardTcp, type TcpForward } from '../support/tcp-forward.js';
import { eventually, startRealCluster, type RealCluster } from './support.js';

const NAMESPACE = 'capstan-system';
const DEPLOYMENT = 'capstan-controller';
const CLUSTER_PATH = 'clusters/node';

let cluster: RealCluster;
let forge: Forge;
let forward: TcpForward;
let image: string;
let user: ForgeUser;
let token: string;
/** The repository as pods (and the CLI) reach it: the node's address, through the forwarder. */
let repoUrl: string;
/** A working copy the test commits to Git with, as a person would. */
let checkout: string;
const allOutput: string[] = [];

interface PodSummary {
  readonly name: string;
  readonly uid: string;
  readonly ip: string;
  readonly node: string;
  readonly ready: boolean;
  readonly deleting: boolean;
  readonly image: string;
  readonly args: readonly string[];
}

beforeAll(async () => {
  cluster = await startRealCluster();
  const built = await buildCapstanImage({ progress: (line) => console.log(`[image] ${line}`) });
  image = `${cluster.registry}/capstan:${built.version}`;
  await pushLocalImage(built.reference, image);
  forge = await startForge({ tools: cluster.controlPlane.tools, handleSignals: false });
  const node = cluster.controlPlane.realNode!;
  forward = await forwardTcp(
    { host: node.address },
    { host: '127.0.0.1', port: Number(new URL(forge.url).port) },
  );
  user = await forge.createUser();
  await forge.createRepo(user.username, 'fleet', { autoInit: true });
  token = await forge.token(user, ['write:repository']);
  repoUrl = `http://${node.address}:${forward.port}/${user.username}/fleet.git`;
}, 900_000);

afterAll(async () => {
  await forward?.close();
  await forge?.stop();
  await cluster?.controlPlane.stop();
});

const kubectlJson = async <T>(args: readonly string[]): Promise<T> =>
  JSON.parse(await cluster.kubectlOk([...args, '-o', 'json'])) as T;

async function controllerPods(): Promise<PodSummary[]> {
  const list = await kubectlJson<{ items: PodJson[] }>([
    'get',
    'pods',
    '-n',
    NAMESPACE,
    '-l',
    `app.kubernetes.io/name=${DEPLOYMENT}`,
  ]);
  return list.items.map((pod) => ({
    name: pod.metadata.name,
    uid: pod.metadata.uid,
    ip: pod.status.podIP ?? '',
    node: pod.spec.nodeName ?? '',
    ready: pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    deleting: Boolean(pod.metadata.deletionTimestamp),
    image: pod.spec.containers[0]!.image,
    args: pod.spec.containers[0]!.args ?? [],
  }));
}

interface PodJson {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  spec: { nodeName?: string; containers: { image: string; args?: string[] }[] };
  status: { podIP?: string; conditions?: { type: string; status: string }[] };
}

interface DeploymentJson {
  metadata: { uid: string; generation: number };
  spec: { replicas: number; template: { spec: { containers: { image: string; args?: string[] }[] } } };
  status: {
    observedGeneration?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    replicas?: number;
  };
}

async function deployment(): Promise<DeploymentJson | undefined> {
  const result = await cluster.kubectl(['get', 'deployment', DEPLOYMENT, '-n', NAMESPACE, '-o', 'json']);
  return result.code === 0 ? (JSON.parse(result.stdout) as DeploymentJson) : undefined;
}

/** Rolled out: the controller saw the latest spec and every replica is updated and available. */
function rolledOut(d: DeploymentJson | undefined): boolean {
  return Boolean(
    d &&
    d.status.observedGeneration === d.metadata.generation &&
    d.status.updatedReplicas === d.spec.replicas &&
    d.status.availableReplicas === d.spec.replicas &&
    d.status.replicas === d.spec.replicas,
  );
}

async function leaseHolder(): Promise<string> {
  const lease = await kubectlJson<{ spec: { holderIdentity?: string } }>([
    'get',
    'lease',
    '-n',
    NAMESPACE,
    DEPLOYMENT,
  ]).catch(() => undefined);
  return lease?.spec.holderIdentity ?? '';
}

/** The pod whose name the Lease's holder identity (`<hostname>-<pid>`) starts with. */
async function leaderPod(): Promise<PodSummary | undefined> {
  const holder = await leaseHolder();
  return (await controllerPods()).find((pod) => holder.startsWith(`${pod.name}-`));
}

/** Commits a change to one of the cluster's files (components.yaml, sync.yaml) as a person would. */
async function commitChange(
  name: 'components.yaml' | 'sync.yaml',
  message: string,
  edit: (text: string) => string,
): Promise<string> {
  const file = join(checkout, CLUSTER_PATH, NAMESPACE, name);
  await git(checkout, 'pull', '--quiet', '--ff-only');
  const before = await readFile(file, 'utf8');
  const after = edit(before);
  expect(after).not.toBe(before);
  await writeFile(file, after);
  await git(checkout, 'commit', '--quiet', '-am', message);
  await git(checkout, 'push', '--quiet', 'origin', 'HEAD:main');
  return git(checkout, 'rev-parse', 'HEAD');
}

interface SelfApplication {
  spec: { healthTimeout?: string };
  status?: {
    conditions?: { type: string; status: string }[];
    lastAppliedRevision?: { sha?: string };
    lastHealthyRevision?: { sha?: string };
    rollback?: { from?: string; to?: string };
  };
}

const selfApplication = (): Promise<SelfApplication> =>
  kubectlJson<SelfApplication>(['get', 'applications.capstan.dev', 'capstan', '-n', NAMESPACE]);

/** As a user waits after a push: until Capstan's own Application is Ready and healthy at `sha`. */
async function readyAt(sha: string): Promise<SelfApplication> {
  return eventually(
    `Capstan's Application to be Ready and healthy at ${sha.slice(0, 12)}`,
    async () => {
      const app = await selfApplication();
      const ready = app.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      return ready &&
        app.status?.lastAppliedRevision?.sha === sha &&
        app.status.lastHealthyRevision?.sha === sha
        ? app
        : undefined;
    },
    300_000,
  );
}

describe('Capstan in the cluster it manages (its image, a real node, bootstrap from Gitea)', () => {
  it('bootstrap installs the image as two replicas on the real node, one leading, and commits its manifests', async () => {
    const passwordFile = join(await makeTempDir('password'), 'token');
    await writeFile(passwordFile, `${token}\n`);
    const result = await capstan(
      [
        'bootstrap',
        ...['--repo', repoUrl, '--path', CLUSTER_PATH, '--image', image],
        ...['--username', user.username, '--password-file', passwordFile, '--interval', '5s'],
        ...['--log-level', 'info'],
        ...['--wait', '5m', '--sync-wait', '5m'],
      ],
      { KUBECONFIG: cluster.controlPlane.kubeconfigPath, CAPSTAN_GIT_ALLOW_HTTP: '1' },
    );
    allOutput.push(result.stdout, result.stderr);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);

    checkout = join(await makeTempDir('fleet'), 'fleet');
    await git(
      join(checkout, '..'),
      'clone',
      '--quiet',
      forge.cloneUrl(user.username, 'fleet', { username: user.username, token }),
      checkout,
    );
    await git(checkout, 'config', 'user.name', 'A Person');
    await git(checkout, 'config', 'user.email', 'person@example.invalid');
    const tree = await git(checkout, 'ls-files', CLUSTER_PATH);
    expect(tree.split('\n').filter(Boolean).sort()).toEqual([
      `${CLUSTER_PATH}/${NAMESPACE}/components.yaml`,
      `${CLUSTER_PATH}/${NAMESPACE}/sync.yaml`,
    ]);

    expect(rolledOut(await deployment())).toBe(true);
    const pods = await controllerPods();
    expect(pods).toHaveLength(2);
    for (const pod of pods) {
      expect(pod.node).toBe(cluster.controlPlane.realNode!.name);
      expect(pod.image).toBe(image);
      expect(pod.ready).toBe(true);
    }
    const leader = await eventually('a leader among the pods', leaderPod);
    expect(pods.map((p) => p.name)).toContain(leader.name);
  });

  it('serves /readyz behind the Service and logs JSON lines without secrets', async () => {
    const service = await kubectlJson<{ spec: { clusterIP: string } }>([
      'get',
      'service',
      DEPLOYMENT,
      '-n',
      NAMESPACE,
    ]);
    // From the host through kube-proxy's rules: the ClusterIP answers with a Ready replica.
    const answer = await eventually('the Service to answer /readyz', async () => {
      const response = await fetch(`http://${service.spec.clusterIP}/readyz`).catch(() => undefined);
      return response?.ok ? response.text() : undefined;
    });
    expect(answer).toBe('ok\n');

    const adminToken = cluster.controlPlane.users.admin.token;
    for (const pod of await controllerPods()) {
      const logs = await cluster.kubectlOk(['logs', '-n', NAMESPACE, pod.name]);
      const lines = logs.split('\n').filter(Boolean);
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
      expect(logs).not.toContain(token);
      expect(logs).not.toContain(adminToken);
      allOutput.push(logs);
    }
  });

  it('hands over when the leader pod is killed, and the new pod joins the Service only once /readyz passes', async () => {
    const leader = (await eventually('a leader', leaderPod))!;
    const before = await controllerPods();
    const standby = before.find((pod) => pod.name !== leader.name)!;

    // Watch the Service's endpoints while the replacement starts: it must be listed not ready first.
    const seen = new Map<string, boolean[]>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const slices = await kubectlJson<{ items: EndpointSliceJson[] }>([
          'get',
          'endpointslices',
          '-n',
          NAMESPACE,
          '-l',
          `kubernetes.io/service-name=${DEPLOYMENT}`,
        ]).catch(() => ({ items: [] }));
        for (const endpoint of slices.items.flatMap((s) => s.endpoints ?? [])) {
          const pod = endpoint.targetRef?.name ?? '';
          const states = seen.get(pod) ?? [];
          const ready = endpoint.conditions?.ready ?? false;
          if (states.at(-1) !== ready) states.push(ready);
          seen.set(pod, states);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();

    await cluster.kubectlOk(['delete', 'pod', '-n', NAMESPACE, leader.name, '--wait=false']);
    const next = await eventually('the standby to take the Lease', async () => {
      const pod = await leaderPod();
      return pod && pod.name !== leader.name ? pod : undefined;
    });
    // The old leader released the Lease on SIGTERM: the standby, or the replacement if it started
    // campaigning first, holds it now.
    expect([standby.name, ...(await controllerPods()).map((p) => p.name)]).toContain(next.name);
    await eventually('the Deployment to be whole again', async () =>
      rolledOut(await deployment()) ? true : undefined,
    );
    const replacement = await eventually('the replacement pod, Ready', async () => {
      const pod = (await controllerPods()).find((p) => !before.some((b) => b.uid === p.uid) && p.ready);
      return pod && (seen.get(pod.name) ?? []).includes(true) ? pod : undefined;
    });
    watching = false;
    await watcher;
    // Listed not ready while it started, ready once its probe passed: the probe gates the Service.
    expect(seen.get(replacement.name)).toEqual([false, true]);
  });

  it('applies a change to itself committed in Git: log level and replicas', async () => {
    const sha = await commitChange('components.yaml', 'capstan: debug logs, three replicas', (text) =>
      text.replace(/--log-level=info/, '--log-level=debug').replace(/^(\s+)replicas: 2$/m, '$1replicas: 3'),
    );
    const applied = await eventually(
      'Capstan to apply the commit to its own Deployment',
      async () => {
        const d = await deployment();
        return d && d.spec.replicas === 3 && rolledOut(d) ? d : undefined;
      },
      240_000,
    );
    expect(applied.spec.template.spec.containers[0]!.args).toContain('--log-level=debug');
    const pods = await controllerPods();
    expect(pods.filter((p) => !p.deleting)).toHaveLength(3);
    await readyAt(sha);
  }, 600_000);

  it('heals its own Deployment deleted by hand', async () => {
    const old = (await deployment())!;
    await cluster.kubectlOk(['delete', 'deployment', DEPLOYMENT, '-n', NAMESPACE, '--wait=false']);
    const healed = await eventually(
      'the Deployment to be re-created and rolled out',
      async () => {
        const d = await deployment();
        return d && d.metadata.uid !== old.metadata.uid && rolledOut(d) ? d : undefined;
      },
      240_000,
    );
    expect(healed.spec.replicas).toBe(3);
    await eventually('a leader again', leaderPod, 120_000);
    await readyAt(await git(checkout, 'rev-parse', 'HEAD'));
  }, 600_000);

  it('rolls back a broken upgrade: an image that does not exist never takes over', async () => {
    // The Application that manages Capstan is in Git too: a shorter health timeout is a commit.
    const healthy = await commitChange('sync.yaml', 'capstan: judge upgrades within 45 s', (text) =>
      text.replace(
        /^(\s+)serviceAccountName: capstan-self$/m,
        '$1serviceAccountName: capstan-self\n$1healthTimeout: 45s',
      ),
    );
    expect((await readyAt(healthy)).spec.healthTimeout).toBe('45s');
    const broken = await commitChange('components.yaml', 'capstan: a broken upgrade', (text) =>
      text.replaceAll(`image: ${image}`, `image: ${image}-missing`),
    );
    // The new ReplicaSet's pod cannot pull; the old replicas keep running and leading, see the
    // Application fail its health check, and roll the Deployment back to the healthy revision.
    await eventually(
      'the broken image to be tried',
      async () => ((await controllerPods()).some((p) => p.image.endsWith('-missing')) ? true : undefined),
      120_000,
    );
    const rolledBack = await eventually(
      'the rollback to the healthy image',
      async () => {
        const d = await deployment();
        const pods = await controllerPods();
        return d &&
          d.spec.template.spec.containers[0]!.image === image &&
          rolledOut(d) &&
          !pods.some((p) => p.image.endsWith('-missing'))
          ? d
          : undefined;
      },
      480_000,
    );
    expect(rolledBack.spec.replicas).toBe(3);
    const app = await selfApplication();
    expect(app.status?.rollback).toMatchObject({ from: broken, to: healthy });
  }, 600_000);

  it('never showed the Git password or a token in any output', () => {
    const everything = allOutput.join('\n');
    expect(everything).not.toContain(token);
    expect(everything).not.toContain(cluster.controlPlane.users.admin.token);
  });
});

interface EndpointSliceJson {
  endpoints?: { targetRef?: { name?: string }; conditions?: { ready?: boolean } }[];
}
