import { describe, expect, it } from 'vitest';
import { registryConfig } from './registry.js';

interface Config {
  storage: unknown;
  http: { addr: string; secret: string };
  auth?: unknown;
  notifications?: { endpoints: unknown[] };
}

describe('the dev registry configuration', () => {
  it('stores in the data folder, listens on loopback and adds basic auth and notifications when asked', () => {
    const plain = JSON.parse(registryConfig({ dataDir: '/d', host: '127.0.0.1:5000' })) as Config;
    expect(plain.storage).toEqual({ filesystem: { rootdirectory: '/d/storage' }, delete: { enabled: true } });
    expect(plain.http.addr).toBe('127.0.0.1:5000');
    expect(plain.http.secret).toMatch(/^[0-9a-f]{48}$/);
    expect(plain.auth).toBeUndefined();
    expect(plain.notifications).toBeUndefined();

    const full = JSON.parse(
      registryConfig({
        dataDir: '/d',
        host: '127.0.0.1:5000',
        user: { htpasswd: '/d/htpasswd' },
        notifications: { url: 'http://127.0.0.1:9/hook', headers: { authorization: 'Bearer t' } },
      }),
    ) as Config;
    expect(full.auth).toEqual({ htpasswd: { realm: 'capstan-test-registry', path: '/d/htpasswd' } });
    expect(full.notifications?.endpoints).toEqual([
      expect.objectContaining({ url: 'http://127.0.0.1:9/hook', headers: { authorization: ['Bearer t'] } }),
    ]);
  });
});
