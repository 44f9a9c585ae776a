/**
 * A tenant chooses the image, not the docker config: it must not be able to spell a registry so
 * that the config's entry for another host answers. Keys come as tools write them (scheme, path,
 * port, case); only the exact host[:port] a parsed image name has gets an entry's credentials.
 */
import { describe, expect, it } from 'vitest';
import { authFromDockerConfig } from './docker-config.js';
import { parseImageName } from './names.js';

/** A config with one entry per key, the entry's user named after the key's position. */
const config = (keys: readonly string[]) =>
  JSON.stringify({
    auths: Object.fromEntries(
      keys.map((key, i) => [key, { auth: Buffer.from(`user${i}:pw${i}`).toString('base64') }]),
    ),
  });
/** The user of the entry whose credentials an image on `image`'s registry would get, if any. */
const userFor = (keys: readonly string[], image: string) =>
  authFromDockerConfig(config(keys), parseImageName(image).registry)?.username;

describe('docker config entries go to their own host only', () => {
  it('an entry keyed with a scheme, a path, upper case or Docker Hub’s v1 URL serves that host', () => {
    expect(userFor(['https://GHCR.io/v2/'], 'ghcr.io/team/app')).toBe('user0');
    expect(userFor(['https://index.docker.io/v1/'], 'team/app')).toBe('user0');
    expect(userFor(['REGISTRY.example:5000'], 'registry.example:5000/app')).toBe('user0');
  });

  it('an image on another port, a longer or shorter host, or a look-alike gets nothing', () => {
    const keys = ['ghcr.io', 'registry.example:5000', 'https://index.docker.io/v1/'];
    for (const image of [
      'ghcr.io:443/team/app', // the same host, spelt with a port: not the entry's key
      'ghcr.io.evil.example/team/app',
      'evil-ghcr.io/team/app',
      'registry.example/app', // the entry is for port 5000
      'registry.example:5001/app',
      'registry.example.:5000/app',
      'docker.io.evil.example/team/app',
    ]) {
      let user: string | undefined;
      try {
        user = userFor(keys, image);
      } catch {
        user = undefined; // refused as a name: nothing sent either
      }
      expect({ image, user }).toEqual({ image, user: undefined });
    }
  });

  it('a key of a host with a user part or a fragment never matches a parsed name', () => {
    const keys = ['https://evil.example@ghcr.io/', 'ghcr.io#x', 'ghcr.io?x'];
    expect(userFor(keys, 'ghcr.io/team/app')).toBeUndefined();
  });

  it('an image name cannot carry a scheme or a user part to pick another entry', () => {
    expect(() => parseImageName('https://ghcr.io/team/app')).toThrow(/without a scheme/);
    expect(() => parseImageName('ghcr.io@evil.example/app')).toThrow();
  });
});
