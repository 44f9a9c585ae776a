import { describe, expect, it } from 'vitest';
import { applyIdentityOf, parseDefaultServiceAccount } from './tenancy.js';

describe('applyIdentityOf', () => {
  it("applies as the Application's ServiceAccount, in the Application's namespace", () => {
    expect(applyIdentityOf('team-a', 'deployer', {})).toEqual({
      allowed: true,
      serviceAccount: { namespace: 'team-a', name: 'deployer' },
    });
  });

  it('refuses an Application that names none when no default is set: never the controller', () => {
    const identity = applyIdentityOf('team-a', undefined, {});
    expect(identity).toMatchObject({ allowed: false, reason: 'ServiceAccountRequired' });
  });

  it('uses the default by name in the Application namespace, or one for all', () => {
    const perNamespace = { defaultServiceAccount: parseDefaultServiceAccount('capstan') };
    expect(applyIdentityOf('team-a', undefined, perNamespace)).toMatchObject({
      serviceAccount: { namespace: 'team-a', name: 'capstan' },
    });
    const single = { defaultServiceAccount: parseDefaultServiceAccount('capstan-system/capstan-applier') };
    expect(applyIdentityOf('team-a', undefined, single)).toMatchObject({
      serviceAccount: { namespace: 'capstan-system', name: 'capstan-applier' },
    });
    // The Application's own choice wins, and stays in its namespace.
    expect(applyIdentityOf('team-a', 'mine', single)).toMatchObject({
      serviceAccount: { namespace: 'team-a', name: 'mine' },
    });
  });

  it('refuses malformed defaults with a clear message', () => {
    for (const text of ['', 'a/b/c', 'UPPER', 'ns/', '/name', 'system:masters', 'a b'])
      expect(() => parseDefaultServiceAccount(text)).toThrow(/--default-service-account must be NAME/);
  });
});
