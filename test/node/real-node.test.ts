/**
 * What kwok's fake pods cannot show, on a real kubelet with containerd and kube-proxy: readiness
 * probes that really probe, logs, a container that really crashes, a memory limit the kernel
 * enforces, an in-cluster client reaching the API server through the `kubernetes` Service, and a
 * Service that routes to Ready pods only.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, pushDemoApp, pushKubectlImage, startRealCluster, type RealCluster } from './support.js';

interface PodStatus {
  phase?: string;
  podIP?: string;
  conditions?: { type: string; status: string }[];
  containerStatuses?: {
    name: string;
    ready: boolean;
    restartCount: number;
    state?: { waiting?: { reason?: string }; terminated?: { reason?: string; exitCode?: number } };
    lastState?: { terminated?: { reason?: string; exitCode?: number } };
  }[];
}

describe('a real node (kubelet + containerd + kube-proxy)', () => {
  let cluster: RealCluster;
  let app: string;
  let kubectlImage: string;
  const namespace = `real-node-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    cluster = await startRealCluster();
    app = await pushDemoApp(cluster.registry);
    kubectlImage = await pushKubectlImage(cluster.registry, cluster.controlPlane.tools.kubectl);
    await cluster.kubectlOk(['create', 'namespace', namespace]);
    // Pods need the namespace's default ServiceAccount, which the controller-manager adds shortly.
    await eventually('the default ServiceAccount', async () =>
      (await cluster.kubectl(['-n', namespace, 'get', 'serviceaccount', 'default'])).code === 0
        ? true
        : undefined,
    );
  });

  afterAll(async () => {
    await cluster?.controlPlane.stop();
  });

  const apply = (manifest: object): Promise<string> =>
    cluster.kubectlOk(['-n', namespace, 'apply', '-f', '-'], JSON.stringify(manifest));

  const podStatus = async (name: string): Promise<PodStatus> =>
    (
      JSON.parse(await cluster.kubectlOk(['-n', namespace, 'get', 'pod', name, '-o', 'json'])) as {
        status: PodStatus;
      }
    ).status;

  const waitFor = (name: string, condition: string): Promise<string> =>
    cluster.kubectlOk(['-n', namespace, 'wait', `--for=${condition}`, `pod/${name}`, '--timeout=120s']);

  const logs = (name: string, container?: string): Promise<string> =>
    cluster.kubectlOk(['-n', namespace, 'logs', name, ...(container ? ['-c', container] : [])]);

  const pod = (name: string, spec: object, labels: Record<string, string> = {}): object => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels },
    spec: { terminationGracePeriodSeconds: 1, ...spec },
  });

  /** httpd serving `body` at / on 8080 from an emptyDir (the image's root filesystem is not ours to write). */
  const server = (body: string, readinessPort = 8080): object => ({
    name: 'web',
    image: app,
    args: ['-c', `echo serving ${body}; echo ${body} > /srv/index.html; exec httpd -f -v -p 8080 -h /srv`],
    volumeMounts: [{ name: 'www', mountPath: '/srv' }],
    readinessProbe: { httpGet: { path: '/', port: readinessPort }, periodSeconds: 1, failureThreshold: 1 },
  });

  it('registers a Ready Node at the host address, running the Kubernetes of the tools module', async () => {
    const { name, address } = cluster.controlPlane.realNode!;
    const node = JSON.parse(await cluster.kubectlOk(['get', 'node', name, '-o', 'json'])) as {
      status: {
        addresses: { type: string; address: string }[];
        nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string };
        conditions: { type: string; status: string }[];
      };
    };
    expect(node.status.addresses).toContainEqual({ type: 'InternalIP', address });
    expect(node.status.nodeInfo.kubeletVersion).toBe('v1.37.2');
    expect(node.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\//);
    expect(node.status.conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'True' }));
  });

  it('runs a pod that turns Ready behind a real readiness probe, and kubectl logs shows its output', async () => {
    await apply(pod('web', { containers: [server('hello')], volumes: [{ name: 'www', emptyDir: {} }] }));
    await waitFor('web', 'condition=Ready');
    expect((await logs('web')).split('\n')).toContain('serving hello');
    const status = await podStatus('web');
    expect(status.podIP).toMatch(/^10\.244\.\d+\.\d+$/);
  });

  it('restarts a container that exits 1, then backs off (CrashLoopBackOff)', async () => {
    await apply(
      pod('crash', {
        containers: [{ name: 'app', image: app, args: ['-c', 'echo about to crash; exit 1'] }],
      }),
    );
    // The kubelet says CrashLoopBackOff in the container's waiting state only now and then (between
    // two status updates it may still show the last termination); its BackOff event always says so.
    const container = await eventually('the crash container to restart and back off', async () => {
      const found = (await podStatus('crash')).containerStatuses?.[0];
      const backOff = await cluster.kubectlOk([
        '-n',
        namespace,
        'get',
        'events',
        '--field-selector',
        'involvedObject.name=crash,reason=BackOff',
        '-o',
        'name',
      ]);
      return found && found.restartCount > 0 && backOff.trim() !== '' ? found : undefined;
    });
    expect(container.state?.terminated ?? container.lastState?.terminated).toMatchObject({
      exitCode: 1,
      reason: 'Error',
    });
    expect(await logs('crash')).toContain('about to crash');
  });

  it('enforces a memory limit: a container that exceeds it is OOMKilled', async () => {
    await apply(
      pod('hog', {
        restartPolicy: 'Never',
        containers: [
          {
            name: 'hog',
            image: app,
            // Doubles a shell string until the kernel's cgroup limit kills the process.
            args: ['-c', 's=xxxxxxxxxxxxxxxx; while true; do s="$s$s"; done'],
            resources: { limits: { memory: '16Mi' } },
          },
        ],
      }),
    );
    const terminated = await eventually('the hog container to be killed', async () => {
      const state = (await podStatus('hog')).containerStatuses?.[0]?.state?.terminated;
      return state ?? undefined;
    });
    expect(terminated).toMatchObject({ reason: 'OOMKilled', exitCode: 137 });
  });

  it('lets an in-cluster client reach the API server through the kubernetes Service', async () => {
    // client-go's in-cluster config: KUBERNETES_SERVICE_HOST/PORT (10.0.0.1:443, routed by
    // kube-proxy), the service account's token, and ca.crt checked against the serving certificate.
    const client = (name: string, args: string[]): object => ({ name, image: kubectlImage, args });
    await apply(
      pod('in-cluster', {
        restartPolicy: 'Never',
        containers: [
          client('version', ['get', '--raw', '/version']),
          client('whoami', ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']),
        ],
      }),
    );
    await waitFor('in-cluster', 'jsonpath={.status.phase}=Succeeded');
    expect(JSON.parse(await logs('in-cluster', 'version'))).toMatchObject({ gitVersion: 'v1.37.2' });
    expect(await logs('in-cluster', 'whoami')).toBe(`system:serviceaccount:${namespace}:default`);
  });

  it('routes a ClusterIP Service to the Ready pod only', async () => {
    const volumes = [{ name: 'www', emptyDir: {} }];
    await apply(pod('ready', { containers: [server('from-ready')], volumes }, { app: 'routed' }));
    // Serves too, but its readiness probe asks a port nobody listens on: Running, never Ready.
    await apply(pod('unready', { containers: [server('from-unready', 9999)], volumes }, { app: 'routed' }));
    await apply({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'routed' },
      spec: { selector: { app: 'routed' }, ports: [{ port: 80, targetPort: 8080 }] },
    });
    await waitFor('ready', 'condition=Ready');
    await waitFor('unready', 'jsonpath={.status.phase}=Running');
    expect((await podStatus('unready')).conditions).toContainEqual(
      expect.objectContaining({ type: 'Ready', status: 'False' }),
    );
    const serviceIp = await cluster.kubectlOk([
      '-n',
      namespace,
      'get',
      'service',
      'routed',
      '-o',
      'jsonpath={.spec.clusterIP}',
    ]);

    await apply(
      pod('client', {
        restartPolicy: 'Never',
        containers: [
          {
            name: 'client',
            image: app,
            args: [
              '-c',
              `i=0; while [ $i -lt 20 ]; do wget -q -O - http://${serviceIp}/ || exit 1; i=$((i+1)); done`,
            ],
          },
        ],
      }),
    );
    await waitFor('client', 'jsonpath={.status.phase}=Succeeded');
    const answers = (await logs('client')).trim().split('\n');
    expect(answers).toHaveLength(20);
    expect(new Set(answers)).toEqual(new Set(['from-ready']));
  });
});
