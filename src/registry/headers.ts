/**
 * The two structured headers a registry sends: `WWW-Authenticate` challenges (RFC 9110 §11.6.1) and
 * `Link` (RFC 8288) for tag-list pagination. Both are read in one pass over a bounded string: a
 * registry chooses them, so no regular expression that could backtrack touches them.
 */

/** Header values longer than this are not read (real ones are a few hundred bytes). */
export const MAX_HEADER_LENGTH = 8 * 1024;

export interface Challenge {
  /** Lowercased: `basic`, `bearer`, … */
  readonly scheme: string;
  /** Parameter names lowercased; values unquoted. */
  readonly params: ReadonlyMap<string, string>;
}

/** Every challenge in a `WWW-Authenticate` value; unreadable parts are skipped. */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const text = (Array.isArray(header) ? header.join(', ') : (header ?? '')).slice(0, MAX_HEADER_LENGTH);
  const challenges: { scheme: string; params: Map<string, string> }[] = [];
  let i = 0;
  while (i < text.length) {
    i = skip(text, i, ' \t,');
    const start = i;
    i = skipToken(text, i);
    if (i === start) {
      i++; // not a token character: skip it
      continue;
    }
    const name = text.slice(start, i).toLowerCase();
    const afterName = skip(text, i, ' \t');
    if (text[afterName] === '=' && challenges.length > 0 && text[afterName + 1] !== '=') {
      const value = readValue(text, skip(text, afterName + 1, ' \t'));
      challenges[challenges.length - 1]?.params.set(name, value.value);
      i = value.end;
    } else {
      // A scheme. (A token68 after it, as in `Negotiate abc==`, reads as a scheme of its own with no
      // parameters: harmless, registries use Basic and Bearer.)
      challenges.push({ scheme: name, params: new Map() });
    }
  }
  return challenges;
}

/**
 * The target of the `rel="next"` link in a `Link` value (`</v2/app/tags/list?last=b&n=2>; rel="next"`),
 * as written (relative or absolute); undefined when there is none.
 */
export function nextLink(header: string | string[] | undefined): string | undefined {
  const text = (Array.isArray(header) ? header.join(', ') : (header ?? '')).slice(0, MAX_HEADER_LENGTH);
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf('<', i);
    if (open < 0) return undefined;
    const close = text.indexOf('>', open + 1);
    if (close < 0) return undefined;
    const target = text.slice(open + 1, close);
    // The parameters run to the next link (a `,` outside quotes) or the end.
    let j = close + 1;
    let next = false;
    while (j < text.length && text[j] !== ',') {
      j = skip(text, j, ' \t;');
      const start = j;
      j = skipToken(text, j);
      const name = text.slice(start, j).toLowerCase();
      j = skip(text, j, ' \t');
      if (text[j] !== '=') {
        if (j === start) j++;
        continue;
      }
      const value = readValue(text, skip(text, j + 1, ' \t'));
      j = value.end;
      if (name === 'rel' && value.value.toLowerCase().split(/\s+/).includes('next')) next = true;
    }
    if (next) return target;
    i = j + 1;
  }
  return undefined;
}

function readValue(text: string, at: number): { value: string; end: number } {
  if (text[at] !== '"') {
    const end = skipToken68(text, at);
    return { value: text.slice(at, end), end };
  }
  let value = '';
  let i = at + 1;
  while (i < text.length && text[i] !== '"') {
    if (text[i] === '\\' && i + 1 < text.length) i++;
    value += text[i];
    i++;
  }
  return { value, end: i + 1 };
}

// RFC 9110 tchar.
const TOKEN_CHARS = new Set("!#$%&'*+-.^_`|~");
function isTokenChar(c: string): boolean {
  return /^[A-Za-z0-9]$/.test(c) || TOKEN_CHARS.has(c);
}

function skipToken(text: string, at: number): number {
  let i = at;
  while (i < text.length && isTokenChar(text[i] ?? '')) i++;
  return i;
}

/** A token, or a token68 (`abc/+==`). */
function skipToken68(text: string, at: number): number {
  let i = at;
  while (
    i < text.length &&
    (isTokenChar(text[i] ?? '') || text[i] === '/' || text[i] === '=' || text[i] === ':')
  )
    i++;
  return i;
}

function skip(text: string, at: number, characters: string): number {
  let i = at;
  while (i < text.length && characters.includes(text[i] ?? '')) i++;
  return i;
}
