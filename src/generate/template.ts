/**
 * Placeholders in a generator's template: `{{branch}}`, `{{path.slug}}`, `{{values.region}}`, …,
 * replaced in string values only. The scanner reads each string once, left to right, and never
 * builds a regular expression or evaluates anything: what an element brings (a branch name a Git
 * host advertised, a pull request's ref) is hostile, and is inserted as text, never scanned again,
 * so a branch named `{{x}}` stays `{{x}}`.
 */
import { createHash } from 'node:crypto';
import { UserError } from '../core/errors.js';

/** Names a placeholder may have: letters, digits, `_`, `-`, and `.` between parts. */
const PLACEHOLDER_NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const MAX_PLACEHOLDER_LENGTH = 128;

/** A placeholder the element has no value for, or a malformed one: the generator's spec is wrong. */
export class TemplateError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

/**
 * `text` with every `{{name}}` replaced by `params[name]`. Whitespace inside the braces is
 * ignored (`{{ branch }}`). Throws a TemplateError naming an unknown placeholder (and `where`), an
 * unclosed `{{`, or an invalid name.
 */
export function substitute(text: string, params: ReadonlyMap<string, string>, where: string): string {
  let out = '';
  let from = 0;
  for (;;) {
    const open = text.indexOf('{{', from);
    if (open < 0) return out + text.slice(from);
    const close = text.indexOf('}}', open + 2);
    if (close < 0) throw new TemplateError(`${where}: "{{" is never closed by "}}"`);
    const name = text.slice(open + 2, close).trim();
    if (name.length > MAX_PLACEHOLDER_LENGTH || !PLACEHOLDER_NAME.test(name))
      throw new TemplateError(`${where}: ${quoted(name)} is not a placeholder name`);
    const value = params.get(name);
    if (value === undefined)
      throw new TemplateError(
        `${where}: unknown placeholder {{${name}}} (known here: ${[...params.keys()].map((k) => `{{${k}}}`).join(', ')})`,
      );
    out += text.slice(from, open) + value;
    from = close + 2;
  }
}

/** A deep copy of `value` with placeholders replaced in every string (not in keys). */
export function substituteDeep(value: unknown, params: ReadonlyMap<string, string>, where: string): unknown {
  if (typeof value === 'string') return substitute(value, params, where);
  if (Array.isArray(value)) return value.map((item, i) => substituteDeep(item, params, `${where}[${i}]`));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value))
      out[key] = substituteDeep(item, params, `${where}.${key}`);
    return out;
  }
  return value;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_LABEL = 63;

/**
 * `text` as a DNS label: lowercase, every run of other characters one `-`, no `-` at either end,
 * cut to 63 with a hash of the whole text when longer (so two long names stay apart). Never empty.
 */
export function slugify(text: string): string {
  let slug = '';
  let dash = false;
  for (const char of text.toLowerCase()) {
    if ((char >= 'a' && char <= 'z') || (char >= '0' && char <= '9')) {
      if (dash && slug !== '') slug += '-';
      slug += char;
      dash = false;
    } else {
      dash = true;
    }
    // Enough to cut from; the rest only feeds the hash.
    if (slug.length > MAX_LABEL) break;
  }
  if (slug === '') return `x-${shortHash(text)}`;
  return fitLabel(slug, text);
}

/**
 * The Application name a rendered template gives: as is when it is a DNS label of at most 63
 * characters (Application names go into label values), else cut with a hash suffix when only its
 * length is wrong. Throws a TemplateError when it is not a valid name at all.
 */
export function applicationName(rendered: string): string {
  const name = rendered.length > MAX_LABEL ? fitLabel(rendered, rendered) : rendered;
  if (!DNS_LABEL.test(name))
    throw new TemplateError(
      `the generated name ${quoted(rendered.slice(0, 80))} is not a valid name: lowercase letters, digits and "-", starting and ending with a letter or digit`,
    );
  return name;
}

/** `label` cut to fit 63 characters with `-` and 8 hex digits of `whole`'s hash. */
function fitLabel(label: string, whole: string): string {
  if (label.length <= MAX_LABEL) return label;
  const head = label.slice(0, MAX_LABEL - 9).replace(/[-.]+$/, '');
  return `${head}-${shortHash(whole)}`;
}

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

/** A hostile string shown in a message: short, and with no control characters. */
function quoted(text: string): string {
  // eslint-disable-next-line no-control-regex
  return JSON.stringify(text.slice(0, 80).replace(/[\u0000-\u001f\u007f]/g, '?'));
}
