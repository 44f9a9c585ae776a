/**
 * A real Kubernetes control plane on loopback, for tests and for `capstan dev cluster`: etcd and
 * kube-apiserver (RBAC on, token auth), and optionally kube-controller-manager, kube-scheduler and
 * kwok with a fake Node, so that Deployments roll out and become Available.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvironmentError, UserError, messageOf } from '../core/errors.js';
import { backoffDelay, sleep } from '../core/time.js';
import { ProcessGroup, cleanLeftovers, type Leftover, type SupervisedProcess } from './processes.js';
import { defaultCacheDir, ensureTools, TOOL_SPECS, type ToolName, type ToolPaths } from './tools.js';
import { waitForHttp, loopbackRequest } from './http.js';
import { cleanNodeLeftovers, startRealNode, type RealNode, type RealNodeInfo } from './node.js';

/** A user the apiserver knows by a bearer token. */
export interface ControlPlaneUser {
  readonly name: string;
  readonly token: string;
  readonly groups: readonly string[];
  /** A kubeconfig (YAML) that authenticates as this user. */
  readonly kubeconfig: string;
}

export interface ControlPlane {
  /** The admin's kubeconfig (YAML); the admin is in `system:masters`. */
  readonly kubeconfig: string;
  /** The same kubeconfig, written to a file that lives as long as the control plane. */
  readonly kubeconfigPath: string;
  /** `https://127.0.0.1:<port>` */
  readonly server: string;
  /** PEM of the CA that signed the apiserver's serving certificate. */
  readonly caCertificate: string;
  readonly users: { readonly admin: ControlPlaneUser; readonly unprivileged: ControlPlaneUser };
  readonly tools: ToolPaths;
  readonly processes: readonly SupervisedProcess[];
  /** Whether controller-manager, scheduler and kwok run (workloads roll out). */
  readonly withWorkloads: boolean;
  /** The real node (kubelet + containerd + kube-proxy), when `realNode` was asked for. */
  readonly realNode?: RealNodeInfo;
  /** Stops every process and removes the temporary data. Safe to call more than once. */
  stop(): Promise<void>;
}

export interface ControlPlaneOptions {
  /** Also run kube-controller-manager, kube-scheduler and kwok with one fake Node. */
  readonly workloads?: boolean;
  /**
   * Instead of kwok's fake Node, a real one (src/dev/node.ts) whose pods pull from `registry`
   * (`127.0.0.1:PORT`, plain http; the pause image is pushed there). Needs `workloads`, root, and
   * the host's non-loopback IPv4 address: the API server then listens on all addresses.
   */
  readonly realNode?: { readonly registry: string };
  /** Tools to run; default `ensureTools()` (which builds missing ones). */
  readonly tools?: ToolPaths;
  /** Progress lines for people (tool builds, start-up steps). */
  readonly progress?: (line: string) => void;
  /** Holds run records for leftover cleaning; default `<cache dir>/state`. */
  readonly stateDir?: string;
  /** Fixed ports instead of free ones (mostly for tests of the port-in-use error). */
  readonly ports?: { readonly etcd?: number; readonly etcdPeer?: number; readonly apiserver?: number };
  /** Stop on SIGINT/SIGTERM of this process (then re-raise the signal). Default true. */
  readonly handleSignals?: boolean;
  /** How long each process may take to become ready. Default 60 s. */
  readonly readyTimeoutSeconds?: number;
}

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** The Services' range; the `kubernetes` Service is its first address (10.0.0.1). */
const SERVICE_SUBNET = '10.0.0.0/24';

/** Every tool but the real node's (tools/node), for runs without one. */
const WITHOUT_NODE: readonly ToolName[] = [
  ...TOOL_SPECS.filter((spec) => spec.module !== 'node').map((spec) => spec.name),
  'gitea',
];

/** The fake Node kwok manages. */
export const FAKE_NODE_NAME = 'capstan-node-0';

/**
 * How the fake Node's heartbeat is timed, as a kubelet's defaults are. kwok renews the Node's Lease
 * in `kube-node-lease` every quarter of its duration (10 s); the controller-manager checks every
 * `monitorPeriodSeconds` and, after `monitorGracePeriodSeconds` without a renewal, marks the Node
 * unhealthy and every pod on it `Ready=False` — which kwok never undoes, so every Deployment would stay
 * unavailable. Without a Lease (kwok without `--node-lease-duration-seconds`) the Node's only heartbeat
 * is a status patch about once a minute, later than the grace period: that is issue 9. The grace
 * period is not shortened: the pods of a Node that misses it once never recover (the Node itself turns
 * Ready again at its next status patch, its pods do not), and the controller-manager's own help
 * asks for more than 45 s (HTTP/2 ping and read-idle timeouts) so that one stalled connection is not
 * mistaken for a dead node.
 */
