/**
 * Red team of the image's source label (repositoryUrl): package.json's repository URL goes into
 * the image for everyone who pulls it, so any spelling that can carry a credential is left out.
 */
import { describe, expect, it } from 'vitest';
import { repositoryUrl } from './image.js';

describe("the image's source label never carries a credential", () => {
  it.each([
    ['a token in the query', 'https://git.example.com/capstan.git?private_token=glpat-s3cret'],
    ['a token in the fragment', 'https://git.example.com/capstan.git#access_token=s3cret'],
    ['a user name (often the token itself)', 'https://ghp_s3cret@github.com/org/capstan.git'],
    ['a user and password', 'https://user:s3cret@github.com/org/capstan.git'],
    ['a newline', 'https://github.com/org/capstan.git\nX-Token: s3cret'],
    ['plain http', 'http://github.com/org/capstan.git'],
  ])('%s', (_what, url) => {
    expect(repositoryUrl({ version: '1', repository: { url } })).toBeUndefined();
  });

  it('keeps a plain https URL', () => {
    expect(repositoryUrl({ version: '1', repository: 'https://github.com/org/capstan' })).toBe(
      'https://github.com/org/capstan',
    );
  });
});
