/**
 * Removing every trace of a real test node (src/dev/node.ts) from the host: on stop, and for a run
 * whose owner died (the next start finds its record). Killing kubelet and containerd is not enough —
 * containerd's shims re-parent to init and keep the containers running, and the node leaves mounts
 * (overlay root filesystems, shm, network namespaces, tmpfs volumes), iptables rules, a bridge with
 * veths and cgroups behind. Each step is best effort and bounded in time; what failed is reported.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, readdir, readlink, rm, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { messageOf } from '../core/errors.js';
import { sleep } from '../core/time.js';
import { nodePaths } from './node-config.js';
import { isProcessAlive } from './processes.js';

/** What a run writes down before it changes the host, so that anyone can undo it later. */
export interface NodeRecord {
  readonly ownerPid: number;
  readonly baseDir: string;
  readonly bridge: string;
  readonly networkName: string;
  readonly cgroupRoot: string;
  readonly containerdSocket: string;
  /** The kube-proxy binary (its `--cleanup` mode removes its iptables rules). */
  readonly kubeProxy: string;
  readonly processes: readonly { readonly name: string; readonly pid: number; readonly command: string }[];
}

/** Where the cgroup v1 (and v2) hierarchies are mounted. */
const CGROUP_MOUNT = '/sys/fs/cgroup';
/** Where the kubelet links container logs, whatever its root folder (hard-coded in the kubelet). */
const CONTAINER_LOG_LINKS = '/var/log/containers';
/** libcni's result cache; containerd 1.6 offers no setting for it. */
const CNI_RESULTS = '/var/lib/cni/results';
/** containerd 1.6 puts its shims' sockets here whatever its own state folder. */
const SHIM_SOCKETS = '/run/containerd/s';
const COMMAND_TIMEOUT_MS = 30_000;
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/** Undoes everything the node of `record` did to the host. Returns the steps that failed, if any. */
export async function tearDownNode(record: NodeRecord): Promise<string[]> {
  const problems: string[] = [];
  const step = async (what: string, work: () => Promise<unknown>): Promise<void> => {
    try {
      await work();
    } catch (error) {
      problems.push(`${what}: ${messageOf(error)}`);
    }
  };
  await step('stopping the node processes', () => killRecordedProcesses(record.processes));
  await step('killing the containers', () => killCgroupProcesses(record.cgroupRoot));
  await step("killing containerd's shims", () => killShims(record.containerdSocket));
  await step("removing kube-proxy's iptables rules", () => cleanKubeProxyRules(record.kubeProxy));
  await step("removing the CNI network's iptables rules", () => removeCniRules(record.networkName));
  await step("removing the kubelet's iptables chains", () => removeKubeletRules());
  await step('unmounting', () => unmountUnder(record.baseDir));
  await step('removing the bridge', () => removeBridge(record.bridge));
  await step('removing the cgroups', () => removeCgroups(record.cgroupRoot));
  await step('removing host files', () => removeHostFiles(record));
  await step(`removing ${record.baseDir}`, () => rm(record.baseDir, { recursive: true, force: true }));
  return problems;
}

async function killRecordedProcesses(processes: NodeRecord['processes']): Promise<void> {
  for (const proc of processes) {
    // Only a pid that still runs the binary we started: pids are reused.
    if (isProcessAlive(proc.pid) && (await commandLine(proc.pid))[0] === proc.command) {
      signal(-proc.pid, 'SIGKILL');
      signal(proc.pid, 'SIGKILL');
    }
  }
}

/** Every container (and pause) process of the node is in a cgroup below the node's cgroup root. */
async function killCgroupProcesses(cgroupRoot: string): Promise<void> {
  for (let round = 0; round < 50; round++) {
    const pids = new Set<number>();
    for (const hierarchy of await cgroupHierarchies())
      for (const dir of await subtree(join(hierarchy, cgroupRoot)))
        for (const pid of await cgroupProcs(dir)) pids.add(pid);
    if (pids.size === 0) return;
    for (const pid of pids) signal(pid, 'SIGKILL');
    await sleep(100);
  }
  throw new Error(`processes remain in the cgroup ${cgroupRoot}`);
}

/** containerd-shim-runc-v2 processes started by our containerd: their argv holds its socket address. */
async function killShims(containerdSocket: string): Promise<void> {
  for (const pid of await shimsOf(containerdSocket)) signal(pid, 'SIGKILL');
  for (let round = 0; round < 50 && (await shimsOf(containerdSocket)).length > 0; round++) await sleep(100);
}

/** The pids of the shims whose `-address` is `containerdSocket`. */
export async function shimsOf(containerdSocket: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = await commandLine(Number(entry));
    if (isShimOf(argv, containerdSocket)) pids.push(Number(entry));
  }
  return pids;
}

export function isShimOf(argv: readonly string[], containerdSocket: string): boolean {
  if (!argv[0]?.includes('containerd-shim')) return false;
  const at = argv.indexOf('-address');
  return at >= 0 && argv[at + 1] === containerdSocket;
}

