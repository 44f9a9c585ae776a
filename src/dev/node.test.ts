import { describe, expect, it } from 'vitest';
import { startControlPlane } from './controlplane.js';
import { firstServiceIp } from './node.js';
import {
  cniConflist,
  containerdConfig,
  hostAddress,
  kubeProxyConfig,
  kubeletConfig,
  registryHostsToml,
  type NodeLayout,
} from './node-config.js';
import { chainDeletions, cniRuleDeletions, isShimOf, mountPointsUnder, shimSocket } from './node-teardown.js';

const layout: NodeLayout = {
  baseDir: '/tmp/capstan-node-abc',
  nodeName: 'capstan-real-node',
  address: '192.0.2.2',
  podSubnet: '10.244.7.0/24',
  serviceSubnet: '10.0.0.0/24',
  bridge: 'cap-1234abcd',
  networkName: 'capstan-1234abcd',
  cgroupRoot: '/capstan-node-1234abcd',
  registry: '127.0.0.1:5000',
  sandboxImage: '127.0.0.1:5000/capstan/pause:1',
  ports: { kubelet: 10001, kubeletHealthz: 10002, proxyMetrics: 10003, proxyHealthz: 10004 },
};

describe('the real node configuration', () => {
  it('keeps every containerd path under the node folder and sets what this host needs', () => {
    const toml = containerdConfig(layout);
    for (const line of toml
      .split('\n')
      .filter((l) => /(root|state|address|path|Root|conf_dir) = "\//.test(l)))
      expect(line).toContain('"/tmp/capstan-node-abc/');
    expect(toml).toContain('restrict_oom_score_adj = true');
    expect(toml).toContain('netns_mounts_under_state_dir = true');
    expect(toml).toContain('sandbox_image = "127.0.0.1:5000/capstan/pause:1"');
    expect(toml).toContain('SystemdCgroup = false');
  });

  it('pulls from the local registry over plain http', () => {
    expect(registryHostsToml('127.0.0.1:5000')).toBe(
      'server = "http://127.0.0.1:5000"\n[host."http://127.0.0.1:5000"]\n  capabilities = ["pull", "resolve"]\n',
    );
  });

  it('gives the CNI bridge its own name, subnet and IPAM folder', () => {
    const conflist = JSON.parse(cniConflist(layout)) as {
      name: string;
      plugins: {
        type: string;
        bridge?: string;
        isGateway?: boolean;
        ipMasq?: boolean;
        ipam?: { ranges: unknown; dataDir: string };
      }[];
    };
    expect(conflist.name).toBe('capstan-1234abcd');
    expect(conflist.plugins.map((p) => p.type)).toEqual(['bridge', 'portmap']);
    expect(conflist.plugins[0]).toMatchObject({ bridge: 'cap-1234abcd', isGateway: true, ipMasq: true });
    expect(conflist.plugins[0]?.ipam).toEqual(
      expect.objectContaining({
        ranges: [[{ subnet: '10.244.7.0/24' }]],
        dataDir: '/tmp/capstan-node-abc/cni/ipam',
      }),
    );
  });

  it('runs pods under a cgroup of their own and serves the kubelet on the node address only', () => {
    const config = JSON.parse(kubeletConfig(layout)) as Record<string, unknown>;
    expect(config).toMatchObject({
      cgroupRoot: '/capstan-node-1234abcd',
      cgroupsPerQOS: true,
      failCgroupV1: false,
      address: '192.0.2.2',
      port: 10001,
      readOnlyPort: 0,
      containerRuntimeEndpoint: 'unix:///tmp/capstan-node-abc/containerd/containerd.sock',
      podLogsDir: '/tmp/capstan-node-abc/pod-logs',
    });
  });

  it('has kube-proxy masquerade all Service traffic (no br_netfilter) and leave the sysctls alone', () => {
    const config = JSON.parse(kubeProxyConfig(layout)) as Record<string, unknown>;
    expect(config).toMatchObject({
      mode: 'iptables',
      clusterCIDR: '10.244.7.0/24',
      hostnameOverride: 'capstan-real-node',
      iptables: { masqueradeAll: true, localhostNodePorts: false },
      conntrack: { maxPerCore: 0 },
    });
  });

  it("takes the host's first non-loopback IPv4 address, skipping bridges", () => {
    const iface = (address: string, family: 'IPv4' | 'IPv6', internal = false) =>
      ({ address, family, internal, netmask: '', mac: '', cidr: null }) as never;
    expect(
      hostAddress({
        lo: [iface('127.0.0.1', 'IPv4', true)],
        'cap-1234': [iface('10.244.1.1', 'IPv4')],
        eth0: [iface('fe80::1', 'IPv6'), iface('192.0.2.2', 'IPv4')],
      }),
    ).toBe('192.0.2.2');
    expect(() => hostAddress({ lo: [iface('127.0.0.1', 'IPv4', true)] })).toThrow(/non-loopback IPv4/);
  });

  it("finds the kubernetes Service's ClusterIP", () => {
    expect(firstServiceIp('10.0.0.0/24')).toBe('10.0.0.1');
    expect(firstServiceIp('10.96.0.0/12')).toBe('10.96.0.1');
    expect(() => firstServiceIp('nonsense')).toThrow(/not an IPv4 range/);
  });

  it('refuses a real node without the workload controllers', async () => {
    await expect(startControlPlane({ realNode: { registry: '127.0.0.1:5000' } })).rejects.toThrow(
      /workloads: true/,
    );
  });
});

describe('the real node teardown', () => {
  it('lists the mounts under the node folder, deepest first, decoding the kernel escapes', () => {
    const mountinfo = [
      '27 1 254:0 / / rw - ext4 /dev/vda rw',
      '45 27 254:0 /tmp/capstan-node-abc/kubelet /tmp/capstan-node-abc/kubelet rw shared:1 - ext4 /dev/vda rw',
      '46 45 0:40 / /tmp/capstan-node-abc/kubelet/pods/x/volumes/kubernetes.io~secret/my\\040secret rw - tmpfs tmpfs rw',
      '47 27 0:41 / /tmp/capstan-node-abcdef/other rw - tmpfs shm rw',
      '48 27 0:4 net:[4026532178] /tmp/capstan-node-abc/containerd/state/netns/cni-1 rw - nsfs nsfs rw',
    ].join('\n');
    expect(mountPointsUnder(mountinfo, '/tmp/capstan-node-abc')).toEqual([
      '/tmp/capstan-node-abc/kubelet/pods/x/volumes/kubernetes.io~secret/my secret',
      '/tmp/capstan-node-abc/containerd/state/netns/cni-1',
      '/tmp/capstan-node-abc/kubelet',
    ]);
  });

  const save = [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':KUBE-FIREWALL - [0:0]',
    ':KUBE-KUBELET-CANARY - [0:0]',
    '-A INPUT -j KUBE-FIREWALL',
    '-A INPUT -j ACCEPT',
    '-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -j DROP',
    'COMMIT',
    '*nat',
    ':POSTROUTING ACCEPT [0:0]',
    ':CNI-aaa - [0:0]',
    ':CNI-bbb - [0:0]',
    '-A POSTROUTING -s 10.244.7.2/32 -m comment --comment "name: \\"capstan-1234abcd\\" id: \\"c1\\"" -j CNI-aaa',
    '-A POSTROUTING -s 10.88.0.2/32 -m comment --comment "name: \\"podman\\" id: \\"c2\\"" -j CNI-bbb',
    '-A CNI-aaa -d 10.244.7.0/24 -m comment --comment "name: \\"capstan-1234abcd\\" id: \\"c1\\"" -j ACCEPT',
    '-A CNI-aaa ! -d 224.0.0.0/4 -m comment --comment "name: \\"capstan-1234abcd\\" id: \\"c1\\"" -j MASQUERADE',
    '-A CNI-bbb -d 10.88.0.0/16 -m comment --comment "name: \\"podman\\" id: \\"c2\\"" -j ACCEPT',
    'COMMIT',
    '',
  ].join('\n');

  it("deletes only our CNI network's rules and chains, not another network's", () => {
    expect(cniRuleDeletions(save, 'nat', 'capstan-1234abcd')).toBe(
      [
        '*nat',
        '-D POSTROUTING -s 10.244.7.2/32 -m comment --comment "name: \\"capstan-1234abcd\\" id: \\"c1\\"" -j CNI-aaa',
        '-F CNI-aaa',
        '-X CNI-aaa',
        'COMMIT',
        '',
      ].join('\n'),
    );
    expect(cniRuleDeletions(save, 'filter', 'capstan-1234abcd')).toBe('');
  });

  it("deletes the kubelet's chains and the jumps into them", () => {
    expect(
      chainDeletions(save, 'filter', ['KUBE-FIREWALL', 'KUBE-KUBELET-CANARY', 'KUBE-IPTABLES-HINT']),
    ).toBe(
      [
        '*filter',
        '-D INPUT -j KUBE-FIREWALL',
        '-F KUBE-FIREWALL',
        '-F KUBE-KUBELET-CANARY',
        '-X KUBE-FIREWALL',
        '-X KUBE-KUBELET-CANARY',
        'COMMIT',
        '',
      ].join('\n'),
    );
    expect(chainDeletions(save, 'nat', ['KUBE-FIREWALL'])).toBe('');
  });

  it("recognises our containerd's shims by their -address argument", () => {
    const socket = '/tmp/capstan-node-abc/containerd/containerd.sock';
    const argv = ['/usr/bin/containerd-shim-runc-v2', '-namespace', 'k8s.io', '-id', 'x', '-address', socket];
    expect(isShimOf(argv, socket)).toBe(true);
    expect(isShimOf(argv, '/run/containerd/containerd.sock')).toBe(false);
    expect(isShimOf(['/usr/bin/kubelet', '-address', socket], socket)).toBe(false);
  });

  it("computes containerd 1.6's shim socket path", () => {
    // Observed on this machine: sha256 of `<containerd socket>/k8s.io/<sandbox id>`.
    expect(
      shimSocket(
        '/tmp/capstan-node-Pwi9Q5/containerd/containerd.sock',
        '02e1f75db8b710aba1c86a9298c9ac355261423a4e860072782acd532ee4ffda',
      ),
    ).toBe('/run/containerd/s/8fb2fdf8c867034a353eb1da86ca08d05d5cacb657f4acbd3b963cdb9412cbc0');
  });
});
