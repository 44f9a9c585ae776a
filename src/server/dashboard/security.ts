/**
 * The browser-facing defences of the dashboard, each small and pure: response headers, cookies,
 * the same-origin check and the CSRF token check.
 *
 * - Every response carries a strict Content-Security-Policy (only our own origin; no inline script
 *   or style, no plugins, no framing, no `<base>`), nosniff, no referrer, and isolation headers.
 * - The session cookie is HttpOnly (scripts cannot read it), SameSite=Strict (no other site's page
 *   sends it) and Secure over https (with the `__Host-` prefix, so no subdomain can set it).
 * - A state-changing request (POST, DELETE) must come from our own origin (`Origin` equal to the
 *   server's; a browser always sends it on such requests) and carry the session's CSRF token in the
 *   `x-capstan-csrf` header, which a page of another origin can neither read nor set without a CORS
 *   preflight we never grant. It must also be JSON, which no HTML form can send.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers for every response, the event stream's included. */
export function securityHeaders(secure: boolean): Record<string, string> {
  return {
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
    ...(secure ? { 'strict-transport-security': 'max-age=31536000' } : {}),
  };
}

/** The session cookie's name: `__Host-` bound to this exact host, where the browser allows it (https). */
export function sessionCookieName(secure: boolean): string {
  return secure ? '__Host-capstan-session' : 'capstan-session';
}

export function serializeSessionCookie(
  value: string,
  options: { secure: boolean; maxAgeSeconds: number },
): string {
  const parts = [
    `${sessionCookieName(options.secure)}=${value}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${Math.max(0, Math.floor(options.maxAgeSeconds))}`,
  ];
  if (options.secure) parts.push('Secure');
  return parts.join('; ');
}

export function clearSessionCookie(secure: boolean): string {
  return serializeSessionCookie('', { secure, maxAgeSeconds: 0 });
}

/** One cookie's value from a Cookie header (the first of that name); `undefined` when absent. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Equal strings, in time that does not depend on where they differ. */
export function sameToken(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** One header's value, or `undefined` when absent or repeated (a repeated Origin is not trusted). */
export function singleHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Whether a state-changing request comes from the server's own origin. `Origin` must be present and
 * name `protocol://host` exactly; `Sec-Fetch-Site`, when sent, must say same-origin.
 */
export function sameOrigin(
  headers: IncomingHttpHeaders,
  protocol: string,
  host: string | undefined,
): boolean {
  const origin = singleHeader(headers, 'origin');
  if (origin === undefined || host === undefined) return false;
  const site = singleHeader(headers, 'sec-fetch-site');
  if (site !== undefined && site !== 'same-origin') return false;
  return origin.toLowerCase() === `${protocol}://${host}`.toLowerCase();
}

/** A Host header among the allowed ones (the local dashboard refuses DNS-rebinding names). */
export function hostAllowed(host: string | undefined, allowed: readonly string[] | undefined): boolean {
  if (allowed === undefined) return true;
  return host !== undefined && allowed.includes(host.toLowerCase());
}
