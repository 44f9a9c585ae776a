import { describe, expect, it } from 'vitest';
import { TokenBucketRateLimiter, clientKey } from './rate-limit.js';

function manualNow(): { clock: { now: () => Date }; advance: (ms: number) => void } {
  let now = Date.parse('2024-05-01T12:00:00Z');
  return { clock: { now: () => new Date(now) }, advance: (ms) => (now += ms) };
}

describe('TokenBucketRateLimiter', () => {
  it('allows a burst of ratePerMinute, then one request per 60/rate seconds', () => {
    const { clock, advance } = manualNow();
    const limiter = new TokenBucketRateLimiter({ ratePerMinute: 6, clock });
    for (let i = 0; i < 6; i++) expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('a')).toEqual({ allowed: false, retryAfterSeconds: 10 });
    advance(9_000);
    expect(limiter.take('a')).toEqual({ allowed: false, retryAfterSeconds: 1 });
    advance(1_000);
    expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('b').allowed).toBe(true);
  });

  it('forgets clients once their bucket has refilled', () => {
    const { clock, advance } = manualNow();
    const limiter = new TokenBucketRateLimiter({ ratePerMinute: 60, clock });
    for (let i = 0; i < 100; i++) limiter.take(`client-${i}`);
    expect(limiter.trackedClients).toBe(100);
    advance(60_000);
    limiter.take('late');
    expect(limiter.trackedClients).toBe(1);
  });

  it('never tracks more than maxClients, dropping the least recently seen', () => {
    const { clock } = manualNow();
    const limiter = new TokenBucketRateLimiter({ ratePerMinute: 1, maxClients: 3, clock });
    for (const client of ['a', 'b', 'c']) limiter.take(client);
    expect(limiter.take('a').allowed).toBe(false);
    limiter.take('d'); // evicts b, the least recently seen
    expect(limiter.trackedClients).toBe(3);
    expect(limiter.take('a').allowed).toBe(false);
    expect(limiter.take('b').allowed).toBe(true);
  });
});

describe('clientKey', () => {
  it('keys IPv4 by address and IPv6 by /64', () => {
    expect(clientKey('192.0.2.7')).toBe('192.0.2.7');
    expect(clientKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(clientKey('2001:db8:0:1::5')).toBe('2001:db8:0:1::/64');
    expect(clientKey('2001:db8:0:1:ffff:1:2:3')).toBe('2001:db8:0:1::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey('not-an-ip:x')).toBe('not-an-ip:x');
  });
});
