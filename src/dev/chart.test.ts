import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { checkDestination, readChartMetadata } from './chart.js';

describe("Capstan's chart", () => {
  it('has the version of package.json (chart and app)', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(await readChartMetadata()).toEqual({
      name: 'capstan',
      version: pkg.version,
      appVersion: pkg.version,
    });
  });

  it('publishes only to oci://HOST/PATH without credentials', () => {
    expect(checkDestination('oci://127.0.0.1:5000/charts/')).toBe('oci://127.0.0.1:5000/charts');
    expect(checkDestination('oci://registry.example.com')).toBe('oci://registry.example.com');
    for (const bad of [
      'https://127.0.0.1:5000/charts',
      'oci://user:pass@127.0.0.1/charts',
      'oci://127.0.0.1/charts?x=1',
      'oci://127.0.0.1/Charts',
      '--plain-http',
      'oci://127.0.0.1/charts /x',
    ])
      expect(() => checkDestination(bad), bad).toThrow(/oci:\/\/HOST/);
  });
});
