/**
 * Globs with `*` alone: `*` stands for any run of characters (possibly none), every other character
 * for itself. Enough for names (`team-a-*`, `*.example.com`) and safe on hostile input: matching
 * takes time linear in the pattern plus the text, and no regular expression is ever built from
 * either (a pattern of many `*` against a long text is where backtracking matchers blow up).
 */

export function matchGlob(pattern: string, text: string): boolean {
  const literals = pattern.split('*');
  if (literals.length === 1) return pattern === text;

  // The text must begin with the part before the first `*` and end with the part after the last.
  const head = literals[0]!;
  const tail = literals[literals.length - 1]!;
  if (head.length + tail.length > text.length) return false;
  if (!text.startsWith(head) || !text.endsWith(tail)) return false;

  // The literals between stars must appear in order, between head and tail. Taking each at its
  // earliest place leaves the most room for those after it, so that choice is never wrong and
  // nothing needs to be retried: one forward pass over the text.
  let from = head.length;
  const end = text.length - tail.length;
  for (const literal of literals.slice(1, -1)) {
    if (literal === '') continue;
    const at = indexWithin(text, literal, from, end);
    if (at < 0) return false;
    from = at + literal.length;
  }
  return true;
}

/**
 * The first index ≥ `from` where `needle` lies wholly before `end`, or -1. Knuth–Morris–Pratt, so it
 * reads each character of the text once whatever the input; `String.prototype.indexOf` promises no
 * such bound.
 */
function indexWithin(text: string, needle: string, from: number, end: number): number {
  const fallback = borders(needle);
  let matched = 0;
  for (let i = from; i < end; i++) {
    while (matched > 0 && text[i] !== needle[matched]) matched = fallback[matched - 1]!;
    if (text[i] === needle[matched]) matched++;
    if (matched === needle.length) return i - needle.length + 1;
  }
  return -1;
}

/** For each prefix of `word`, the length of its longest proper prefix that is also its suffix. */
function borders(word: string): number[] {
  const result = new Array<number>(word.length).fill(0);
  let length = 0;
  for (let i = 1; i < word.length; i++) {
    while (length > 0 && word[i] !== word[length]) length = result[length - 1]!;
    if (word[i] === word[length]) length++;
    result[i] = length;
  }
  return result;
}
