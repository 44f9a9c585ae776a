import { describe, expect, it } from 'vitest';
import { capstanImageConfig, CAPSTAN_UID, INPUTS_LABEL, projectRoot, repositoryUrl } from './image.js';

describe("Capstan's image config", () => {
  const config = capstanImageConfig({
    version: '1.2.3',
    revision: 'a'.repeat(40),
    source: undefined,
    inputs: 'f00',
  });

  it('runs the CLI under tini, as the non-root user, with the tools the image ships', () => {
    expect(config.entrypoint).toEqual(['/usr/bin/tini', '--', 'node', '/app/bin/capstan.js']);
    expect(config.cmd).toEqual(['controller']);
    expect(config.user).toBe(`${CAPSTAN_UID}:${CAPSTAN_UID}`);
    expect(config.env).toMatchObject({
      CAPSTAN_HELM: '/usr/local/bin/helm',
      CAPSTAN_KUSTOMIZE: '/usr/local/bin/kustomize',
      HOME: '/home/capstan',
    });
  });

  it('labels the version, the revision and the hash of its inputs', () => {
    expect(config.labels).toMatchObject({
      'org.opencontainers.image.version': '1.2.3',
      'org.opencontainers.image.revision': 'a'.repeat(40),
      [INPUTS_LABEL]: 'f00',
    });
    expect(config.labels).not.toHaveProperty('org.opencontainers.image.source');
  });

  it('takes a source URL only when it carries no credentials', () => {
    expect(repositoryUrl({ version: '1', repository: 'https://example.com/capstan.git' })).toBe(
      'https://example.com/capstan.git',
    );
    expect(
      repositoryUrl({ version: '1', repository: { url: 'https://user:token@example.com/c.git' } }),
    ).toBeUndefined();
    expect(repositoryUrl({ version: '1', repository: 'git+ssh://git@example.com/c.git' })).toBeUndefined();
    expect(repositoryUrl({ version: '1' })).toBeUndefined();
  });

  it('finds the clone it is built from', () => {
    expect(projectRoot()).toMatch(/\/[^/]+$/);
    expect(projectRoot()).not.toContain('/src');
  });
});
