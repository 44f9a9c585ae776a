/**
 * Redaction of credentials from anything the source stage prints, logs or throws.
 *
 * Two layers, because either alone misses cases: structural rules (userinfo in URLs, query
 * strings, Authorization headers, PEM private keys, `password=` pairs) catch secrets we were never
 * told about, and the exact values of the credentials in use catch them wherever git or a server
 * echoes them back.
 *
 * The text is often a hostile server's words (git's stderr), so every step runs in linear time: the
 * input is bounded, and the structural rules are hand-written scanners whose cursor only moves
 * forward, reading each character a bounded number of times. Regular expressions here are anchored
 * or start with a literal, and each quantified run in them is followed by a character the run cannot
 * contain, so a failed match gives up after one pass over that run and runs never overlap. (The
 * patterns this replaces went back over the whole of a `b.b.b.…` run from every word boundary in
 * it: a 64 KiB line took about 12 s.)
 */

const REDACTED = '***';

/** Secrets shorter than this are not searched for verbatim: hiding every "a" would garble the text. */
const MIN_SECRET_LENGTH = 4;

/**
 * Longer text is cut before it is redacted: only whole lines of its first `KEPT_CHARS` stay, so a
 * cut never leaves part of a secret that a rule could no longer recognise. What is kept stays under
 * the limit once redacted (`***` is at most three times the one or more characters it replaces), so
 * redacting again cuts nothing: `redactText` stays idempotent.
 */
export const MAX_REDACTED_CHARS = 1024 * 1024;
const KEPT_CHARS = MAX_REDACTED_CHARS / 4;

/**
 * A repository URL safe to print. For http(s) the whole userinfo goes (a token is often the
 * "username"); for ssh only a password would be secret, so `git@host:path` stays readable. Every
 * query value is hidden: signed URLs and `?private_token=` both live there.
 */
export function redactUrl(url: string): string {
  // Linear: each pattern is anchored at the start, and its runs end at a character they exclude.
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  let result = url;
  if (scheme === undefined || scheme === 'ssh') {
    // user:password@ (ssh://) — keep the user, drop the password.
    result = result.replace(/^((?:ssh:\/\/)?[^@/:\s]+):[^@/\s]*@/i, `$1:${REDACTED}@`);
  } else {
    result = result.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#\s]*@/, `$1${REDACTED}@`);
  }
  const fragment = result.indexOf('#');
  return redactQuery(fragment < 0 ? result : result.slice(0, fragment));
}

function redactQuery(url: string): string {
  const start = url.indexOf('?');
  if (start < 0) return url;
  const query = url
    .slice(start + 1)
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=');
      return equals < 0 ? pair : `${pair.slice(0, equals)}=${REDACTED}`;
    })
    .join('&');
  return `${url.slice(0, start)}?${query}`;
}

/**
 * Free text (git's stderr, an error message) with credentials removed: every known secret value
 * verbatim and percent-encoded, then the structural rules. Redacted text may be redacted again
 * (callers up the stack do) and comes out the same.
 */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let result = bounded(text);
  result = redactSecretValues(result, secrets);
  result = redactPrivateKeys(result);
  result = redactUserinfo(result);
  result = redactAfterWords(result, authorizationValue);
  result = redactAfterWords(result, bearerToken);
  result = redactAfterWords(result, secretAssignment);
  return redactQueries(result);
}

function bounded(text: string): string {
  if (text.length <= MAX_REDACTED_CHARS) return text;
  const lastNewline = text.lastIndexOf('\n', KEPT_CHARS);
  const kept = lastNewline < 0 ? '' : text.slice(0, lastNewline + 1);
  return `${kept}[… ${text.length - kept.length} more characters not shown]`;
}

