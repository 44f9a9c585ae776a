import { describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.js';
import { authFromDockerConfig } from './docker-config.js';
import { apiHostOf, formatImageName, parseImageName } from './names.js';

describe('image names', () => {
  it('reads names as Docker does', () => {
    expect(parseImageName('127.0.0.1:5000/app')).toEqual({ registry: '127.0.0.1:5000', repository: 'app' });
    expect(parseImageName('GHCR.io/o/r')).toEqual({ registry: 'ghcr.io', repository: 'o/r' });
    expect(parseImageName('nginx')).toEqual({ registry: 'docker.io', repository: 'library/nginx' });
    expect(parseImageName('acme/app')).toEqual({ registry: 'docker.io', repository: 'acme/app' });
    expect(parseImageName('index.docker.io/library/nginx')).toEqual(parseImageName('nginx'));
    expect(parseImageName('localhost/team/app').registry).toBe('localhost');
    expect(parseImageName('[::1]:5000/app').registry).toBe('[::1]:5000');
    expect(formatImageName(parseImageName('nginx'))).toBe('docker.io/library/nginx');
    expect(apiHostOf(parseImageName('nginx'))).toBe('registry-1.docker.io');
  });

  it('refuses tags, digests, schemes, upper case paths and bad hosts, saying why', () => {
    const cases: [string, RegExp][] = [
      ['', /it is empty/],
      ['nginx:1.2', /without a tag/],
      ['ghcr.io/o/r@sha256:abc', /without a digest/],
      ['https://ghcr.io/o/r', /without a scheme/],
      ['ghcr.io/O/r', /lowercase/],
      ['ghcr.io//r', /empty path component/],
      ['ghcr.io:99999/r', /port/],
      ['-bad.io/r', /not a valid host name/],
      ['ghcr.io/../r', /must be lowercase/],
      [`ghcr.io/${'a'.repeat(300)}`, /longer than 255/],
    ];
    for (const [text, reason] of cases) {
      expect(() => parseImageName(text), text).toThrow(UserError);
      expect(() => parseImageName(text), text).toThrow(reason);
    }
  });
});

describe('docker configs', () => {
  const b64 = (text: string) => Buffer.from(text).toString('base64');

  it('finds credentials by host in the forms people write', () => {
    const config = JSON.stringify({
      auths: {
        'https://index.docker.io/v1/': { auth: b64('hub:hubpass') },
        'ghcr.io': { username: 'gh', password: 'ghp_x:y' },
        'http://127.0.0.1:5000': { auth: b64('local:pa:ss') },
      },
    });
    expect(authFromDockerConfig(config, 'docker.io')).toEqual({ username: 'hub', password: 'hubpass' });
    expect(authFromDockerConfig(config, 'GHCR.IO')).toEqual({ username: 'gh', password: 'ghp_x:y' });
    expect(authFromDockerConfig(config, '127.0.0.1:5000')).toEqual({ username: 'local', password: 'pa:ss' });
    expect(authFromDockerConfig(config, 'quay.io')).toBeUndefined();
    // The older .dockercfg: hosts at the top.
    expect(authFromDockerConfig(JSON.stringify({ 'quay.io': { auth: b64('q:p') } }), 'quay.io')).toEqual({
      username: 'q',
      password: 'p',
    });
  });

  it('refuses malformed configs without quoting them', () => {
    const secret = 'sup3r-secret-value';
    const cases: [string, RegExp][] = [
      [`{"auths": ${secret}`, /it is not JSON/],
      [`["${secret}"]`, /not a JSON object/],
      [JSON.stringify({ auths: { 'a.io': { auth: b64(secret) } } }), /not base64 of "username:password"/],
      [JSON.stringify({ auths: { 'a.io': { identitytoken: secret } } }), /identitytoken/],
      [JSON.stringify({ auths: { 'a.io': { username: 'u', password: `${secret}\r\nx` } } }), /line break/],
      [' '.repeat(1024 * 1024 + 1), /larger than 1024 KiB/],
    ];
    for (const [json, reason] of cases) {
      const error = (() => {
        try {
          authFromDockerConfig(json, 'a.io');
        } catch (e) {
          return e as Error;
        }
        return undefined;
      })();
      expect(error, json.slice(0, 40)).toBeInstanceOf(UserError);
      expect(error?.message).toMatch(reason);
      expect(error?.message).not.toContain(secret);
      expect(error?.cause).toBeUndefined();
    }
  });
});
