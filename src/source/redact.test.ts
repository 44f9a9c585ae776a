import { describe, expect, it } from 'vitest';
import { MAX_REDACTED_CHARS, quote, redactText, redactUrl } from './redact.js';

describe('redactUrl', () => {
  it('hides the whole userinfo of http(s) URLs, and every query value', () => {
    expect(redactUrl('https://user:pass@example.com/r.git')).toBe('https://***@example.com/r.git');
    expect(redactUrl('https://ghp_token123@github.com/org/r')).toBe('https://***@github.com/org/r');
    expect(redactUrl('https://example.com/r.git?private_token=abc&x=1#frag')).toBe(
      'https://example.com/r.git?private_token=***&x=***',
    );
  });

  it('keeps ssh user names, which are not secret, but hides passwords', () => {
    expect(redactUrl('git@github.com:org/r.git')).toBe('git@github.com:org/r.git');
    expect(redactUrl('ssh://git@example.com:22/r')).toBe('ssh://git@example.com:22/r');
    expect(redactUrl('ssh://git:pw@example.com/r')).toBe('ssh://git:***@example.com/r');
  });
});

describe('redactText', () => {
  it('removes credentials from URLs anywhere in free text', () => {
    const text = "fatal: unable to access 'https://bob:s3cret@example.com/r.git/?token=t0k': 403";
    const redacted = redactText(text);
    expect(redacted).not.toContain('s3cret');
    expect(redacted).not.toContain('t0k');
    expect(redacted).toContain("'https://***@example.com/r.git/?token=***'");
  });

  it('removes Authorization headers, bearer tokens and key=value secrets', () => {
    const text = [
      '> Authorization: Basic Ym9iOnMzY3JldA==',
      'header Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig',
      'password=hunter22 token: abcd1234',
    ].join('\n');
    const redacted = redactText(text);
    for (const secret of ['Ym9iOnMzY3JldA==', 'eyJhbGciOiJIUzI1NiJ9', 'hunter22', 'abcd1234']) {
      expect(redacted).not.toContain(secret);
    }
  });

  it('removes private keys, whole or in fragments', () => {
    const key = [
      '-----BEGIN OPENSSH PRIVATE KEY-----',
      'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW',
      'QyNTUxOQAAACBpbGx1c3RyYXRpdmUta2V5LW5vdC1yZWFsLWF0LWFsbC0xMjM0NQAAAJ',
      '-----END OPENSSH PRIVATE KEY-----',
    ].join('\n');
    expect(redactText(`oops ${key} end`)).toBe('oops [private key] end');
    const fragment = key.split('\n')[2]!;
    expect(redactText(`line: ${fragment}`, [key])).not.toContain(fragment);
  });

  it('removes known secret values verbatim and percent-encoded, but not very short ones', () => {
    const secret = 'p@ss w/rd!';
    const text = `a ${secret} b ${encodeURIComponent(secret)} c`;
    expect(redactText(text, [secret])).toBe('a *** b *** c');
    expect(redactText('a b c', ['a'])).toBe('a b c');
  });

  it('can be applied twice', () => {
    const once = redactText('see https://u:p@h/x?token=abc');
    expect(redactText(once)).toBe(once);
  });
});

/**
 * What a hostile server can make git print: long runs of what the rules look for. Each must come
 * out right; how long it takes is measured in bench/hostile-git.bench.ts (the patterns these
 * replaced took seconds on 64 KiB of `b.b.b.`).
 */