async function cleanKubeProxyRules(kubeProxy: string): Promise<void> {
  // Exits non-zero when some table had nothing to clean; what is left is checked by the tests.
  await run(kubeProxy, ['--cleanup']).catch(() => undefined);
}

async function removeCniRules(networkName: string): Promise<void> {
  for (const table of ['nat', 'filter', 'mangle']) {
    const script = cniRuleDeletions(await run('iptables-save', ['-t', table]), table, networkName);
    if (script) await run('iptables-restore', ['--noflush'], script);
  }
}

/**
 * The chains the kubelet itself adds (kube-proxy's `--cleanup` leaves them): a canary per table, a
 * hint for iptables' backend, and a firewall against martian loopback traffic. Host-wide names,
 * which is one reason only one real node runs per host.
 */
const KUBELET_CHAINS = ['KUBE-IPTABLES-HINT', 'KUBE-KUBELET-CANARY', 'KUBE-FIREWALL'] as const;

async function removeKubeletRules(): Promise<void> {
  for (const table of ['nat', 'filter', 'mangle']) {
    const script = chainDeletions(await run('iptables-save', ['-t', table]), table, KUBELET_CHAINS);
    if (script) await run('iptables-restore', ['--noflush'], script);
  }
}

/**
 * An iptables-restore script deleting the rules the CNI plugins added for `networkName` in `table`
 * (each carries the comment `name: "<network>" id: "<container>"`) and the CNI-… chains they jump to.
 * Empty when there is nothing to delete. Linear in the input: no regex backtracks over a line.
 */
export function cniRuleDeletions(iptablesSave: string, table: string, networkName: string): string {
  const marker = `name: \\"${networkName}\\" id: \\"`;
  const rules = tableRules(iptablesSave, table).filter((rule) => rule.line.includes(marker));
  const chains = new Set(rules.map((rule) => rule.target).filter((t) => t.startsWith('CNI-')));
  return deletionScript(table, rules, chains);
}

/** An iptables-restore script removing `chains` (those the table has) and every jump into them. */
export function chainDeletions(iptablesSave: string, table: string, chains: readonly string[]): string {
  const present = new Set(
    tableLines(iptablesSave, table)
      .filter((line) => line.startsWith(':'))
      .map((line) => line.slice(1).split(' ')[0] ?? '')
      .filter((name) => chains.includes(name)),
  );
  const jumps = tableRules(iptablesSave, table).filter((rule) => present.has(rule.target));
  return deletionScript(table, jumps, present);
}

interface SavedRule {
  readonly line: string;
  readonly chain: string;
  readonly target: string;
}

function tableLines(iptablesSave: string, table: string): string[] {
  const lines: string[] = [];
  let inTable = false;
  for (const line of iptablesSave.split('\n')) {
    if (line.startsWith('*')) inTable = line === `*${table}`;
    else if (inTable) lines.push(line);
  }
  return lines;
}

function tableRules(iptablesSave: string, table: string): SavedRule[] {
  return tableLines(iptablesSave, table)
    .filter((line) => line.startsWith('-A '))
    .map((line) => ({
      line,
      chain: line.split(' ')[1] ?? '',
      target: / -j ([A-Za-z0-9_-]+)/.exec(line)?.[1] ?? '',
    }));
}

/** Rules inside the removed chains go with them; only the others are deleted one by one. */
function deletionScript(table: string, rules: readonly SavedRule[], chains: ReadonlySet<string>): string {
  const deletions = rules.filter((rule) => !chains.has(rule.chain));
  if (deletions.length === 0 && chains.size === 0) return '';
  return [
    `*${table}`,
    ...deletions.map((rule) => `-D ${rule.line.slice(3)}`),
    ...[...chains].map((chain) => `-F ${chain}`),
    ...[...chains].map((chain) => `-X ${chain}`),
    'COMMIT',
    '',
  ].join('\n');
}

/** Unmounts (lazily, deepest first) every mount point at or below `dir`. */
async function unmountUnder(dir: string): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const mounts = mountPointsUnder(await readFile('/proc/self/mountinfo', 'utf8'), dir);
    if (mounts.length === 0) return;
    for (const mount of mounts) await run('umount', ['-l', mount]).catch(() => undefined);
  }
  const left = mountPointsUnder(await readFile('/proc/self/mountinfo', 'utf8'), dir);
  if (left.length > 0) throw new Error(`still mounted: ${left.slice(0, 5).join(', ')}`);
}

/** The mount points at or below `dir` in /proc/self/mountinfo text, deepest first. */
export function mountPointsUnder(mountinfo: string, dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const points = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const field = line.split(' ')[4];
    if (!field) continue;
    // The kernel escapes space, tab, newline and backslash as \ooo.
    const point = field.replace(/\\([0-7]{3})/g, (_, octal: string) =>
      String.fromCharCode(parseInt(octal, 8)),
    );
    if (point === dir || point.startsWith(prefix)) points.add(point);
  }
  return [...points].sort((a, b) => b.split('/').length - a.split('/').length || b.localeCompare(a));
}