export const NODE_HEARTBEAT = {
  leaseDurationSeconds: 40,
  monitorGracePeriodSeconds: 50,
  monitorPeriodSeconds: 5,
} as const;

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const progress = options.progress ?? (() => {});
  if (options.realNode && !options.workloads)
    throw new UserError('a real node needs the workload controllers: pass workloads: true with realNode');
  // The node's tools (kubelet: ~8 min cold) are built only for a run that asks for a real node.
  const tools =
    options.tools ?? (await ensureTools({ progress, only: options.realNode ? undefined : WITHOUT_NODE }));
  const stateDir = options.stateDir ?? join(defaultCacheDir(), 'state');
  const readyTimeoutMs = (options.readyTimeoutSeconds ?? 60) * 1000;

  for (const leftover of await cleanLeftovers(stateDir)) progress(describeLeftover(leftover));
  // A crashed run's real node keeps its containers, mounts and rules until someone undoes them.
  for (const line of await cleanNodeLeftovers(stateDir)) progress(line);

  const dataDir = await mkdtemp(join(tmpdir(), 'capstan-controlplane-'));
  const group = new ProcessGroup({ stateDir, dataDir });
  const { stop, stopFirst } = stopControl(group, options.handleSignals ?? true);

  try {
    const launch: Launch = { group, tools, dataDir, progress, readyTimeoutMs };
    const ports = {
      etcd: options.ports?.etcd ?? (await freePort()),
      etcdPeer: options.ports?.etcdPeer ?? (await freePort()),
      apiserver: options.ports?.apiserver ?? (await freePort()),
    };
    for (const [name, port] of Object.entries(ports)) await assertPortFree(name, port);
    const etcdUrl = await startEtcd(launch, ports);
    const users = makeUsers();
    const apiserver = await startApiserver(launch, {
      etcdUrl,
      port: ports.apiserver,
      users,
      // Pods of a real node reach the API server at the host's address (the kubernetes Service's endpoint).
      bindAddress: options.realNode ? '0.0.0.0' : '127.0.0.1',
    });
    const { server, caCertificate } = apiserver;
    const kubeconfigs = users.map((u) => ({ ...u, kubeconfig: kubeconfigFor(server, caCertificate, u) }));
    const kubeconfigPath = join(dataDir, 'kubeconfig');
    await writeFile(kubeconfigPath, kubeconfigs[0]!.kubeconfig, { mode: 0o600 });
    await writeFile(join(dataDir, 'kubeconfig-unprivileged'), kubeconfigs[1]!.kubeconfig, { mode: 0o600 });

    const api = { server, caCertificate, token: users[0]!.token };
    let realNode: RealNodeInfo | undefined;
    if (options.workloads) {
      const node = await startWorkloads(launch, {
        kubeconfigPath,
        kubeconfig: kubeconfigs[0]!.kubeconfig,
        apiserver,
        api,
        stateDir,
        ...(options.realNode ? { realNode: options.realNode } : {}),
      });
      if (node) stopFirst(node.stop);
      realNode = node && { name: node.name, address: node.address };
    }

    return {
      kubeconfig: kubeconfigs[0]!.kubeconfig,
      kubeconfigPath,
      server,
      caCertificate,
      users: { admin: kubeconfigs[0]!, unprivileged: kubeconfigs[1]! },
      tools,
      processes: group.processes,
      withWorkloads: options.workloads ?? false,
      ...(realNode ? { realNode } : {}),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Stopping, once however often asked: the real node first (its kubelet must not outlive the API
 * server it reports to, and its teardown needs nothing of the control plane), then every process;
 * also on SIGINT/SIGTERM/SIGHUP when `handleSignals`, then dying of the signal as if unhandled.
 */
function stopControl(
  group: ProcessGroup,
  handleSignals: boolean,
): { stop: () => Promise<void>; stopFirst: (step: () => Promise<void>) => void } {
  let stopping: Promise<void> | undefined;
  let first: (() => Promise<void>) | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (first?.() ?? Promise.resolve())
      .then(() => group.stopAll())
      .finally(() => {
        for (const signal of SIGNALS) process.removeListener(signal, onSignal);
      });
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    // A repeated signal (Ctrl-C is often delivered twice) finds the listener still there and waits.
    if (stopping) return;
    void stop().finally(() => {
      // Behave as if we had not been listening: die of the signal unless someone else handles it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  };
  if (handleSignals) for (const signal of SIGNALS) process.on(signal, onSignal);
  return { stop, stopFirst: (step) => (first = step) };
}

/** What each start-up step needs: where processes go, their binaries, data and patience. */
interface Launch {
  readonly group: ProcessGroup;
  readonly tools: ToolPaths;
  readonly dataDir: string;
  readonly progress: (line: string) => void;
  readonly readyTimeoutMs: number;
}

interface RunningApiserver {
  readonly server: string;
  readonly caCertificate: string;
  readonly certDir: string;
  /** The ServiceAccount token signing key (the controller-manager signs with it too). */
  readonly serviceAccountKey: string;
}

/** etcd on loopback, without fsyncs; resolves with its client URL once healthy. */
async function startEtcd(launch: Launch, ports: { etcd: number; etcdPeer: number }): Promise<string> {
  const etcdUrl = `http://127.0.0.1:${ports.etcd}`;
  launch.progress(`starting etcd on ${etcdUrl}`);
  const etcd = await launch.group.start('etcd', launch.tools.etcd, [
    `--data-dir=${join(launch.dataDir, 'etcd')}`,
    `--listen-client-urls=${etcdUrl}`,
    `--advertise-client-urls=${etcdUrl}`,
    `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
    `--initial-cluster=default=http://127.0.0.1:${ports.etcdPeer}`,
    // Test data is thrown away: durability is not worth the fsyncs.
    '--unsafe-no-fsync=true',
    '--log-level=warn',
  ]);
  await waitForHttp(`${etcdUrl}/health`, { process: etcd, timeoutMs: launch.readyTimeoutMs });
  return etcdUrl;
}

/** kube-apiserver with RBAC and token auth for `users`; resolves once /readyz answers the admin. */
async function startApiserver(
  launch: Launch,
  settings: { etcdUrl: string; port: number; users: readonly ControlPlaneUser[]; bindAddress: string },
): Promise<RunningApiserver> {
  const { dataDir } = launch;
  const server = `https://127.0.0.1:${settings.port}`;
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const certDir = join(dataDir, 'pki');
  const files = {
    tokens: join(dataDir, 'tokens.csv'),
    saPublic: join(dataDir, 'sa.pub'),
    saPrivate: join(dataDir, 'sa.key'),
  };
  await writeFile(
    files.tokens,
    settings.users.map((u) => `${u.token},${u.name},${u.name},"${u.groups.join(',')}"`).join('\n') + '\n',
    { mode: 0o600 },
  );
  await writeFile(files.saPublic, publicKey);
  await writeFile(files.saPrivate, privateKey, { mode: 0o600 });

  launch.progress(`starting kube-apiserver on ${server}`);
  const apiserver = await launch.group.start('kube-apiserver', launch.tools['kube-apiserver'], [
    `--etcd-servers=${settings.etcdUrl}`,
    `--cert-dir=${certDir}`,
    `--secure-port=${settings.port}`,
    `--bind-address=${settings.bindAddress}`,
    '--advertise-address=127.0.0.1',
    // The kubelet's serving address for logs and exec: the node's IPv4, not its hostname.
    '--kubelet-preferred-address-types=InternalIP',
    // The endpoint reconciler refuses loopback addresses; a real node's harness writes the kubernetes Service's endpoints.
    '--endpoint-reconciler-type=none',
    `--service-cluster-ip-range=${SERVICE_SUBNET}`,
    '--authorization-mode=RBAC',
    `--token-auth-file=${files.tokens}`,
    `--service-account-issuer=${server}`,
    `--service-account-key-file=${files.saPublic}`,
    `--service-account-signing-key-file=${files.saPrivate}`,
    '--allow-privileged=true',
  ]);
  await waitForHttp(`${server}/readyz`, {
    process: apiserver,
    timeoutMs: launch.readyTimeoutMs,
    token: settings.users[0]!.token,
  });
  const caCertificate = await readFile(join(certDir, 'apiserver.crt'), 'utf8');
  return { server, caCertificate, certDir, serviceAccountKey: files.saPrivate };
}

/**
 * The controller-manager and scheduler, and where pods run: kwok's fake Node, or a real node
 * (which is then returned, to be stopped first).
 */
async function startWorkloads(
  launch: Launch,
  settings: {
    kubeconfigPath: string;
    kubeconfig: string;
    apiserver: RunningApiserver;
    api: { server: string; caCertificate: string; token: string };
    stateDir: string;
    realNode?: { readonly registry: string };
  },
): Promise<RealNode | undefined> {
  const { api } = settings;
  const readyTimeout = launch.readyTimeoutMs;
  launch.progress(`starting kube-controller-manager, kube-scheduler${settings.realNode ? '' : ' and kwok'}`);
  const controllerManager = await startWorkloadControllers(
    launch,
    settings.kubeconfigPath,
    settings.apiserver,
  );
  if (settings.realNode) {
    // kwok's fake Node is not started: the scheduler's only choice is the real one.
    await waitForDefaultServiceAccount(api, controllerManager, readyTimeout);
    return startRealNode({
      registry: settings.realNode.registry,
      api,
      kubeconfig: settings.kubeconfig,
      serviceSubnet: SERVICE_SUBNET,
      tools: launch.tools,
      stateDir: settings.stateDir,
      progress: launch.progress,
      readyTimeoutMs: readyTimeout,
    });
  }
  const kwok = await startKwok(launch, settings.kubeconfigPath, api);
  // The controller-manager works once it has made the default ServiceAccount (pods need it), and
  // kwok once the fake node is Ready and holds its Lease (kwok runs pods only on nodes whose Lease
  // it holds, and without renewals the controller-manager marks them all not Ready).
  await waitForDefaultServiceAccount(api, controllerManager, readyTimeout);
  await waitForFakeNode(api, kwok, readyTimeout);
  return undefined;
}

/** kube-controller-manager and kube-scheduler; resolves with the controller-manager's process. */
async function startWorkloadControllers(
  launch: Launch,
  kubeconfigPath: string,
  apiserver: RunningApiserver,
): Promise<SupervisedProcess> {
  const controllerManager = await launch.group.start(
    'kube-controller-manager',
    launch.tools['kube-controller-manager'],
    [
      `--kubeconfig=${kubeconfigPath}`,
      `--service-account-private-key-file=${apiserver.serviceAccountKey}`,
      `--root-ca-file=${join(apiserver.certDir, 'apiserver.crt')}`,
      '--use-service-account-credentials=false',
      '--leader-elect=false',
      '--secure-port=0',
      // Tokens are minted on demand (TokenRequest); the legacy token controller is not needed.
      '--controllers=*,-serviceaccount-token',
      // The defaults, spelled out because kwok's lease renewals must fit in them (NODE_HEARTBEAT).
      `--node-monitor-grace-period=${NODE_HEARTBEAT.monitorGracePeriodSeconds}s`,
      `--node-monitor-period=${NODE_HEARTBEAT.monitorPeriodSeconds}s`,
    ],
  );
  await launch.group.start('kube-scheduler', launch.tools['kube-scheduler'], [
    `--kubeconfig=${kubeconfigPath}`,
    '--leader-elect=false',
    '--secure-port=0',
  ]);
  return controllerManager;
}

/** kwok and its fake Node; resolves with kwok's process. */
async function startKwok(
  launch: Launch,
  kubeconfigPath: string,
  api: { server: string; caCertificate: string; token: string },
): Promise<SupervisedProcess> {
  const kwok = await launch.group.start('kwok', launch.tools.kwok, [
    `--kubeconfig=${kubeconfigPath}`,
    '--manage-all-nodes=true',
    `--server-address=127.0.0.1:${await freePort()}`,
    `--config=${launch.tools.kwokStages}`,
    // The Node's heartbeat: without it the controller-manager gives up on the Node (see NODE_HEARTBEAT).
    `--node-lease-duration-seconds=${NODE_HEARTBEAT.leaseDurationSeconds}`,
  ]);
  await createFakeNode(api);
  return kwok;
}

/** Until kwok's fake Node is Ready and holds its Lease. */
async function waitForFakeNode(
  api: { server: string; caCertificate: string; token: string },
  kwok: SupervisedProcess,
  readyTimeoutMs: number,
): Promise<void> {
  await waitFor('the fake Node to be Ready (kwok)', kwok, readyTimeoutMs, async () => {
    const response = await loopbackRequest(api, 'GET', `/api/v1/nodes/${FAKE_NODE_NAME}`);
    const conditions = (
      JSON.parse(response.body) as { status?: { conditions?: { type: string; status: string }[] } }
    ).status?.conditions;
    return conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  });
  await waitFor("the fake Node's Lease in kube-node-lease (kwok)", kwok, readyTimeoutMs, async () => {
    const response = await loopbackRequest(
      api,
      'GET',
      `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${FAKE_NODE_NAME}`,
    );
    if (response.status !== 200) return false;
    const spec = (JSON.parse(response.body) as { spec?: { holderIdentity?: string; renewTime?: string } })
      .spec;
    return Boolean(spec?.holderIdentity && spec.renewTime);
  });
}

function makeUsers(): ControlPlaneUser[] {
  const token = (): string => randomBytes(24).toString('hex');
  return [
    { name: 'capstan-admin', token: token(), groups: ['system:masters'], kubeconfig: '' },
    // Gets only what RBAC grants it: for least-privilege and impersonation tests.
    { name: 'capstan-unprivileged', token: token(), groups: ['capstan:unprivileged'], kubeconfig: '' },
  ];
}

function kubeconfigFor(server: string, ca: string, user: ControlPlaneUser): string {
  const caData = Buffer.from(ca).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: capstan-dev',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${caData}`,
    'users:',
    `- name: ${user.name}`,
    '  user:',
    `    token: ${user.token}`,
    'contexts:',
    `- name: ${user.name}@capstan-dev`,
    '  context:',
    '    cluster: capstan-dev',
    `    user: ${user.name}`,
    `current-context: ${user.name}@capstan-dev`,
    '',
  ].join('\n');
}

async function createFakeNode(api: { server: string; caCertificate: string; token: string }): Promise<void> {
  const node = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: FAKE_NODE_NAME,
      annotations: { 'kwok.x-k8s.io/node': 'fake' },
      labels: { 'kubernetes.io/hostname': FAKE_NODE_NAME, type: 'kwok' },
    },
    status: {
      allocatable: { cpu: '32', memory: '256Gi', pods: '110' },
      capacity: { cpu: '32', memory: '256Gi', pods: '110' },
    },
  };
  const response = await loopbackRequest(api, 'POST', '/api/v1/nodes', JSON.stringify(node));
  if (response.status !== 201)
    throw new EnvironmentError(
      `creating the fake Node failed (HTTP ${response.status}): ${response.body.slice(0, 500)}`,
    );
}

/** The controller-manager works once it has made the default ServiceAccount (pods need it). */
function waitForDefaultServiceAccount(
  api: { server: string; caCertificate: string; token: string },
  controllerManager: SupervisedProcess,
  timeoutMs: number,
): Promise<void> {
  return waitFor('the default ServiceAccount (kube-controller-manager)', controllerManager, timeoutMs, () =>
    loopbackRequest(api, 'GET', '/api/v1/namespaces/default/serviceaccounts/default').then(
      (r) => r.status === 200,
    ),
  );
}

/** Waits (short, bounded retries) until `check` holds, failing early if `process` exits. */
export async function waitFor(
  what: string,
  proc: SupervisedProcess,
  timeoutMs: number,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (let attempt = 0; ; attempt++) {
    if (!proc.running()) {
      throw new EnvironmentError(
        `${proc.name} exited while waiting for ${what}; its last lines:\n${await proc.lastLines(20)}`,
      );
    }
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new EnvironmentError(
        `timed out waiting for ${what}${lastError ? ` (${messageOf(lastError)})` : ''}; last lines of ${proc.name}:\n${await proc.lastLines(20)}`,
      );
    }
    await sleep(backoffDelay(attempt, { initialMs: 50, maxMs: 500 }));
  }
}

/** A port the kernel says is free now. Another process may take it before we bind; start-up then fails clearly. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (error) =>
      reject(
        new EnvironmentError(
          `no free TCP port on 127.0.0.1 (${(error as NodeJS.ErrnoException).code ?? messageOf(error)})`,
          { cause: error },
        ),
      ),
    );
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function assertPortFree(name: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once('error', (error) =>
      reject(
        new EnvironmentError(
          `port 127.0.0.1:${port} (for ${name}) is not free: ${(error as NodeJS.ErrnoException).code ?? messageOf(error)}`,
          {
            cause: error,
          },
        ),
      ),
    );
    server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
  });
}

function describeLeftover(leftover: Leftover): string {
  const killed = leftover.killed.map((k) => `${k.name} (pid ${k.pid})`).join(', ') || 'no live processes';
  return `cleaned up after a crashed run (owner pid ${leftover.ownerPid}): stopped ${killed}, removed ${leftover.dataDir}`;
}
