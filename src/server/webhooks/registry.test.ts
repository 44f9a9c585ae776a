import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../core/errors.js';
import * as registry from './registry.js';

const SECRET = 'registry-s3cret';
const body = Buffer.from('{"repository":"team/web"}');

/** As the distribution registry sends a manifest push (notifications.endpoints, events v2). */
const distributionPush = (repository: string, mediaType = 'application/vnd.oci.image.manifest.v1+json') => ({
  events: [
    {
      id: 'e1',
      timestamp: '2026-12-01T20:00:00Z',
      action: 'push',
      target: { mediaType, digest: `sha256:${'a'.repeat(64)}`, repository, tag: '1.2.0', size: 528 },
      request: { id: 'r1', addr: '127.0.0.1:5000', host: '127.0.0.1:5000', method: 'PUT' },
      source: { addr: 'registry:5000', instanceID: 'i' },
    },
  ],
});

describe('registry notifications: who may send them', () => {
  it('takes the secret as a Bearer token (distribution headers, Harbor auth header), in any case of the scheme', () => {
    expect(registry.verify({ authorization: `Bearer ${SECRET}` }, body, SECRET)).toBe(true);
    expect(registry.verify({ authorization: `bearer ${SECRET}` }, body, SECRET)).toBe(true);
  });

  it("takes Capstan's HMAC of the body", () => {
    const signature = createHmac('sha256', SECRET).update(body).digest('hex');
    expect(registry.verify({ 'x-capstan-signature': `sha256=${signature}` }, body, SECRET)).toBe(true);
    expect(registry.verify({ 'x-capstan-signature': `sha256=${signature}` }, Buffer.from('{}'), SECRET)).toBe(
      false,
    );
  });

  it('refuses a wrong token, Basic auth, no header, and any token when no secret is set', () => {
    expect(registry.verify({ authorization: 'Bearer nope' }, body, SECRET)).toBe(false);
    expect(registry.verify({ authorization: `Basic ${SECRET}` }, body, SECRET)).toBe(false);
    expect(registry.verify({}, body, SECRET)).toBe(false);
    expect(registry.verify({ authorization: 'Bearer ' }, body, '')).toBe(false);
  });
});

describe('registry notifications: what they say', () => {
  it('reads the pushed image of a distribution manifest push, lower-cased and once', () => {
    const twice = distributionPush('Team/Web');
    twice.events.push({ ...twice.events[0]!, id: 'e2' });
    const parsed = registry.parse(twice, {});
    expect(parsed).toEqual({ kind: 'image', event: 'push', urls: [], images: [{ repository: 'team/web' }] });
  });

  it('ignores pulls, deletes and the layer pushes that come before a manifest', () => {
    expect(
      registry.parse(distributionPush('app', 'application/vnd.oci.image.layer.v1.tar+gzip'), {}).kind,
    ).toBe('ignored');
    const pull = distributionPush('app');
    pull.events[0]!.action = 'pull';
    expect(registry.parse(pull, {}).kind).toBe('ignored');
  });

  it("reads Harbor's artifact push and Capstan's own form; ignores Harbor's other events", () => {
    const harbor = {
      type: 'PUSH_ARTIFACT',
      occur_at: 1,
      event_data: { repository: { name: 'web', namespace: 'team', repo_full_name: 'team/web' } },
    };
    expect(registry.parse(harbor, {})).toMatchObject({ kind: 'image', images: [{ repository: 'team/web' }] });
    expect(registry.parse({ ...harbor, type: 'DELETE_ARTIFACT' }, {}).kind).toBe('ignored');
    expect(registry.parse({ repository: 'team/web' }, {})).toMatchObject({
      images: [{ repository: 'team/web' }],
    });
  });

  it('refuses what is not an image path, and oversized batches, without echoing the value', () => {
    const hostile = ['../x', 'a//b', 'x'.repeat(300), 'http://evil/x', 'a b', '-a', 'a/', ''];
    for (const repository of hostile) {
      expect(() => registry.parse({ repository }, {})).toThrow(UserError);
      expect(() => registry.parse(distributionPush(repository), {})).toThrow(UserError);
    }
    expect(() => registry.parse({ repository: 'http://evil/x' }, {})).not.toThrow(/evil/);
    const many = { events: Array.from({ length: 101 }, () => distributionPush('app').events[0]) };
    expect(() => registry.parse(many, {})).toThrow(/more than 100/);
    expect(() => registry.parse({}, {})).toThrow(UserError);
  });

  it('scans a long hostile path in linear time', () => {
    const long = `${'a-'.repeat(120)}!`;
    expect(() => registry.parse({ repository: long }, {})).toThrow(UserError);
  });
});
