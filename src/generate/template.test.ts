import { describe, expect, it } from 'vitest';
import { applicationName, slugify, substitute, substituteDeep, TemplateError } from './template.js';

const params = new Map([
  ['branch', 'env/qa'],
  ['branchSlug', 'env-qa'],
  ['values.region', 'eu-1'],
]);

describe('placeholders', () => {
  it('replaces every placeholder, with or without spaces inside the braces', () => {
    expect(substitute('app-{{branchSlug}}-{{ values.region }}', params, 'name')).toBe('app-env-qa-eu-1');
    expect(substitute('no placeholders', params, 'name')).toBe('no placeholders');
    expect(substitute('{{branch}}{{branch}}', params, 'name')).toBe('env/qaenv/qa');
  });

  it('never scans what it inserted: a branch named like a placeholder stays text', () => {
    const hostile = new Map([['branch', '{{values.secret}}']]);
    expect(substitute('x-{{branch}}', hostile, 'name')).toBe('x-{{values.secret}}');
  });

  it('names an unknown placeholder, and what is known', () => {
    expect(() => substitute('{{number}}', params, 'template.metadata.name')).toThrow(TemplateError);
    expect(() => substitute('{{number}}', params, 'template.metadata.name')).toThrow(
      /template\.metadata\.name: unknown placeholder \{\{number\}\} \(known here: \{\{branch\}\}/,
    );
  });

  it('refuses an unclosed or malformed placeholder', () => {
    expect(() => substitute('a-{{branch', params, 'x')).toThrow(/never closed/);
    expect(() => substitute('{{ a b }}', params, 'x')).toThrow(/not a placeholder name/);
    expect(() => substitute('{{}}', params, 'x')).toThrow(/not a placeholder name/);
  });

  it('takes time linear in the text on hostile input', () => {
    // Many openings and no closing: one indexOf for the closing, then an error.
    expect(() => substitute('{{'.repeat(200_000), params, 'x')).toThrow(TemplateError);
    const many = 'x'.repeat(100) + '{{branch}}';
    expect(substitute(many.repeat(10_000), params, 'x')).toHaveLength((100 + 6) * 10_000);
  });

  it('replaces in string values of nested objects and arrays, never in keys or other types', () => {
    const spec = {
      ref: '{{branch}}',
      path: 'envs/{{branchSlug}}',
      list: ['{{branch}}', 3, true],
      '{{branch}}': null,
    };
    expect(substituteDeep(spec, params, 'spec')).toEqual({
      ref: 'env/qa',
      path: 'envs/env-qa',
      list: ['env/qa', 3, true],
      '{{branch}}': null,
    });
    expect(() => substituteDeep({ a: [{ b: '{{nope}}' }] }, params, 'spec')).toThrow(/spec\.a\[0\]\.b/);
  });
});

describe('slugs and names', () => {
  it('makes DNS labels of anything', () => {
    expect(slugify('env/QA')).toBe('env-qa');
    expect(slugify('feature/JIRA-12_fix..it')).toBe('feature-jira-12-fix-it');
    expect(slugify('--a--')).toBe('a');
    expect(slugify('///')).toMatch(/^x-[0-9a-f]{8}$/);
    const long = slugify('a'.repeat(100));
    expect(long).toHaveLength(63);
    expect(long).toMatch(/^a{54}-[0-9a-f]{8}$/);
    expect(slugify('a'.repeat(100))).not.toBe(slugify('a'.repeat(101)));
  });

  it('cuts a long name with a hash, and refuses an invalid one', () => {
    expect(applicationName('web-env-qa')).toBe('web-env-qa');
    const cut = applicationName(`web-${'x'.repeat(80)}`);
    expect(cut).toHaveLength(63);
    expect(cut).toMatch(/^web-x+-[0-9a-f]{8}$/);
    expect(() => applicationName('Web_App')).toThrow(/not a valid name/);
    expect(() => applicationName('web-env/qa')).toThrow(/not a valid name/);
    expect(() => applicationName('-web')).toThrow(/not a valid name/);
  });
});
