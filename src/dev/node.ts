/**
 * A real Kubernetes node beside the dev control plane: containerd, kubelet and kube-proxy (built from
 * the Kubernetes module, tools/node) running real containers with real probes, logs, limits and
 * crashes — where kwok's fake pods are not enough. See ../shared/NODE.md for why each setting is so.
 *
 * Pods reach the API server the way they do in any cluster: the `kubernetes` Service (10.0.0.1:443),
 * whose endpoint we publish (the API server's endpoint reconciler refuses loopback) as the host's
 * address and the API server's port, routed by kube-proxy's iptables rules.
 *
 * Nothing outlives the run: every path is under the node's own folder, every pod under one cgroup of
 * its own, and a record in `<state dir>/nodes/` lets the next start undo a crashed run
 * (src/dev/node-teardown.ts). One real node per host at a time: kube-proxy's rules are host-wide.
 */
import { randomBytes } from 'node:crypto';
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rename,
  rm,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvironmentError } from '../core/errors.js';
import { buildScratchImage, pushLocalImage } from './buildah.js';
import { freePort, waitFor } from './controlplane.js';
import { loopbackRequest, type LoopbackApi } from './http.js';
import {
  containerdConfig,
  cniConflist,
  hostAddress,
  kubeProxyConfig,
  kubeletConfig,
  nodePaths,
  registryHostsToml,
  type NodeLayout,
} from './node-config.js';
import { run, tearDownNode, type NodeRecord } from './node-teardown.js';
import { isProcessAlive, ProcessGroup, type SupervisedProcess } from './processes.js';
import type { ToolPaths } from './tools.js';

/** The Node object the real kubelet registers. */
export const REAL_NODE_NAME = 'capstan-real-node';

/** The tag of the pod sandbox image in the node's registry. */
const SANDBOX_REPOSITORY = 'capstan/pause:1';

export interface RealNodeInfo {
  readonly name: string;
  /** The node's IPv4 address (the host's), reachable from pods. */
  readonly address: string;
}

export interface RealNode extends RealNodeInfo {
  /** The pods' subnet (a /24 on the node's bridge). */
  readonly podSubnet: string;
  readonly processes: readonly SupervisedProcess[];
  /** Stops every process and removes every trace from the host. Safe to call more than once. */
  stop(): Promise<void>;
}

export interface RealNodeOptions {
  /** `127.0.0.1:PORT`: a registry (plain http) the pause image is pushed to and pods pull from. */
  readonly registry: string;
  /** The API server, as its admin (the node's components use the admin's credentials: tests only). */
  readonly api: LoopbackApi;
  readonly kubeconfig: string;
  readonly serviceSubnet: string;
  readonly tools: Pick<ToolPaths, 'kubelet' | 'kube-proxy' | 'pause'>;
  readonly stateDir: string;
  readonly progress?: (line: string) => void;
  readonly readyTimeoutMs: number;
}

