/**
 * The configuration files of the real test node (src/dev/node.ts): containerd, the CNI network,
 * kubelet and kube-proxy. Pure functions of a `NodeLayout`, so they are unit-tested without a node.
 *
 * Every path a component would otherwise put under /run, /var/lib, /var/log or /etc lives under the
 * node's own folder: two runs never share a socket, a runc state folder or an IPAM database.
 */
import type { NetworkInterfaceInfo } from 'node:os';
import { join } from 'node:path';
import { EnvironmentError } from '../core/errors.js';

/** Where one real node keeps everything, and the names it owns on the host. */
export interface NodeLayout {
  /** The node's folder; removed on stop (after every mount under it is gone). */
  readonly baseDir: string;
  /** The Node object's name. */
  readonly nodeName: string;
  /** The host's IPv4 address the node registers and pods reach the host (and the API server) at. */
  readonly address: string;
  /** The pods' subnet (one /24), the CNI bridge's range and kube-proxy's clusterCIDR. */
  readonly podSubnet: string;
  /** The Services' range of the API server. */
  readonly serviceSubnet: string;
  /** The Linux bridge the CNI plugin creates (at most 15 characters). */
  readonly bridge: string;
  /** The CNI network's name: the comment on every iptables rule the CNI plugins add for it. */
  readonly networkName: string;
  /** The cgroup (in every v1 hierarchy) that holds every pod: `/capstan-node-<id>`. */
  readonly cgroupRoot: string;
  /** `127.0.0.1:PORT`: the registry pods pull from over plain http, and the pause image's home. */
  readonly registry: string;
  /** The pod sandbox image, in `registry`. */
  readonly sandboxImage: string;
  readonly ports: {
    readonly kubelet: number;
    readonly kubeletHealthz: number;
    readonly proxyMetrics: number;
    readonly proxyHealthz: number;
  };
}

/** The paths derived from a layout; one place so that start and teardown agree. */
export function nodePaths(layout: Pick<NodeLayout, 'baseDir'>) {
  const base = layout.baseDir;
  return {
    /** The ProcessGroup's data folder: logs only, so generic leftover cleaning never meets a mount. */
    supervised: join(base, 'supervised'),
    containerdConfig: join(base, 'containerd.toml'),
    containerdRoot: join(base, 'containerd', 'root'),
    containerdState: join(base, 'containerd', 'state'),
    containerdOpt: join(base, 'containerd', 'opt'),
    containerdSocket: join(base, 'containerd', 'containerd.sock'),
    registryHosts: join(base, 'containerd', 'certs.d'),
    runcRoot: join(base, 'runc'),
    cniConfDir: join(base, 'cni', 'net.d'),
    cniIpamDir: join(base, 'cni', 'ipam'),
    kubeletRoot: join(base, 'kubelet'),
    kubeletCerts: join(base, 'kubelet-pki'),
    kubeletConfig: join(base, 'kubelet.yaml'),
    podLogs: join(base, 'pod-logs'),
    kubeconfig: join(base, 'kubeconfig'),
    kubeProxyConfig: join(base, 'kube-proxy.yaml'),
  };
}

/**
 * The host's first non-loopback IPv4 address: the node's InternalIP. Pods reach the host there (their
 * bridge's gateway routes to it), which is where the `kubernetes` Service's endpoint points.
 */
export function hostAddress(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): string {
  for (const [name, addresses] of Object.entries(interfaces)) {
    // A bridge of an earlier node run (or podman's) is not the host's address.
    if (name.startsWith('cap-') || name.startsWith('cni') || name.startsWith('podman')) continue;
    const found = addresses?.find((a) => a.family === 'IPv4' && !a.internal);
    if (found) return found.address;
  }
  throw new EnvironmentError(
    'a real node needs a non-loopback IPv4 address on this machine (kubelet refuses 127.0.0.1) and found none',
  );
}

/** Containerd 1.6's CRI config (version 2), as ../shared/NODE.md found it must be on this machine. */
export function containerdConfig(layout: NodeLayout): string {
  const paths = nodePaths(layout);
  const cri = '[plugins."io.containerd.grpc.v1.cri"]';
  return [
    'version = 2',
    `root = ${toml(paths.containerdRoot)}`,
    `state = ${toml(paths.containerdState)}`,
    // Unused here, and each would probe the host for kernel modules or tools at start-up.
    'disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]',
    '[grpc]',
    `  address = ${toml(paths.containerdSocket)}`,
    '[debug]',
    '  address = ""',
    '[metrics]',
    '  address = ""',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${toml(paths.containerdOpt)}`,
    cri,
    `  sandbox_image = ${toml(layout.sandboxImage)}`,
    // Root here lacks CAP_SYS_RESOURCE: without this every sandbox fails ("can't get final child's PID").
    '  restrict_oom_score_adj = true',
    // Network namespaces are bind-mounted under our state folder, not /var/run/netns.
    '  netns_mounts_under_state_dir = true',
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    '  enable_selinux = false',
    '  disable_apparmor = true',
    `${cri.slice(0, -1)}.containerd]`,
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    `${cri.slice(0, -1)}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `${cri.slice(0, -1)}.containerd.runtimes.runc.options]`,
    '  BinaryName = "/usr/bin/runc"',
    '  SystemdCgroup = false',
    `  Root = ${toml(paths.runcRoot)}`,
    `${cri.slice(0, -1)}.cni]`,
    '  bin_dir = "/usr/lib/cni"',
    `  conf_dir = ${toml(paths.cniConfDir)}`,
    '  max_conf_num = 1',
    `${cri.slice(0, -1)}.registry]`,
    `  config_path = ${toml(paths.registryHosts)}`,
    '',
  ].join('\n');
}

