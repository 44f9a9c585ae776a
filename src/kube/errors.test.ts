import { describe, expect, it } from 'vitest';
import { CapstanError } from '../core/errors.js';
import {
  errorFromResponse,
  errorFromStatus,
  isGone,
  KubeApiError,
  kindForNetworkCode,
  kindForStatus,
  SECRET_CAUSE_IMMUTABLE,
  SECRET_CAUSE_WITHHELD,
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

  it('rebuilds an Invalid message from field paths and gives causes a fixed message', () => {
    const error = errorFromResponse(422, invalid, secretTarget);
    expect(error.message).not.toContain(leaked);
    expect(JSON.stringify(error)).not.toContain(leaked);
    expect(error.message).toBe(
      'Secret "registry": PATCH failed with HTTP 422 Invalid: data[.dockerconfigjson]: FieldValueInvalid',
    );
    expect(error).toMatchObject({ status: 422, reason: 'Invalid', kind: 'user' });
    expect(error.details?.causes).toEqual([
      { reason: 'FieldValueInvalid', field: 'data[.dockerconfigjson]', message: SECRET_CAUSE_WITHHELD },
    ]);
  });

  describe('a server-side apply type error (500, no causes, the values in the message)', () => {
    // Recorded from kube-apiserver v1.37.2: `kubectl apply --server-side` of a Secret with
    // `stringData: {pin: 987654321, nested: {inner: "inner-value-q7x2m9"}}`.
    const recorded =
      '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"failed to create typed patch object (default/typed; /v1, Kind=Secret): errors:\\n  .stringData.nested: expected string, got \\u0026value.valueUnstructured{Value:map[string]interface {}{\\"inner\\":\\"inner-value-q7x2m9\\"}}\\n  .stringData.pin: expected string, got \\u0026value.valueUnstructured{Value:987654321}","code":500}';
    const typedTarget = { ...secretTarget, path: '/api/v1/namespaces/default/secrets/typed' };

    it('keeps each field path and expected type, and nothing of the values', () => {
      const error = errorFromResponse(500, recorded, typedTarget);
      for (const leak of ['987654321', 'inner-value-q7x2m9'])
        expect(`${error.message} ${JSON.stringify(error)}`).not.toContain(leak);
      expect(error.message).toBe(
        'Secret "typed": PATCH failed with HTTP 500 InternalError: .stringData.nested: expected string; .stringData.pin: expected string',
      );
      // Still what it was: an InternalError callers retry and classify as before.
      expect(error).toMatchObject({ status: 500, reason: 'InternalError', kind: 'transient' });
    });

    it('reads the same whichever order the server listed the fields in (Go map order varies)', () => {
      const lines = [
        '  .stringData.nested: expected string, got &value.valueUnstructured{Value:map[string]interface {}{}}',
        '  .stringData.pin: expected string, got &value.valueUnstructured{Value:987654321}',
      ];
      const prefix = 'failed to create typed patch object (default/typed; /v1, Kind=Secret): errors:';
      const messageOf = (order: string[]) =>
        errorFromResponse(500, statusBody(500, 'InternalError', [prefix, ...order].join('\n')), typedTarget)
          .message;
      expect(messageOf([...lines].reverse())).toBe(messageOf(lines));
    });

    it('withholds the message when a line does not read exactly as a path and an expected type', () => {
      const message =
        'failed to create typed patch object (app/typed; /v1, Kind=Secret): .stringData.pin has "s3cr3t"';
      const error = errorFromResponse(500, statusBody(500, 'InternalError', message), typedTarget);
      expect(error.message).toBe(
        'Secret "typed": PATCH failed with HTTP 500 InternalError (the API server\'s message is withheld: it may quote Secret data)',
      );
    });

    it('counts what it could not read instead of showing it', () => {
      const message = [
        'failed to create typed patch object (app/typed; /v1, Kind=Secret): errors:',
        '  .stringData.pin: expected string, got &value.valueUnstructured{Value:987654321}',
        '  .stringData.odd key: expected string, got "s3cr3t"',
      ].join('\n');
      const error = errorFromResponse(500, statusBody(500, 'InternalError', message), typedTarget);
      expect(error.message).toBe(
        'Secret "typed": PATCH failed with HTTP 500 InternalError: .stringData.pin: expected string; 1 more withheld',
      );
    });
  });

  it('recognises a Secret by kind in any group, or by a secrets URL when the Status does not say', () => {
    const unnamed = statusBody(
      422,
      'Invalid',
      `is invalid: data[.dockerconfigjson]: Invalid value: "${leaked}"`,
      {
        causes: [
          {
            reason: 'FieldValueInvalid',
            message: `Invalid value: "${leaked}"`,
            field: 'data[.dockerconfigjson]',
          },
        ],
      },
    );
    expect(errorFromResponse(422, unnamed, target).message).toContain(leaked);
    for (const t of [
      {
        method: 'PATCH',
        path: '/apis/example.com/v1/namespaces/app/things/registry',
        group: 'example.com',
        kind: 'Secret',
      },
      { method: 'POST', path: '/api/v1/namespaces/app/secrets' },
      { method: 'PATCH', path: '/apis/misspelled.io/v1/namespaces/app/secrets/registry' },
    ]) {
      const error = errorFromResponse(422, unnamed, t);
      expect(error.message).not.toContain(leaked);
      expect(error.message).toContain('data[.dockerconfigjson]: FieldValueInvalid');
    }
  });

  it('withholds a BadRequest message about a Secret that has no causes', () => {
    const error = errorFromResponse(
      400,
      statusBody(400, 'BadRequest', `cannot decode "${leaked}"`),
      secretTarget,
    );
    expect(error.message).not.toContain(leaked);
    expect(error.message).toBe(
      'Secret "registry": PATCH failed with HTTP 400 BadRequest (the API server\'s message is withheld: it may quote Secret data)',
    );
  });

  it("keeps who was refused what by an authorization denial, never an admission policy's text", () => {
    const denial =
      'secrets "registry" is forbidden: User "system:serviceaccount:app:deployer" cannot patch resource "secrets" in API group "" in the namespace "app"';
    expect(errorFromResponse(403, statusBody(403, 'Forbidden', denial), secretTarget).message).toBe(
      'Secret "registry": PATCH failed with HTTP 403 Forbidden: User "system:serviceaccount:app:deployer" cannot patch resource "secrets" in API group "" in the namespace "app"',
    );
    const listDenial = `secrets is forbidden: User "bob" cannot list resource "secrets" in API group "" at the cluster scope: RBAC: ${leaked}`;
    const listed = errorFromResponse(403, statusBody(403, 'Forbidden', listDenial), {
      method: 'GET',
      path: '/api/v1/secrets',
      group: '',
      kind: 'Secret',
    });
    expect(listed.message).toBe(
      'Secret: GET failed with HTTP 403 Forbidden: User "bob" cannot list resource "secrets" in API group "" at the cluster scope',
    );
    const policy = `secrets "registry" is forbidden: ValidatingAdmissionPolicy 'no-weak' with binding 'b' denied request: password ${leaked} is weak`;
    const refused = errorFromResponse(403, statusBody(403, 'Forbidden', policy), secretTarget);
    expect(refused.message).not.toContain(leaked);
    expect(refused.message).toContain('withheld');
  });

  it('keeps an immutable-field verdict as a fixed text, so the applier still recognises it', () => {
    // Recorded from kube-apiserver v1.37.2: a dry-run apply changing the type and data of an
    // `immutable: true` Secret.
    const recorded =
      '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Secret \\"imm\\" is invalid: [type: Invalid value: \\"kubernetes.io/basic-auth\\": field is immutable, data: Forbidden: field is immutable when `immutable` is set]","reason":"Invalid","details":{"name":"imm","kind":"Secret","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: \\"kubernetes.io/basic-auth\\": field is immutable","field":"type"},{"reason":"FieldValueForbidden","message":"Forbidden: field is immutable when `immutable` is set","field":"data"}]},"code":422}';
    const error = errorFromResponse(422, recorded, {
      ...secretTarget,
      path: '/api/v1/namespaces/default/secrets/imm',
    });
    expect(error.details?.causes).toEqual([
      { reason: 'FieldValueInvalid', field: 'type', message: SECRET_CAUSE_IMMUTABLE },
      { reason: 'FieldValueForbidden', field: 'data', message: SECRET_CAUSE_IMMUTABLE },
    ]);
    expect(error.message).toBe(
      'Secret "imm": PATCH failed with HTTP 422 Invalid: type: FieldValueInvalid (field is immutable); data: FieldValueForbidden (field is immutable)',
    );
    expect(error.message).not.toContain('basic-auth');
  });

  it('reads the immutable verdict outside the quotes the server puts values in', () => {
    const quoted = statusBody(422, 'Invalid', 'x', {
      name: 'registry',
      kind: 'Secret',
      causes: [
        { reason: 'FieldValueInvalid', message: 'Invalid value: "field is immutable": bad', field: 'x' },
      ],
    });
    expect(errorFromResponse(422, quoted, secretTarget).details?.causes?.[0]?.message).toBe(
      SECRET_CAUSE_WITHHELD,
    );
  });

  it('reads a verdict after a long value full of escaped quotes (a scanner, not a backtracking pattern)', () => {
    const value = '\\"'.repeat(100_000);
    const cause = (message: string) =>
      statusBody(422, 'Invalid', 'x', {
        name: 'registry',
        kind: 'Secret',
        causes: [{ reason: 'FieldValueInvalid', message, field: 'type' }],
      });
    const verdict = errorFromResponse(
      422,
      cause(`Invalid value: "${value}": field is immutable`),
      secretTarget,
    );
    expect(verdict.details?.causes?.[0]?.message).toBe(SECRET_CAUSE_IMMUTABLE);
    // An unclosed quote hides the rest, verdict-looking text included.
    const unclosed = errorFromResponse(
      422,
      cause(`Invalid value: "${value} field is immutable`),
      secretTarget,
    );
    expect(unclosed.details?.causes?.[0]?.message).toBe(SECRET_CAUSE_WITHHELD);
  });

  it.each([
    [404, 'NotFound', 'secrets "registry" not found'],
    [409, 'AlreadyExists', 'secrets "registry" already exists'],
    [409, 'Conflict', 'Operation cannot be fulfilled on secrets "registry": the object has been modified'],
    [500, 'InternalError', `Internal error occurred: ${leaked}`],
  ] as const)('keeps only status and reason of a %i %s, and its kind', (code, reason, message) => {
    const error = errorFromResponse(
      code,
      statusBody(code, reason, message, { name: 'registry', kind: 'secrets' }),
      secretTarget,
    );
    expect(error.message).toBe(
      `Secret "registry": PATCH failed with HTTP ${code} ${reason} (the API server's message is withheld: it may quote Secret data)`,
    );
    expect(error).toMatchObject({ status: code, reason, kind: kindForStatus(code) });
  });

  it('recognises a Secret from the Status details when the caller did not say', () => {
    const error = errorFromResponse(422, invalid, { method: 'PATCH', path: '/somewhere' });
    expect(error.message).not.toContain(leaked);
  });

  it('scrubs a watch ERROR event about Secrets too', () => {
    const error = errorFromStatus(
      { kind: 'Status', code: 500, reason: 'InternalError', message: `boom ${leaked}` },
      { method: 'GET', path: '/api/v1/namespaces/app/secrets', group: '', kind: 'Secret' },
    );
    expect(error.message).not.toContain(leaked);
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
