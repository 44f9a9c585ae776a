/**
 * ImagePolicies against a hostile registry and a hostile notification sender, with a real control
 * plane and controller: a registry that answers its tag list page after page, each just in time,
 * must not hold the namespace's worker past the policy's spec.timeout; a sender repeating one
 * registry notification must not make every matching policy list its registry's tags back to back.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { REQUESTED_AT_ANNOTATION } from '../../src/api/names.js';
import { API_VERSION } from '../../src/api/v1alpha1.js';
import type { ImagePolicy } from '../../src/api/image-policy.js';
import { sleep } from '../../src/core/time.js';
import { freshNamespace } from '../support/cluster.js';
import { eventually, startTestController, type TestController } from '../support/controller.js';

let t: TestController;

interface StubRegistry {
  /** host:port */
  readonly host: string;
  /** Tag-list requests, in order. */
  readonly tagLists: string[];
  /** Manifest requests (HEAD or GET), in order. */
  readonly manifests: string[];
  close(): Promise<void>;
}

/**
 * A plain-http registry serving `/v2/` and the tag list of any repository. `page` answers one
 * tag-list request (after `delayMs`): its tags and the next page's query, if any.
 */
async function startStubRegistry(
  page: (index: number) => { tags: string[]; next?: string },
  delayMs = 0,
): Promise<StubRegistry> {
  const tagLists: string[] = [];
  const manifests: string[] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://stub');
    if (url.pathname === '/v2/') return void response.writeHead(200).end('{}');
    const match = /^\/v2\/(.+)\/tags\/list$/.exec(url.pathname);
    if (match) {
      const index = tagLists.push(`${url.pathname}${url.search}`) - 1;
      const answer = page(index);
      setTimeout(() => {
        if (response.destroyed) return;
        response.writeHead(200, {
          'content-type': 'application/json',
          ...(answer.next ? { link: `<${url.pathname}?${answer.next}>; rel="next"` } : {}),
        });
        response.end(JSON.stringify({ name: match[1], tags: answer.tags }));
      }, delayMs);
      return;
    }
    if (/^\/v2\/.+\/manifests\//.test(url.pathname)) {
      manifests.push(`${request.method} ${url.pathname}`);
      const body = JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: `sha256:${'0'.repeat(64)}`,
          size: 2,
        },
        layers: [],
      });
      response.writeHead(200, {
        'content-type': 'application/vnd.oci.image.manifest.v1+json',
        'content-length': String(Buffer.byteLength(body)),
        'docker-content-digest': `sha256:${createHash('sha256').update(body).digest('hex')}`,
      });
      return void response.end(request.method === 'HEAD' ? undefined : body);
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    tagLists,
    manifests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const policy = (namespace: string, name: string, spec: ImagePolicy['spec']): ImagePolicy => ({
  apiVersion: API_VERSION,
  kind: 'ImagePolicy',
  metadata: { name, namespace },
  spec,
});

async function getPolicy(namespace: string, name: string): Promise<ImagePolicy | undefined> {
  return t.kube.get<ImagePolicy>({ group: 'capstan.dev', kind: 'ImagePolicy', namespace, name });
}