/** `certs.d/<host>/hosts.toml`: pull from the local registry over plain http. */
export function registryHostsToml(registry: string): string {
  return [
    `server = ${toml(`http://${registry}`)}`,
    `[host.${toml(`http://${registry}`)}]`,
    '  capabilities = ["pull", "resolve"]',
    '',
  ].join('\n');
}

/**
 * A bridge with host-local IPAM and portmap. `isGateway` makes the bridge the pods' default route
 * (so they reach the host and, through kube-proxy's rules, Service IPs); `ipMasq` lets them out.
 */
export function cniConflist(layout: NodeLayout): string {
  const paths = nodePaths(layout);
  return JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: layout.networkName,
      plugins: [
        {
          type: 'bridge',
          bridge: layout.bridge,
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: layout.podSubnet }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: paths.cniIpamDir,
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

/**
 * The kubelet's configuration. Why each unusual setting:
 * - `cgroupRoot` (a cgroup of this run, created beforehand in every hierarchy) with `cgroupsPerQOS`:
 *   pods get real pod and QoS cgroups (limits enforced as on any node), and everything of this run is
 *   one subtree that teardown can empty and remove without touching another run's or the host's.
 * - `failCgroupV1: false`, `cgroupDriver: cgroupfs`: the host has cgroup v1 and no systemd.
 * - `oomScoreAdj: 0`: root here cannot lower scores (no CAP_SYS_RESOURCE).
 * - anonymous + AlwaysAllow: the API server reaches the kubelet (logs, exec) without client
 *   certificates. Tests only: the kubelet listens on the node address alone, on a free port.
 * - eviction and image GC thresholds that never trigger on a busy shared disk.
 */
export function kubeletConfig(layout: NodeLayout): string {
  const paths = nodePaths(layout);
  return JSON.stringify(
    {
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      address: layout.address,
      port: layout.ports.kubelet,
      readOnlyPort: 0,
      healthzBindAddress: '127.0.0.1',
      healthzPort: layout.ports.kubeletHealthz,
      containerRuntimeEndpoint: `unix://${paths.containerdSocket}`,
      cgroupDriver: 'cgroupfs',
      cgroupRoot: layout.cgroupRoot,
      cgroupsPerQOS: true,
      failCgroupV1: false,
      failSwapOn: false,
      oomScoreAdj: 0,
      podLogsDir: paths.podLogs,
      authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
      authorization: { mode: 'AlwaysAllow' },
      evictionHard: {
        'memory.available': '1Mi',
        'nodefs.available': '1%',
        'nodefs.inodesFree': '1%',
        'imagefs.available': '1%',
      },
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      serializeImagePulls: false,
      resolvConf: '/etc/resolv.conf',
      maxPods: 50,
    },
    null,
    2,
  );
}

/**
 * kube-proxy in iptables mode. `masqueradeAll`: br_netfilter is not loaded, so a reply from a pod to
 * a pod on the same bridge would skip the host's conntrack and reach the client from the wrong
 * address; masquerading every Service connection sends replies back through the host. The conntrack
 * and sysctl settings are left alone (0 / false): the sandbox may not change them.
 */
export function kubeProxyConfig(layout: NodeLayout): string {
  const paths = nodePaths(layout);
  return JSON.stringify(
    {
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      clientConnection: { kubeconfig: paths.kubeconfig },
      hostnameOverride: layout.nodeName,
      bindAddress: '0.0.0.0',
      healthzBindAddress: `127.0.0.1:${layout.ports.proxyHealthz}`,
      metricsBindAddress: `127.0.0.1:${layout.ports.proxyMetrics}`,
      mode: 'iptables',
      clusterCIDR: layout.podSubnet,
      oomScoreAdj: 0,
      iptables: { masqueradeAll: true, localhostNodePorts: false },
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    },
    null,
    2,
  );
}

/** A TOML basic string. The paths quoted here are our own temporary folders; escape anyway. */
function toml(value: string): string {
  return JSON.stringify(value);
}