/** Each secret's text, anywhere (`split` is a plain substring search: linear). */
function redactSecretValues(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret.length < MIN_SECRET_LENGTH) continue;
    for (const form of new Set([secret, encodeURIComponent(secret)]))
      result = result.split(form).join(REDACTED);
    // A private key is also hidden line by line: tools print fragments of it.
    if (secret.includes('\n')) {
      for (const line of secret.split(/\r?\n/)) {
        if (line.length >= 16 && !line.startsWith('-----')) result = result.split(line).join(REDACTED);
      }
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// PEM private keys: the whole block, from `-----BEGIN … PRIVATE KEY-----` to its END line, or to
// the end of the text when the block was cut short.

const PEM_BEGIN = '-----BEGIN ';
const PEM_END = '-----END ';

function redactPrivateKeys(text: string): string {
  let result = '';
  let copied = 0;
  let from = 0;
  for (;;) {
    const begin = text.indexOf(PEM_BEGIN, from);
    if (begin < 0) break;
    const header = privateKeyLabelEnd(text, begin + PEM_BEGIN.length);
    if (header < 0) {
      from = begin + 1;
      continue;
    }
    const end = privateKeyBlockEnd(text, header);
    result += `${text.slice(copied, begin)}[private key]`;
    copied = from = end;
  }
  return copied === 0 ? text : result + text.slice(copied);
}

/** After the END line of the block whose body starts at `from`, else the end of the text. */
function privateKeyBlockEnd(text: string, from: number): number {
  for (let at = text.indexOf(PEM_END, from); at >= 0; at = text.indexOf(PEM_END, at + 1)) {
    const end = privateKeyLabelEnd(text, at + PEM_END.length);
    if (end >= 0) return end;
  }
  return text.length;
}

/**
 * Where a `<label>PRIVATE KEY-----` starting at `from` ends, or -1: the label is the run of
 * `[A-Z0-9 ]` from `from`. The run stops at the first `-`, so labels of different BEGIN/END lines
 * never overlap and each character is read once.
 */
function privateKeyLabelEnd(text: string, from: number): number {
  let end = from;
  while (end < text.length && isPemLabelCode(text.charCodeAt(end))) end++;
  const label = 'PRIVATE KEY';
  if (end - from < label.length || !text.startsWith(label, end - label.length)) return -1;
  return text.startsWith('-----', end) ? end + 5 : -1;
}

// ---------------------------------------------------------------------------------------------
// URLs in free text: found by their `://`, the scheme read backwards from it and the rest forwards.
// Any `://` counts, with or without a scheme: stricter than a URL grammar, never laxer.

/** `scheme://userinfo@` → `scheme://***@`; for ssh only the password goes (`ssh://git:***@`). */
function redactUserinfo(text: string): string {
  let result = '';
  let copied = 0;
  for (let separator = text.indexOf('://'); separator >= 0; separator = text.indexOf('://', separator + 1)) {
    const start = separator + 3;
    // The userinfo run stops at the first `/`, so it never contains the next `://`.
    let end = start;
    while (end < text.length && !endsUserinfo(text.charCodeAt(end))) end++;
    if (end === start || text.charCodeAt(end) !== AT) continue;
    const userinfo = text.slice(start, end);
    const colon = userinfo.indexOf(':');
    // An ssh user name is no secret, its password is.
    const isSsh = schemeBefore(text, separator).toLowerCase() === 'ssh';
    const shown = !isSsh ? REDACTED : colon < 0 ? userinfo : `${userinfo.slice(0, colon)}:${REDACTED}`;
    result += text.slice(copied, start) + shown;
    copied = end;
    separator = end;
  }
  return copied === 0 ? text : result + text.slice(copied);
}

/** Every query value of every URL (idempotent: `?token=***` stays as it is). */
function redactQueries(text: string): string {
  let result = '';
  let copied = 0;
  for (let separator = text.indexOf('://'); separator >= 0; separator = text.indexOf('://', separator + 1)) {
    let end = separator + 3;
    while (end < text.length && !endsUrl(text.charCodeAt(end))) end++;
    if (end === separator + 3) continue;
    const start = separator - schemeBefore(text, separator).length;
    result += text.slice(copied, start) + redactQuery(text.slice(start, end));
    copied = end;
    separator = end;
  }
  return copied === 0 ? text : result + text.slice(copied);
}

/**
 * The scheme that ends at `separator`: the run of `[A-Za-z0-9+.-]` before it, from its first
 * letter. Read backwards, it stops at the `:` of an earlier `://` at the latest.
 */
function schemeBefore(text: string, separator: number): string {
  let start = separator;
  while (start > 0 && isSchemeCode(text.charCodeAt(start - 1))) start--;
  while (start < separator && !isLetterCode(text.charCodeAt(start))) start++;
  return text.slice(start, separator);
}

// ---------------------------------------------------------------------------------------------
// Values that follow a word: `Authorization: Basic …`, `Bearer …`, `password=…`. One pass per rule,
// in this order (a later rule may hide what an earlier one left, as in `token: Bearer abc…`).

/** No rule's word is shorter than this ("token"). */
const MIN_RULE_WORD = 5;

/** What a rule hides: `[start, end)` becomes `prefix` (if any) and `***`. */
interface Hidden {
  readonly start: number;
  readonly end: number;
  readonly prefix?: string;
}

/**
 * `rule` sees each whole word (a maximal `[A-Za-z0-9_]` run) in lower case, and may hide a value
 * after it. The scan resumes after the hidden value, else after the word: every rule reads only
 * forwards from the word and stops at the first character its value cannot contain.
 */
function redactAfterWords(
  text: string,
  rule: (text: string, word: string, wordEnd: number) => Hidden | undefined,
): string {
  let result = '';
  let copied = 0;
  let at = 0;
  while (at < text.length) {
    if (!isWordCode(text.charCodeAt(at))) {
      at++;
      continue;
    }
    let wordEnd = at;
    while (wordEnd < text.length && isWordCode(text.charCodeAt(wordEnd))) wordEnd++;
    // Shorter words are not even lower-cased: most words are short.
    const hidden =
      wordEnd - at >= MIN_RULE_WORD ? rule(text, text.slice(at, wordEnd).toLowerCase(), wordEnd) : undefined;
    if (hidden === undefined) {
      at = wordEnd;
      continue;
    }
    result += `${text.slice(copied, hidden.start)}${hidden.prefix ?? ''}${REDACTED}`;
    copied = at = hidden.end;
  }
  return copied === 0 ? text : result + text.slice(copied);
}

const AUTH_SCHEMES = ['basic', 'bearer', 'token'];

/** `Authorization: [Basic|Bearer|Token] value` (and `Proxy-Authorization:`), as curl traces print. */
function authorizationValue(text: string, word: string, wordEnd: number): Hidden | undefined {
  if (word !== 'authorization' || text.charCodeAt(wordEnd) !== COLON) return undefined;
  let start = skipSpaces(text, wordEnd + 1);
  const scheme = AUTH_SCHEMES.find((name) => text.slice(start, start + name.length).toLowerCase() === name);
  if (scheme !== undefined && isSpaceCode(text.charCodeAt(start + scheme.length))) {
    const value = skipSpaces(text, start + scheme.length);
    // A scheme with nothing after it is the value itself.
    if (value < text.length) start = value;
  }
  const end = skipNonSpaces(text, start);
  return end === start ? undefined : { start, end };
}

/** `Bearer <8 or more token characters>`, anywhere. */
function bearerToken(text: string, word: string, wordEnd: number): Hidden | undefined {
  if (word !== 'bearer' || !isSpaceCode(text.charCodeAt(wordEnd))) return undefined;
  const start = skipSpaces(text, wordEnd);
  let end = start;
  while (end < text.length && isTokenCode(text.charCodeAt(end))) end++;
  return end - start >= 8 ? { start: wordEnd, end, prefix: ' ' } : undefined;
}

const SECRET_NAMES = ['password', 'passwd', 'passphrase', 'token', 'secret', 'api_key'];

/**
 * `password=value`, `token: value`, and names ending in one (`access_token`, `GIT_PASSWORD`,
 * `client_secret`), with spaces allowed around the `=` or `:`.
 */
function secretAssignment(text: string, word: string, wordEnd: number): Hidden | undefined {
  if (!SECRET_NAMES.some((name) => word === name || word.endsWith(`_${name}`))) return undefined;
  const operator = skipSpaces(text, wordEnd);
  const code = text.charCodeAt(operator);
  if (code !== EQUALS && code !== COLON) return undefined;
  const start = skipSpaces(text, operator + 1);
  let end = start;
  while (end < text.length && !endsAssignedValue(text.charCodeAt(end))) end++;
  return end === start ? undefined : { start, end };
}

// ---------------------------------------------------------------------------------------------
// Character classes, by UTF-16 code unit (as the regular expressions these replace matched).

const AT = 0x40;
const COLON = 0x3a;
const EQUALS = 0x3d;
const SLASH = 0x2f;
const AMPERSAND = 0x26;
const QUOTE = 0x27;
const DOUBLE_QUOTE = 0x22;

function isLetterCode(code: number): boolean {
  return (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
}

function isDigitCode(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

/** `[A-Za-z0-9_]`, what `\b` means. */
function isWordCode(code: number): boolean {
  return isLetterCode(code) || isDigitCode(code) || code === 0x5f;
}

/** `[A-Za-z0-9+.-]` */
function isSchemeCode(code: number): boolean {
  return isLetterCode(code) || isDigitCode(code) || code === 0x2b || code === 0x2e || code === 0x2d;
}

/** `[A-Z0-9 ]` */
function isPemLabelCode(code: number): boolean {
  return (code >= 0x41 && code <= 0x5a) || isDigitCode(code) || code === 0x20;
}

/** `[A-Za-z0-9._~+/=-]`: base64 and token68. */
function isTokenCode(code: number): boolean {
  return (
    isLetterCode(code) ||
    isDigitCode(code) ||
    code === 0x2e ||
    code === 0x5f ||
    code === 0x7e ||
    code === 0x2b ||
    code === SLASH ||
    code === EQUALS ||
    code === 0x2d
  );
}

/** What JavaScript's `\s` matches. */
function isSpaceCode(code: number): boolean {
  return (
    (code >= 0x09 && code <= 0x0d) ||
    code === 0x20 ||
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

function endsUserinfo(code: number): boolean {
  return code === SLASH || code === AT || code === QUOTE || code === DOUBLE_QUOTE || isSpaceCode(code);
}

function endsUrl(code: number): boolean {
  return code === QUOTE || code === DOUBLE_QUOTE || isSpaceCode(code);
}

function endsAssignedValue(code: number): boolean {
  return code === AMPERSAND || code === QUOTE || code === DOUBLE_QUOTE || isSpaceCode(code);
}

function skipSpaces(text: string, from: number): number {
  let at = from;
  while (at < text.length && isSpaceCode(text.charCodeAt(at))) at++;
  return at;
}

function skipNonSpaces(text: string, from: number): number {
  let at = from;
  while (at < text.length && !isSpaceCode(text.charCodeAt(at))) at++;
  return at;
}

/** A value quoted for an error message: control characters escaped so they cannot forge log lines. */
export function quote(value: string, maxLength = 200): string {
  const shown = value.length > maxLength ? `${value.slice(0, maxLength)}…` : value;
  // eslint-disable-next-line no-control-regex
  return `'${shown.replace(/[\u0000-\u001f\u007f-\u009f\\']/g, escapeCharacter)}'`;
}

function escapeCharacter(character: string): string {
  if (character === "'" || character === '\\') return `\\${character}`;
  return `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`;
}