/** Starts containerd, kubelet and kube-proxy and waits until the Node is Ready and Services route. */
export async function startRealNode(options: RealNodeOptions): Promise<RealNode> {
  const progress = options.progress ?? (() => {});
  for (const line of await cleanNodeLeftovers(options.stateDir)) progress(line);
  await refuseSecondNode(options.stateDir);

  const layout = await planLayout(options);
  const paths = nodePaths(layout);
  const recordPath = join(options.stateDir, 'nodes', `${process.pid}-${randomBytes(4).toString('hex')}.json`);
  const record: NodeRecord & { processes: NodeRecord['processes'][number][] } = {
    ownerPid: process.pid,
    baseDir: layout.baseDir,
    bridge: layout.bridge,
    networkName: layout.networkName,
    cgroupRoot: layout.cgroupRoot,
    containerdSocket: paths.containerdSocket,
    kubeProxy: options.tools['kube-proxy'],
    processes: [],
  };
  // Written before anything touches the host, so that a crash at any later point can be undone.
  await saveRecord(recordPath, record);
  const group = new ProcessGroup({ stateDir: options.stateDir, dataDir: paths.supervised });
  const startSupervised: StartSupervised = async (name, command, args) => {
    const proc = await group.start(name, command, args);
    record.processes.push({ name, pid: proc.pid, command });
    await saveRecord(recordPath, record);
    return proc;
  };

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await group.stopAll();
      const problems = await tearDownNode(record);
      for (const problem of problems) progress(`real node teardown: ${problem}`);
      await unlink(recordPath).catch(() => {});
    })();
    return stopping;
  };

  try {
    progress(`building the pause image and pushing it to ${options.registry}`);
    await pushPauseImage(options.tools.pause, layout);
    await writeNodeFiles(layout, options.kubeconfig);
    await createCgroupRoot(layout.cgroupRoot);
    await publishApiServerEndpoint(options.api, layout.address);

    progress(`starting containerd, kubelet and kube-proxy (node ${layout.nodeName} at ${layout.address})`);
    await startNodeProcesses(layout, options, startSupervised);
    return {
      name: layout.nodeName,
      address: layout.address,
      podSubnet: layout.podSubnet,
      processes: group.processes,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

type StartSupervised = (name: string, command: string, args: string[]) => Promise<SupervisedProcess>;

/** containerd, then the kubelet and kube-proxy; ready when the Node is Ready and Services route. */
async function startNodeProcesses(
  layout: NodeLayout,
  options: RealNodeOptions,
  startSupervised: StartSupervised,
): Promise<void> {
  const paths = nodePaths(layout);
  const containerd = await startSupervised('containerd', 'containerd', ['--config', paths.containerdConfig]);
  await waitFor('containerd to listen', containerd, options.readyTimeoutMs, () =>
    readdir(join(paths.containerdSocket, '..')).then((names) => names.includes('containerd.sock')),
  );
  const kubelet = await startSupervised('kubelet', options.tools.kubelet, [
    `--config=${paths.kubeletConfig}`,
    `--kubeconfig=${paths.kubeconfig}`,
    `--root-dir=${paths.kubeletRoot}`,
    `--cert-dir=${paths.kubeletCerts}`,
    `--hostname-override=${layout.nodeName}`,
    `--node-ip=${layout.address}`,
  ]);
  const kubeProxy = await startSupervised('kube-proxy', options.tools['kube-proxy'], [
    `--config=${paths.kubeProxyConfig}`,
  ]);
  await waitFor(`the Node ${layout.nodeName} to be Ready (kubelet)`, kubelet, options.readyTimeoutMs, () =>
    isNodeReady(options.api, layout.nodeName),
  );
  await waitFor('the kubernetes Service to be routed (kube-proxy)', kubeProxy, options.readyTimeoutMs, () =>
    isServiceRouted(firstServiceIp(options.serviceSubnet)),
  );
}

/**
 * Undoes the real nodes of runs whose owner died (the owner's watchdog killed kubelet and containerd,
 * but not the containers, mounts, rules and cgroups). Returns a line per run cleaned, for people.
 */
export async function cleanNodeLeftovers(stateDir: string): Promise<string[]> {
  const dir = join(stateDir, 'nodes');
  const lines: string[] = [];
  for (const name of (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json'))) {
    const path = join(dir, name);
    const record = await readRecord(path);
    if (!record) {
      await unlink(path).catch(() => {});
      continue;
    }
    if (isProcessAlive(record.ownerPid)) continue;
    const problems = await tearDownNode(record);
    await unlink(path).catch(() => {});
    lines.push(
      `cleaned up the real node of a crashed run (owner pid ${record.ownerPid}, ${record.baseDir})` +
        (problems.length > 0 ? `; could not finish: ${problems.join('; ')}` : ''),
    );
  }
  return lines;
}

async function refuseSecondNode(stateDir: string): Promise<void> {
  const dir = join(stateDir, 'nodes');
  for (const name of (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json'))) {
    const record = await readRecord(join(dir, name));
    if (record && isProcessAlive(record.ownerPid))
      throw new EnvironmentError(
        `another real node runs on this host (owner pid ${record.ownerPid}); kube-proxy's iptables rules are host-wide, so only one at a time`,
      );
  }
}

/** Names, ports, subnet and folder of this run's node. */
async function planLayout(options: RealNodeOptions): Promise<NodeLayout> {
  const id = randomBytes(4).toString('hex');
  const address = hostAddress(networkInterfaces());
  return {
    baseDir: await mkdtemp(join(tmpdir(), 'capstan-node-')),
    nodeName: REAL_NODE_NAME,
    address,
    podSubnet: freePodSubnet(),
    serviceSubnet: options.serviceSubnet,
    bridge: `cap-${id}`,
    networkName: `capstan-${id}`,
    cgroupRoot: `/capstan-node-${id}`,
    registry: options.registry,
    sandboxImage: `${options.registry}/${SANDBOX_REPOSITORY}`,
    ports: {
      kubelet: await freePort(),
      kubeletHealthz: await freePort(),
      proxyMetrics: await freePort(),
      proxyHealthz: await freePort(),
    },
  };
}

/** A /24 in 10.244.0.0/16 that no interface of the host is in (10.0.0.0/24 holds the Services). */
function freePodSubnet(): string {
  const used = new Set(
    Object.values(networkInterfaces())
      .flat()
      .filter((a) => a?.family === 'IPv4' && a.address.startsWith('10.244.'))
      .map((a) => a!.address.split('.')[2]),
  );
  for (let attempt = 0; attempt < 64; attempt++) {
    const third = String(1 + (randomBytes(1)[0]! % 254));
    if (!used.has(third)) return `10.244.${third}.0/24`;
  }
  throw new EnvironmentError('no free /24 for pods in 10.244.0.0/16');
}

/** The pause program in a scratch image, pushed to the node's registry as its sandbox image. */
async function pushPauseImage(pauseBinary: string, layout: NodeLayout): Promise<void> {
  const rootfs = join(layout.baseDir, 'pause-rootfs');
  await mkdir(rootfs, { recursive: true });
  await copyFile(pauseBinary, join(rootfs, 'pause'));
  await chmod(join(rootfs, 'pause'), 0o755);
  const local = 'localhost/capstan-pause:1';
  await buildScratchImage(rootfs, { entrypoint: ['/pause'], user: '65535:65535' }, local);
  await pushLocalImage(local, layout.sandboxImage);
  await rm(rootfs, { recursive: true, force: true });
}

async function writeNodeFiles(layout: NodeLayout, kubeconfig: string): Promise<void> {
  const paths = nodePaths(layout);
  const hostsDir = join(paths.registryHosts, layout.registry);
  for (const dir of [hostsDir, paths.cniConfDir, paths.cniIpamDir, paths.kubeletRoot, paths.podLogs])
    await mkdir(dir, { recursive: true });
  await writeFile(join(hostsDir, 'hosts.toml'), registryHostsToml(layout.registry));
  await writeFile(paths.containerdConfig, containerdConfig(layout));
  await writeFile(join(paths.cniConfDir, '10-capstan.conflist'), cniConflist(layout));
  await writeFile(paths.kubeletConfig, kubeletConfig(layout));
  await writeFile(paths.kubeProxyConfig, kubeProxyConfig(layout));
  await writeFile(paths.kubeconfig, kubeconfig, { mode: 0o600 });
}

/**
 * The kubelet wants its cgroup root to exist in every hierarchy. A new cpuset cgroup starts with no
 * CPUs and no memory nodes (no process could join it): it gets its parent's.
 */
async function createCgroupRoot(cgroupRoot: string): Promise<void> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  const hierarchies = mountinfo
    .split('\n')
    .filter((line) => / - cgroup2? /.test(line))
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point.startsWith('/sys/fs/cgroup/'));
  for (const hierarchy of hierarchies) {
    const dir = join(hierarchy, cgroupRoot);
    await mkdir(dir, { recursive: true });
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      const inherited = await readFile(join(hierarchy, file), 'utf8').catch(() => undefined);
      if (inherited !== undefined) await writeFile(join(dir, file), inherited.trim() || '0');
    }
  }
}

/**
 * The `kubernetes` Service's endpoint: the host's address and the API server's port. Both the
 * Endpoints (what in-cluster clients of old read) and the EndpointSlice (what kube-proxy reads).
 */
async function publishApiServerEndpoint(api: LoopbackApi, address: string): Promise<void> {
  const port = Number(new URL(api.server).port);
  const endpoints = {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: {
      name: 'kubernetes',
      namespace: 'default',
      // Published as a slice below; the mirroring controller must not add a second one.
      labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' },
    },
    subsets: [{ addresses: [{ ip: address }], ports: [{ name: 'https', port, protocol: 'TCP' }] }],
  };
  const slice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: 'kubernetes',
      namespace: 'default',
      labels: {
        'kubernetes.io/service-name': 'kubernetes',
        'endpointslice.kubernetes.io/managed-by': 'capstan-real-node',
      },
    },
    addressType: 'IPv4',
    endpoints: [{ addresses: [address], conditions: { ready: true } }],
    ports: [{ name: 'https', port, protocol: 'TCP' }],
  };
  await createOrReplace(api, '/api/v1/namespaces/default/endpoints', 'kubernetes', endpoints);
  await createOrReplace(
    api,
    '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices',
    'kubernetes',
    slice,
  );
}