/** The bridge and any veth still enslaved to it (a veth goes with its pod's network namespace). */
async function removeBridge(bridge: string): Promise<void> {
  const links = await run('ip', ['-o', 'link', 'show', 'master', bridge]).catch(() => '');
  for (const line of links.split('\n')) {
    const name = /^\d+: ([^:@\s]+)/.exec(line)?.[1];
    if (name) await run('ip', ['link', 'delete', name]).catch(() => undefined);
  }
  const exists = await run('ip', ['link', 'show', bridge]).then(
    () => true,
    () => false,
  );
  if (exists) await run('ip', ['link', 'delete', bridge]);
}

async function removeCgroups(cgroupRoot: string): Promise<void> {
  const left: string[] = [];
  for (const hierarchy of await cgroupHierarchies()) {
    // Deepest first: a cgroup with children cannot be removed.
    const dirs = (await subtree(join(hierarchy, cgroupRoot))).sort((a, b) => b.length - a.length);
    for (const dir of dirs) {
      let removed = false;
      for (let attempt = 0; attempt < 20 && !removed; attempt++) {
        removed = await rmdir(dir).then(
          () => true,
          (error: NodeJS.ErrnoException) => error.code === 'ENOENT',
        );
        if (!removed) await sleep(100);
      }
      if (!removed) left.push(dir);
    }
  }
  if (left.length > 0) throw new Error(`cgroups left: ${left.slice(0, 5).join(', ')}`);
}

/**
 * What the kubelet, libcni and containerd's shims write outside the node's folder: log links, CNI
 * results and shim sockets, found by the node's folder and by the ids of its pod sandboxes.
 */
async function removeHostFiles(record: NodeRecord): Promise<void> {
  const ids = await sandboxIds(record);
  for (const id of ids) await unlink(shimSocket(record.containerdSocket, id)).catch(() => {});
  // Folders a shim made, if nothing else uses them (a containerd of the host's own keeps its own).
  for (const dir of [SHIM_SOCKETS, join(SHIM_SOCKETS, '..')]) await rmdir(dir).catch(() => {});
  for (const name of await readdir(CNI_RESULTS).catch(() => [] as string[]))
    if (name.startsWith(`${record.networkName}-`) || ids.some((id) => name.includes(`-${id}-`)))
      await unlink(join(CNI_RESULTS, name)).catch(() => {});
  for (const name of await readdir(CONTAINER_LOG_LINKS).catch(() => [] as string[])) {
    const path = join(CONTAINER_LOG_LINKS, name);
    const target = await readlink(path).catch(() => '');
    if (target.startsWith(`${record.baseDir}/`)) await unlink(path).catch(() => {});
  }
}

/** The ids of the node's pod sandboxes and containers, from containerd's state folder. */
async function sandboxIds(record: NodeRecord): Promise<string[]> {
  const state = nodePaths(record).containerdState;
  const lists = await Promise.all(
    [
      join(state, 'io.containerd.grpc.v1.cri', 'sandboxes'),
      join(state, 'io.containerd.runtime.v2.task', 'k8s.io'),
    ].map((dir) => readdir(dir).catch(() => [] as string[])),
  );
  return [...new Set(lists.flat().filter((id) => /^[0-9a-f]{64}$/.test(id)))];
}

/** Where containerd 1.6's shim for `id` listens: a hash of our socket, the namespace and the id. */
export function shimSocket(containerdSocket: string, id: string): string {
  return join(
    SHIM_SOCKETS,
    createHash('sha256')
      .update(join(containerdSocket, 'k8s.io', id))
      .digest('hex'),
  );
}

/** The mounted cgroup hierarchies (v1 controllers and the v2 mount). */
async function cgroupHierarchies(): Promise<string[]> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  return mountinfo
    .split('\n')
    .filter((line) => / - cgroup2? /.test(line))
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point.startsWith(`${CGROUP_MOUNT}/`));
}

/** `dir` and every folder below it (empty when `dir` does not exist). */
async function subtree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
  if (!entries) return [];
  const below = await Promise.all(
    entries.filter((e) => e.isDirectory()).map((e) => subtree(join(dir, e.name))),
  );
  return [dir, ...below.flat()];
}

async function cgroupProcs(dir: string): Promise<number[]> {
  const text = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => /^\d+$/.test(line))
    .map(Number);
}

async function commandLine(pid: number): Promise<string[]> {
  const text = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return text.split('\0').filter((part, index, all) => part !== '' || index < all.length - 1);
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

/** Runs a host tool with a time and output bound; rejects with its stderr on failure. */
export function run(command: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      { timeout: COMMAND_TIMEOUT_MS, maxBuffer: MAX_OUTPUT_BYTES, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${command} ${args.join(' ')}: ${stderr.trim() || error.message}`));
        else resolve(stdout);
      },
    );
    child.stdin?.end(input);
  });
}