describe('a hostile registry', () => {
  it('cannot hold a scan past spec.timeout with a tag list of endless pages, each in time', async () => {
    const namespace = await freshNamespace('imgdrip');
    t = await startTestController({ namespace });
    onTestFinished(() => t.stop());
    // Each page comes well within the client's per-request bound; the pages never end (up to the
    // client's 1,000-page bound: 1,000 × 300 ms, past the reconcile's own five-minute deadline).
    const registry = await startStubRegistry((n) => ({ tags: [`1.0.${n}`], next: `last=1.0.${n}` }), 300);
    onTestFinished(() => registry.close());
    await t.kube.apply(
      policy(namespace, 'drip', {
        image: `${registry.host}/team/app`,
        insecure: true,
        interval: '1h',
        timeout: '3s',
        policy: { semver: { range: '1.x' } },
      }),
    );
    const judged = await eventually('the scan given up at spec.timeout', async () => {
      const p = await getPolicy(namespace, 'drip');
      return p?.status?.lastError ? p : undefined;
    });
    expect(judged.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'ScanFailed',
    });
    expect(judged.status?.lastError).toMatch(/no complete answer in time/);
    expect(registry.tagLists.length).toBeLessThan(1_000);
  });

  it('cannot smuggle a line, a trailer or Markdown in a tag, and 10,000 tags cost one manifest request a scan', async () => {
    const namespace = await freshNamespace('imgtags');
    t = await startTestController({ namespace });
    onTestFinished(() => t.stop());
    const many = Array.from({ length: 10_000 }, (_, i) => `1.${Math.floor(i / 100)}.${i % 100}`);
    const hostile = [
      '9.9.9\nCapstan-Image-Policy: other-team/web',
      '9.9.8 [click](https://evil.example)',
      '9.9.7`',
      '9.9.6\u202e',
      `9.9.5${'0'.repeat(200)}`,
    ];
    const registry = await startStubRegistry(() => ({ tags: [...hostile, ...many] }));
    onTestFinished(() => registry.close());
    await t.kube.apply(
      policy(namespace, 'tags', {
        image: `${registry.host}/team/app`,
        insecure: true,
        interval: '1h',
        // Past what a timer holds (2^31 ms): bounded, not read as "at once".
        timeout: '1000h',
        policy: { semver: { range: '>=1.0.0' } },
      }),
    );
    const scanned = await eventually(
      'the scan',
      async () => (await getPolicy(namespace, 'tags'))?.status?.latest,
    );
    expect(scanned.tag).toBe('1.99.99');
    const status = (await getPolicy(namespace, 'tags'))!.status!;
    // Names that are not tags are dropped as the registry's page is read: never considered, never shown.
    expect(status.lastScan).toEqual({ tags: 10_000, considered: 10_000 });
    // Each scan lists the tags once and resolves the one chosen: no work per tag.
    expect(registry.manifests.length).toBe(registry.tagLists.length);
  });
});

describe('registry notifications', () => {
  it('wake a policy at most once in a while, however often a sender repeats them', async () => {
    const namespace = await freshNamespace('imgwake');
    t = await startTestController({ namespace });
    onTestFinished(() => t.stop());
    const registry = await startStubRegistry(() => ({ tags: ['1.0.0', '1.1.0'] }));
    onTestFinished(() => registry.close());
    await t.kube.apply(
      policy(namespace, 'woken', {
        image: `${registry.host}/team/web`,
        insecure: true,
        interval: '1h',
        policy: { semver: { range: '1.x' } },
      }),
    );
    await eventually('the first scan', async () => (await getPolicy(namespace, 'woken'))?.status?.latest);
    const before = registry.tagLists.length;

    // One notification naming the image's path, sent again and again (any registry holding the
    // webhook secret can): each is accepted, and names this policy.
    let woken = 0;
    for (let i = 0; i < 40; i++) {
      woken += t.controller.imagesPushed([{ repository: 'team/web' }]);
      await sleep(25);
    }
    expect(woken).toBe(40);
    await sleep(1_000);
    const scans = registry.tagLists.length - before;
    expect(scans).toBeGreaterThanOrEqual(1);
    // One scan now, and the rest folded into one later (MIN_WAKE_SPACING_MS), not forty.
    expect(scans).toBeLessThanOrEqual(2);
  });

  it("are spaced the same when a standby replica passes them on as the policy's request annotation", async () => {
    const namespace = await freshNamespace('imgreq');
    t = await startTestController({ namespace });
    onTestFinished(() => t.stop());
    const registry = await startStubRegistry(() => ({ tags: ['1.0.0'] }));
    onTestFinished(() => registry.close());
    await t.kube.apply(
      policy(namespace, 'requested', {
        image: `${registry.host}/team/api`,
        insecure: true,
        interval: '1h',
        policy: { semver: { range: '1.x' } },
      }),
    );
    await eventually('the first scan', async () => (await getPolicy(namespace, 'requested'))?.status?.latest);
    const before = registry.tagLists.length;
    for (let i = 0; i < 20; i++) {
      await t.kube.patch(
        { group: 'capstan.dev', kind: 'ImagePolicy', namespace, name: 'requested' },
        { metadata: { annotations: { [REQUESTED_AT_ANNOTATION]: `request-${i}` } } },
        'merge',
      );
      await sleep(25);
    }
    await sleep(1_000);
    const scans = registry.tagLists.length - before;
    expect(scans).toBeGreaterThanOrEqual(1);
    expect(scans).toBeLessThanOrEqual(2);
  });
});