async function createOrReplace(
  api: LoopbackApi,
  collection: string,
  name: string,
  object: unknown,
): Promise<void> {
  let response = await loopbackRequest(api, 'POST', collection, JSON.stringify(object));
  if (response.status === 409)
    response = await loopbackRequest(api, 'PUT', `${collection}/${name}`, JSON.stringify(object));
  if (response.status >= 300)
    throw new EnvironmentError(
      `writing ${collection}/${name} failed (HTTP ${response.status}): ${response.body.slice(0, 500)}`,
    );
}

async function isNodeReady(api: LoopbackApi, name: string): Promise<boolean> {
  const response = await loopbackRequest(api, 'GET', `/api/v1/nodes/${name}`);
  if (response.status !== 200) return false;
  const conditions = (
    JSON.parse(response.body) as { status?: { conditions?: { type: string; status: string }[] } }
  ).status?.conditions;
  return conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Whether kube-proxy has written the rules that send `serviceIp` to its endpoints. */
async function isServiceRouted(serviceIp: string): Promise<boolean> {
  const nat = await run('iptables-save', ['-t', 'nat']);
  return nat.split('\n').some((line) => line.includes(`-d ${serviceIp}/32`) && line.includes('-j KUBE-SVC-'));
}

/** The first address of a Service range: the `kubernetes` Service's ClusterIP. */
export function firstServiceIp(serviceSubnet: string): string {
  const [base] = serviceSubnet.split('/');
  const octets = (base ?? '').split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255))
    throw new EnvironmentError(`not an IPv4 range: ${serviceSubnet}`);
  const value = ((octets[0]! << 24) >>> 0) + (octets[1]! << 16) + (octets[2]! << 8) + octets[3]! + 1;
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

async function saveRecord(path: string, record: NodeRecord): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(`${path}.partial`, JSON.stringify(record, null, 2));
  await rename(`${path}.partial`, path);
}

async function readRecord(path: string): Promise<NodeRecord | undefined> {
  try {
    const record = JSON.parse(await readFile(path, 'utf8')) as Partial<NodeRecord>;
    const strings = [
      record.baseDir,
      record.bridge,
      record.networkName,
      record.cgroupRoot,
      record.containerdSocket,
      record.kubeProxy,
    ];
    if (
      typeof record.ownerPid !== 'number' ||
      strings.some((s) => typeof s !== 'string' || s === '') ||
      !Array.isArray(record.processes)
    )
      return undefined;
    // A record names what teardown deletes: only our own kind of names are accepted.
    if (
      !record.baseDir!.includes('/capstan-node-') ||
      !record.cgroupRoot!.startsWith('/capstan-node-') ||
      !record.bridge!.startsWith('cap-')
    )
      return undefined;
    return record as NodeRecord;
  } catch {
    return undefined;
  }
}
