import { describe, expect, it } from 'vitest';
import { CapstanError } from '../core/errors.js';
import {
  errorFromResponse,
  errorFromStatus,
  isGone,
  KubeApiError,
  kindForNetworkCode,
  kindForStatus,
} from './errors.js';

const target = {
  method: 'PATCH',
  path: '/api/v1/namespaces/app/configmaps/settings',
  group: '',
  kind: 'ConfigMap',
};

function statusBody(code: number, reason: string, message: string, details?: unknown): string {
  return JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    status: 'Failure',
    code,
    reason,
    message,
    details,
  });
}

describe('errorFromResponse', () => {
  it('parses a Status body into status, reason, message and causes', () => {
    const error = errorFromResponse(
      422,
      statusBody(
        422,
        'Invalid',
        'ConfigMap "Bad" is invalid: metadata.name: Invalid value: "Bad": a lowercase RFC 1123 subdomain',
        {
          name: 'Bad',
          kind: 'ConfigMap',
          causes: [
            {
              reason: 'FieldValueInvalid',
              message: 'Invalid value: "Bad": a lowercase RFC 1123 subdomain',
              field: 'metadata.name',
            },
          ],
        },
      ),
      target,
    );
    expect(error).toBeInstanceOf(KubeApiError);
    expect(error).toBeInstanceOf(CapstanError);
    expect(error).toMatchObject({
      status: 422,
      reason: 'Invalid',
      kind: 'user',
      method: 'PATCH',
      path: target.path,
    });
    expect(error.message).toContain('is invalid');
    expect(error.details?.causes).toEqual([
      {
        reason: 'FieldValueInvalid',
        message: 'Invalid value: "Bad": a lowercase RFC 1123 subdomain',
        field: 'metadata.name',
      },
    ]);
  });

  it.each([
    [404, 'NotFound', 'notFound'],
    [409, 'AlreadyExists', 'conflict'],
    [409, 'Conflict', 'conflict'],
    [403, 'Forbidden', 'user'],
    [422, 'Invalid', 'user'],
    [400, 'BadRequest', 'user'],
    [429, 'TooManyRequests', 'transient'],
    [500, 'InternalError', 'transient'],
    [503, 'ServiceUnavailable', 'transient'],
    [504, 'Timeout', 'transient'],
    [410, 'Expired', 'transient'],
    [401, 'Unauthorized', 'environment'],
  ] as const)('maps %i %s to %s', (code, reason, kind) => {
    const error = errorFromResponse(code, statusBody(code, reason, 'x'), target);
    expect(error.kind).toBe(kind);
    expect(error.reason).toBe(reason);
  });

  it('copes with bodies that are not a Status (a proxy error page)', () => {
    const error = errorFromResponse(502, '<html>Bad gateway</html>', target);
    expect(error).toMatchObject({ status: 502, kind: 'transient', reason: '' });
    expect(error.message).toBe(`PATCH ${target.path}: HTTP 502`);
    expect(errorFromResponse(404, undefined, target)).toMatchObject({ reason: 'NotFound', kind: 'notFound' });
  });

  it('takes retryAfterSeconds from the details or the Retry-After header', () => {
    expect(
      errorFromResponse(
        429,
        statusBody(429, 'TooManyRequests', 'slow down', { retryAfterSeconds: 3 }),
        target,
      ).retryAfterSeconds,
    ).toBe(3);
    expect(errorFromResponse(503, '', target, '7').retryAfterSeconds).toBe(7);
  });

  it('recognises 410 Gone and Expired', () => {
    expect(
      isGone(
        errorFromStatus(
          { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 1 (5)' },
          target,
        ),
      ),
    ).toBe(true);
    expect(isGone(errorFromResponse(500, '', target))).toBe(false);
    expect(isGone(new Error('x'))).toBe(false);
  });
});

describe('Secret scrubbing', () => {
  const secretTarget = {
    method: 'PATCH',
    path: '/api/v1/namespaces/app/secrets/registry',
    group: '',
    kind: 'Secret',
  };
  const leaked = 'eyJhdXRocyI6IHsic2VjcmV0IjogInNoaCJ9fQ==';
  const invalid = statusBody(
    422,
    'Invalid',
    `Secret "registry" is invalid: data[.dockerconfigjson]: Invalid value: "${leaked}": invalid character 'e' looking for beginning of value`,
    {
      name: 'registry',
      kind: 'Secret',
      causes: [
        {
          reason: 'FieldValueInvalid',
          message: `Invalid value: "${leaked}": invalid character`,
          field: 'data[.dockerconfigjson]',
        },
      ],
    },
  );

  it('drops cause messages and rebuilds the message from field paths', () => {
    const error = errorFromResponse(422, invalid, secretTarget);
    expect(error.message).not.toContain(leaked);
    expect(JSON.stringify(error.details)).not.toContain(leaked);
    expect(error.message).toBe('Secret "registry" is invalid: data[.dockerconfigjson]: FieldValueInvalid');
    expect(error.details?.causes).toEqual([
      { reason: 'FieldValueInvalid', field: 'data[.dockerconfigjson]' },
    ]);
  });

  it('recognises a Secret from the Status details or the URL when the caller did not say', () => {
    for (const t of [
      { method: 'POST', path: '/api/v1/namespaces/app/secrets' },
      { method: 'PATCH', path: '/somewhere' },
    ]) {
      const error = errorFromResponse(422, invalid, t);
      expect(error.message).not.toContain(leaked);
    }
  });

  it('withholds a BadRequest message about a Secret that has no causes', () => {
    const error = errorFromResponse(
      400,
      statusBody(400, 'BadRequest', `cannot decode "${leaked}"`),
      secretTarget,
    );
    expect(error.message).not.toContain(leaked);
    expect(error.message).toContain('withheld');
  });

  it('keeps messages that only name the object (Forbidden, NotFound, conflicts)', () => {
    const message =
      'secrets "registry" is forbidden: User "bob" cannot patch resource "secrets" in API group "" in the namespace "app"';
    expect(errorFromResponse(403, statusBody(403, 'Forbidden', message), secretTarget).message).toBe(message);
  });

  it('leaves other kinds alone', () => {
    const error = errorFromResponse(422, invalid.replaceAll('Secret', 'ConfigMap'), target);
    expect(error.message).toContain(leaked);
  });
});

describe('kinds', () => {
  it('maps network codes', () => {
    expect(kindForNetworkCode('ECONNREFUSED')).toBe('transient');
    expect(kindForNetworkCode('ECONNRESET')).toBe('transient');
    expect(kindForNetworkCode('ETIMEDOUT')).toBe('transient');
    expect(kindForNetworkCode('UNABLE_TO_VERIFY_LEAF_SIGNATURE')).toBe('environment');
    expect(kindForNetworkCode('ERR_TLS_CERT_ALTNAME_INVALID')).toBe('environment');
    expect(kindForNetworkCode('RESPONSE_TOO_LARGE')).toBe('internal');
  });

  it('treats unknown statuses as internal', () => {
    expect(kindForStatus(418)).toBe('internal');
  });
});
