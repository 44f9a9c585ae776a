import { describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.js';
import {
  ALLOW_INSECURE_HTTP_ANNOTATION,
  checkCredentialScope,
  CredentialScopeError,
  GIT_URLS_ANNOTATION,
} from './credential-scope.js';

const secret = (urls?: string, extra: Record<string, string> = {}) => ({
  namespace: 'team-a',
  name: 'git-creds',
  annotations: { ...(urls === undefined ? {} : { [GIT_URLS_ANNOTATION]: urls }), ...extra },
});

/** Whether a Secret annotated with `urls` may be used for `url`. */
function allowed(url: string, urls: string): boolean {
  try {
    checkCredentialScope(url, secret(urls));
    return true;
  } catch (error) {
    if (error instanceof UserError) return false;
    throw error;
  }
}

function refusal(url: string, urls?: string, extra?: Record<string, string>): string {
  try {
    checkCredentialScope(url, secret(urls, extra));
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    return (error as Error).message;
  }
  throw new Error(`expected ${url} to be refused`);
}

describe('checkCredentialScope', () => {
  const teamA = 'https://git.example.com/team-a/';

  it.each([
    ['https://git.example.com/team-a/app.git', teamA],
    ['https://git.example.com/team-a/app', 'https://git.example.com/team-a'],
    ['https://git.example.com/team-a', teamA], // the folder itself
    ['https://GIT.Example.COM/team-a/app.git', teamA], // host case
    ['https://git.example.com:443/team-a/app.git', teamA], // the default port, spelled
    ['https://git.example.com/team-a/app.git', 'https://git.example.com:443/team-a/'],
    ['https://git.example.com/team-a/sub/app.git', 'https://git.example.com'], // the whole server
    ['https://git.example.com/team-%61/app.git', teamA], // an unreserved character, encoded
    ['https://git.example.com/team-a/app.git?x=1', teamA], // a query says nothing of the place
    [
      'https://dev.example.com/org/My%20Project/_git/app',
      'https://dev.example.com/org/My%20project/, https://dev.example.com/org/My%20Project/',
    ],
    ['https://git.example.com/team-a/app', 'https://git.example.com/team-a/app.git'],
    ['https://deployer@git.example.com/team-a/app', teamA], // a prefix without a user: any user
    ['https://[0:0::1]:8443/team-a/app', 'https://[::1]:8443/team-a/'],
    ['ssh://git@git.example.com/team-a/app.git', 'ssh://git@git.example.com/team-a/'],
    ['ssh://git@git.example.com:22/team-a/app.git', 'ssh://git@git.example.com/team-a/'],
    ['git@git.example.com:team-a/app.git', 'git@git.example.com:team-a/'],
    ['git@git.example.com:/team-a/app.git', 'ssh://git@git.example.com/team-a/'], // both rooted
    ['git@git.example.com:team-a/app.git', 'ssh://git@git.example.com'], // the whole server
    ['git@git.example.com:team-a/app.git', `https://other.example.com/\n  git@git.example.com:team-a/\n`],
  ])('lets a Secret for %j be used by %j', (url, urls) => {
    expect(allowed(url, urls)).toBe(true);
  });

  it.each([
    ['https://git.example.com/team-abc/app.git', teamA, 'a prefix of a name is not its folder'],
    ['https://git.example.com/team/app.git', teamA, 'a parent folder'],
    ['https://git.example.com/Team-A/app.git', teamA, 'paths compare exactly'],
    ['http://git.example.com/team-a/app.git', teamA, 'another scheme'],
    ['https://git.example.com:8443/team-a/app.git', teamA, 'another port'],
    ['https://git.example.com/team-a/app.git', 'https://git.example.com:8443/team-a/', 'another port'],
    ['https://evil.example.com/team-a/app.git', teamA, 'another host'],
    ['https://git.example.com.evil.com/team-a/app.git', teamA, 'a longer host'],
    ['https://evilgit.example.com/team-a/app.git', 'https://git.example.com/', 'a longer host'],
    ['https://git.example.com@evil.com/team-a/app.git', teamA, 'the allowed host as a user name'],
    [
      'https://git.example.com/team-a/app/x.git',
      'https://git.example.com/team-a/app.git',
      'under a repository',
    ],
    ['ssh://root@git.example.com/team-a/app.git', 'ssh://git@git.example.com/team-a/', 'another ssh user'],
    ['ssh://git@git.example.com/team-a/app.git', 'git@git.example.com:team-a/', 'rooted, not home-relative'],
    ['git@git.example.com:team-a/app.git', 'ssh://git@git.example.com/team-a/', 'home-relative, not rooted'],
    ['ssh://git@git.example.com:2222/team-a/app.git', 'git@git.example.com:team-a/', 'another port'],
    ['https://git.example.com/team-a/app.git', 'git@git.example.com:team-a/', 'ssh is not https'],
  ])('refuses %j for a Secret for %j (%s)', (url, urls) => {
    expect(allowed(url, urls)).toBe(false);
  });

  it.each([
    ['https://git.example.com\\@evil.com/team-a/app.git', /backslash/],
    ['https://a@git.example.com@evil.com/team-a/app.git', /more than one "@"|not allowed/],
    ['https://git.example.com/team-a/../team-b/app.git', /"\." or "\.\." segment/],
    ['https://git.example.com/team-a/%2e%2e/team-b/app.git', /"\." or "\.\." segment/],
    ['https://git.example.com/team-a/.%2E/team-b/app.git', /"\." or "\.\." segment/],
    ['https://git.example.com/team-a/./app.git', /"\." or "\.\." segment/],
    ['https://git.example.com/team-a%2F..%2Fteam-b/app.git', /encoded "\/"/],
    ['https://git.example.com/team-a%5C..%5Cteam-b/app.git', /encoded "\/"/],
    ['https://git.example.com/team-a/%zz/app.git', /malformed %-escape/],
    ['https://0x7f.1/team-a/app.git', /reads differently/],
    ['https://2130706433/team-a/app.git', /reads differently/],
  ])('refuses the ambiguous URL %j whatever the prefixes', (url, reason) => {
    const message = refusal(url, 'https://git.example.com/, https://127.0.0.1/, https://evil.com/');
    expect(message).toMatch(reason);
  });

  it('refuses a Secret without the annotation, naming the Secret and the redacted URL', () => {
    const url = 'https://someone@evil.example.com/loot.git?token=abc123';
    const error = (() => {
      try {
        checkCredentialScope(url, secret());
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(CredentialScopeError);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toBe(
      'the Secret team-a/git-creds may not be used for https://***@evil.example.com/loot.git?token=***: ' +
        'it has no annotation capstan.dev/git-urls listing the URL prefixes it may be sent to; the ' +
        'Secret\'s owner must add one (for example capstan.dev/git-urls: "https://git.example.com/team-a/")',
    );
    expect(refusal(url, ' ,\n ')).toMatch(/has no annotation capstan\.dev\/git-urls/);
  });

  it('says when no prefix covers the URL, without listing them', () => {
    const message = refusal('https://evil.example.com/loot.git', 'https://git.example.com/secret-team/');
    expect(message).toMatch(
      /^the Secret team-a\/git-creds may not be used for https:\/\/evil\.example\.com\/loot\.git: no prefix in its annotation capstan\.dev\/git-urls covers this URL/,
    );
    expect(message).not.toContain('secret-team');
  });

  it('refuses an invalid prefix loudly, redacted, rather than skipping it', () => {
    for (const [entry, reason] of [
      ['https://user:tok3n-value@git.example.com/', /embeds a password/],
      ['https://git.example.com/team-a/?ref=main', /no query or fragment/],
      ['https://git.example.com./team-a/', /host is not a valid/],
      ['ftp://git.example.com/team-a/', /scheme "ftp" cannot carry credentials/],
      ['git.example.com/team-a', /use an https, http or ssh URL/],
    ] as const) {
      const message = refusal('https://git.example.com/team-a/app.git', `${teamA}, ${entry}`);
      expect(message).toMatch(
        /^the Secret team-a\/git-creds has an invalid entry '.*' in its annotation capstan\.dev\/git-urls: /,
      );
      expect(message).toMatch(reason);
      expect(message).not.toContain('tok3n-value');
    }
  });

  it('refuses plain http:// unless the Secret itself opts in', () => {
    const url = 'http://127.0.0.1:8080/team-a/app.git';
    const urls = 'http://127.0.0.1:8080/team-a/';
    expect(refusal(url, urls)).toMatch(
      /it would be sent over plain http:\/\/.*use https:\/\/, or, if the Secret's owner accepts that risk, annotate the Secret capstan\.dev\/allow-insecure-http: "true"$/,
    );
    expect(refusal(url, urls, { [ALLOW_INSECURE_HTTP_ANNOTATION]: 'yes' })).toMatch(/plain http/);
    expect(checkCredentialScope(url, secret(urls, { [ALLOW_INSECURE_HTTP_ANNOTATION]: 'true' }))).toEqual({
      allowInsecureHttp: true,
    });
    expect(checkCredentialScope('https://git.example.com/team-a/x', secret(teamA))).toEqual({
      allowInsecureHttp: false,
    });
    // The opt-in widens nothing: the URL must still be covered.
    expect(
      refusal('http://evil.example.com/x.git', urls, { [ALLOW_INSECURE_HTTP_ANNOTATION]: 'true' }),
    ).toMatch(/no prefix/);
  });

  it('never lends credentials to a file:// URL', () => {
    expect(refusal('file:///var/lib/other-tenant.git', 'https://git.example.com/')).toMatch(
      /scheme "file" cannot carry credentials/,
    );
  });
});
