import { describe, expect, it } from 'vitest';
import { mayAuthenticateAt, readTokenAnswer } from './auth.js';
import { RegistryError } from './errors.js';

describe('where credentials may go', () => {
  const https = {
    registry: new URL('https://ghcr.io'),
    plainHttp: false,
    allowedRealmHosts: ['auth.example.com'],
  };

  it('to the registry’s own host, and to https realms the caller allows', () => {
    expect(mayAuthenticateAt(new URL('https://ghcr.io/token'), https, true)).toBe(true);
    expect(mayAuthenticateAt(new URL('https://auth.example.com/token'), https, true)).toBe(true);
  });

  it('nowhere else: another host is refused with credentials, asked anonymously without', () => {
    expect(() => mayAuthenticateAt(new URL('https://evil.example.net/token'), https, true)).toThrow(
      /its token service is on another host, 'evil\.example\.net', which may not receive the credentials/,
    );
    expect(mayAuthenticateAt(new URL('https://evil.example.net/token'), https, false)).toBe(false);
  });

  it('never over plain http unless plain http was allowed, nor to a realm URL with credentials', () => {
    expect(() => mayAuthenticateAt(new URL('http://ghcr.io/token'), https, true)).toThrow(
      /is plain http:\/\/, and plain http was not allowed/,
    );
    expect(() => mayAuthenticateAt(new URL('http://auth.example.com/token'), https, false)).toThrow(
      RegistryError,
    );
    expect(() => mayAuthenticateAt(new URL('https://u:p@ghcr.io/token'), https, true)).toThrow(
      /holds credentials/,
    );
    expect(() => mayAuthenticateAt(new URL('file:///etc/passwd'), https, false)).toThrow(
      /not an http\(s\) URL/,
    );
    const plain = { registry: new URL('http://127.0.0.1:5000'), plainHttp: true, allowedRealmHosts: [] };
    expect(mayAuthenticateAt(new URL('http://127.0.0.1:5000/v2/token'), plain, true)).toBe(true);
    // Another port is another service.
    expect(() => mayAuthenticateAt(new URL('http://127.0.0.1:5001/v2/token'), plain, true)).toThrow(
      /another host/,
    );
  });
});

describe('token answers', () => {
  it('reads token or access_token, keeping it at least 60 s and at most a day', () => {
    const read = (body: unknown) => readTokenAnswer(Buffer.from(JSON.stringify(body)), 'peer');
    expect(read({ token: 'a', expires_in: 5 })).toEqual({ token: 'a', lifetimeMs: 60_000 });
    expect(read({ access_token: 'b', expires_in: 300 })).toEqual({ token: 'b', lifetimeMs: 300_000 });
    expect(read({ token: 'c', expires_in: 1e12 }).lifetimeMs).toBe(86_400_000);
    expect(() => read({ token: '' })).toThrow(/holds no token/);
    expect(() => read({ token: 'a\r\nx-injected: 1' })).toThrow(/not usable in a header/);
    expect(() => readTokenAnswer(Buffer.from('<html>'), 'peer')).toThrow(/not JSON/);
  });
});
