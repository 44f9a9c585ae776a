import { describe, expect, it } from 'vitest';
import { quote, redactText, redactUrl } from './redact.js';

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

describe('quote', () => {
  it('escapes control characters so they cannot forge log lines', () => {
    expect(quote('a\nb\u001b[31m')).toBe("'a\\u000ab\\u001b[31m'");
    expect(quote("it's")).toBe("'it\\'s'");
    expect(quote('x'.repeat(300)).length).toBeLessThan(210);
  });
});
