import { describe, expect, it } from 'vitest';
import type { NotificationSecret } from './types.js';
import {
  ALLOW_INSECURE_HTTP_ANNOTATION,
  checkNotificationUrl,
  isBlockedAddress,
  isBlockedHost,
  NOTIFICATION_URLS_ANNOTATION,
  NotificationUrlError,
  type UrlCheck,
} from './url.js';

const secret = (annotations: Record<string, string> = {}): NotificationSecret => ({
  namespace: 'team-a',
  name: 'notify',
  annotations,
  data: { token: 'tok3n-value' },
});

const check = (url: string, overrides: Partial<UrlCheck> = {}): (() => void) => {
  return () => checkNotificationUrl({ url, source: 'spec', display: `'${url}'`, ...overrides });
};

describe('checkNotificationUrl', () => {
  it('allows https without a Secret, refuses other schemes and plain http without one', () => {
    expect(check('https://hooks.example.com/x')).not.toThrow();
    expect(check('ftp://hooks.example.com/x')).toThrow(NotificationUrlError);
    expect(check('file:///etc/passwd')).toThrow(NotificationUrlError);
    expect(check('http://hooks.example.com/x')).toThrow(/plain http/);
  });

  it('allows plain http only when the Secret says so', () => {
    const url = 'http://receiver.local:8080/hook';
    expect(check(url, { source: 'secret', secret: secret() })).toThrow(ALLOW_INSECURE_HTTP_ANNOTATION);
    expect(
      check(url, { source: 'secret', secret: secret({ [ALLOW_INSECURE_HTTP_ANNOTATION]: 'true' }) }),
    ).not.toThrow();
  });

  it('refuses link-local and metadata addresses, in every spelling, unless the operator allows them', () => {
    for (const url of [
      'https://169.254.169.254/latest/meta-data',
      'https://[fe80::1]/x',
      'https://[::ffff:169.254.169.254]/x',
      'https://[fd00:ec2::254]/x',
      'https://metadata.google.internal/computeMetadata/v1',
      'https://100.100.100.200/x',
    ]) {
      expect(check(url), url).toThrow(/link-local or cloud metadata/);
      expect(check(url, { allowLinkLocal: true }), url).not.toThrow();
    }
    // Spellings parsers read differently are refused outright.
    expect(check('https://0xa9fea9fe/x')).toThrow(NotificationUrlError);
    expect(check('https://169.254.169.254./x')).toThrow(NotificationUrlError);
  });

  it('refuses credentials in the URL and ambiguous URLs', () => {
    expect(check('https://user:pw@hooks.example.com/x')).toThrow(NotificationUrlError);
    expect(check('https://user@hooks.example.com/x')).toThrow(/names a user/);
    expect(check('https://good.example.com\\@evil.example.com/x')).toThrow(NotificationUrlError);
    expect(check('https://a@b@evil.example.com/x')).toThrow(NotificationUrlError);
  });

  it("sends a Secret's material only where its annotation allows, unless the URL is the Secret's own", () => {
    const url = 'https://api.github.com/repos/acme/deploy/statuses/abc';
    expect(check(url, { source: 'derived', secret: secret() })).toThrow(
      /does not list it in its annotation capstan\.dev\/notification-urls.*'https:\/\/api\.github\.com\/repos\/acme\/'/,
    );
    const allowed = secret({ [NOTIFICATION_URLS_ANNOTATION]: 'https://api.github.com/repos/acme/' });
    expect(check(url, { source: 'derived', secret: allowed })).not.toThrow();
    expect(
      check('https://api.github.com/repos/acme-evil/x/statuses/abc', { source: 'derived', secret: allowed }),
    ).toThrow(NotificationUrlError);
    expect(check('https://evil.example.com/repos/acme/x', { source: 'spec', secret: allowed })).toThrow(
      NotificationUrlError,
    );
    expect(check('https://anywhere.example.com/hook', { source: 'secret', secret: secret() })).not.toThrow();
  });

  it('says which annotation entry is invalid', () => {
    const bad = secret({
      [NOTIFICATION_URLS_ANNOTATION]: 'https://ok.example.com/, https://x.example.com/a?b=c',
    });
    expect(check('https://ok.example.com/a', { secret: bad })).toThrow(/invalid entry/);
  });
});

describe('blocked addresses', () => {
  it('covers link-local IPv4 and IPv6, mapped forms and metadata names', () => {
    expect(isBlockedAddress('169.254.0.1', 'ipv4')).toBe(true);
    expect(isBlockedAddress('::ffff:169.254.169.254', 'ipv6')).toBe(true);
    expect(isBlockedAddress('febf::1', 'ipv6')).toBe(true);
    expect(isBlockedAddress('10.0.0.1', 'ipv4')).toBe(false);
    expect(isBlockedAddress('127.0.0.1', 'ipv4')).toBe(false);
    expect(isBlockedHost('[FE80::1]')).toBe(true);
    expect(isBlockedHost('METADATA.google.internal')).toBe(true);
    expect(isBlockedHost('hooks.slack.com')).toBe(false);
  });
});
