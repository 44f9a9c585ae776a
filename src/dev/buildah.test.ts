import { describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.js';
import { buildScratchImage, inspectLocalImage, pushLocalImage } from './buildah.js';

// Every refusal here happens before buildah runs: these need no buildah on the machine.
const config = { entrypoint: ['/bin/busybox'] };

describe('buildah arguments', () => {
  it('builds only local images named localhost/name:tag', async () => {
    for (const reference of [
      'docker.io/library/capstan:1',
      'localhost/Capstan:1',
      'localhost/capstan',
      'localhost/capstan:-x',
      'localhost//capstan:1',
      '--rm',
    ]) {
      await expect(buildScratchImage('/nonexistent', config, reference), reference).rejects.toThrow(
        UserError,
      );
      await expect(inspectLocalImage(reference), reference).rejects.toThrow(UserError);
    }
  });

  it('refuses a config it could not pass intact', async () => {
    await expect(buildScratchImage('/nonexistent', { entrypoint: [] }, 'localhost/x:1')).rejects.toThrow(
      /entrypoint/,
    );
    await expect(
      buildScratchImage('/nonexistent', { ...config, env: { 'A=B': 'c' } }, 'localhost/x:1'),
    ).rejects.toThrow(UserError);
    await expect(
      buildScratchImage('/nonexistent', { ...config, labels: { '': 'c' } }, 'localhost/x:1'),
    ).rejects.toThrow(UserError);
    await expect(
      buildScratchImage('/nonexistent', { ...config, ports: [0] }, 'localhost/x:1'),
    ).rejects.toThrow(/not a port/);
  });

  it('pushes only to HOST:PORT/name:tag', async () => {
    for (const destination of [
      'http://127.0.0.1:5000/x:1',
      '127.0.0.1:99999/x:1',
      '127.0.0.1/x:1',
      '127.0.0.1:5000/x',
      '127.0.0.1:5000/X:1',
      '127.0.0.1:5000/x:1 --tls-verify=false',
    ]) {
      await expect(pushLocalImage('localhost/x:1', destination), destination).rejects.toThrow(UserError);
    }
  });
});