describe('redactText on hostile input', () => {
  const K64 = 64 * 1024;
  /** `unit` repeated to at least 64 KiB. */
  const run = (unit: string) => unit.repeat(Math.ceil(K64 / unit.length));
  /** 64 KiB of `unit` comes out as as many `redacted`. */
  const expectEach = (unit: string, redacted: string, secrets: string[] = []) => {
    const times = Math.ceil(K64 / unit.length);
    expect(redactText(unit.repeat(times), secrets)).toBe(redacted.repeat(times));
  };

  it('leaves long runs of near-misses as they are', () => {
    for (const unit of ['b.', 'a://', 'ssh://git:', 'password ', 'Bearer ', '-----BEGIN ', 'x_', '?a=b&']) {
      expectEach(unit, unit);
    }
  });

  it('finds every secret in a long run of them', () => {
    expectEach('a://u:p@', 'a://***@');
    expectEach('ssh://git:pw@h ', 'ssh://git:***@h ');
    expectEach('https://h/r?token=t0k ', 'https://h/r?token=*** ');
    expectEach('hunter22', '***', ['hunter22']);
    expectEach('token: Bearer abcdefghij ', 'token: *** *** ');
    expectEach('Authorization: Authorization: ', 'Authorization: *** ');
    expectEach(
      '-----BEGIN RSA PRIVATE KEY-----\nMIIEb3Bl\n-----END RSA PRIVATE KEY-----\n',
      '[private key]\n',
    );
    // The first value runs to the end of the text.
    expect(redactText(run('password='))).toBe('password=***');
  });

  it('hides a private key however often it begins, and a 64 KiB header value', () => {
    expect(redactText(run('-----BEGIN PRIVATE KEY-----'))).toBe('[private key]');
    expect(redactText(`-----BEGIN ${'A'.repeat(K64)}PRIVATE KEY-----\nkey`)).toBe('[private key]');
    expect(redactText(`Authorization: Bearer ${'x'.repeat(K64)} tail`)).toBe(
      'Authorization: Bearer *** tail',
    );
  });

  it('finds a credential at the end of a 64 KiB line', () => {
    expect(redactText(`${run('b.')} https://u:s3cret@h/r?token=t0k`)).toBe(
      `${run('b.')} https://***@h/r?token=***`,
    );
    expect(redactUrl(`https://${run('a:')}@h/r`)).toBe('https://***@h/r');
    expect(redactUrl(`ssh://${run('a')}:pw@h/r`)).toBe(`ssh://${run('a')}:***@h/r`);
  });

  it('keeps whole lines of the head of very long text, and stays idempotent', () => {
    const text = `${'line\n'.repeat(MAX_REDACTED_CHARS / 4)}password=hunter22`;
    const redacted = redactText(text);
    expect(redacted.length).toBeLessThan(MAX_REDACTED_CHARS / 2);
    expect(redacted).toMatch(/^line\nline\n/);
    expect(redacted).toMatch(/\nline\n\[… \d+ more characters not shown\]$/);
    expect(redactText(redacted)).toBe(redacted);
    // One line longer than the limit: nothing of it is kept, not even a secret's beginning.
    expect(redactText(`x https://u:${'p'.repeat(MAX_REDACTED_CHARS)}@h`)).toMatch(
      /^\[… \d+ more characters not shown\]$/,
    );
  });

  it('hides names ending in a secret word, as environment variables spell them', () => {
    expect(redactText('CAPSTAN_GIT_TOKEN=abc GIT_PASSWORD: def client_secret = ghi')).toBe(
      'CAPSTAN_GIT_TOKEN=*** GIT_PASSWORD: *** client_secret = ***',
    );
    expect(redactText('tokens=1 passwordless=yes token_count=3')).toBe(
      'tokens=1 passwordless=yes token_count=3',
    );
  });

  it('is idempotent on what it produced from hostile input', () => {
    for (const unit of [
      'a://u:p@',
      'token: Bearer abcdefghij ',
      'Authorization: ',
      '?a=b&',
      'ssh://git:pw@h ',
    ]) {
      const once = redactText(run(unit));
      expect(redactText(once)).toBe(once);
    }
  });
});

describe('quote', () => {
  it('escapes control characters so they cannot forge log lines', () => {
    expect(quote('a\nb\u001b[31m')).toBe("'a\\u000ab\\u001b[31m'");
    expect(quote("it's")).toBe("'it\\'s'");
    expect(quote('x'.repeat(300)).length).toBeLessThan(210);
  });
});
