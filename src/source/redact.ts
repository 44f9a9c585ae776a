/**
 * Redaction of credentials from anything the source stage prints, logs or throws.
 *
 * Two layers, because either alone misses cases: structural patterns (userinfo in URLs, query
 * strings, Authorization headers, PEM private keys) catch secrets we were never told about, and the
 * exact values of the credentials in use catch them wherever git or a server echoes them back.
 */

const REDACTED = '***';

/** Secrets shorter than this are not searched for verbatim: hiding every "a" would garble the text. */
const MIN_SECRET_LENGTH = 4;

/**
 * A repository URL safe to print. For http(s) the whole userinfo goes (a token is often the
 * "username"); for ssh only a password would be secret, so `git@host:path` stays readable. Every
 * query value is hidden: signed URLs and `?private_token=` both live there.
 */
export function redactUrl(url: string): string {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  let result = url;
  if (scheme === undefined || scheme === 'ssh') {
    // user:password@ (ssh://) — keep the user, drop the password.
    result = result.replace(/^((?:ssh:\/\/)?[^@/:\s]+):[^@/\s]*@/i, `$1:${REDACTED}@`);
  } else {
    result = result.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#\s]*@/, `$1${REDACTED}@`);
  }
  return redactQuery(result.replace(/#.*$/s, ''));
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

const STRUCTURAL_PATTERNS: readonly [RegExp, string][] = [
  // PEM private keys, whole block (also a truncated one without its END line).
  [
    /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g,
    '[private key]',
  ],
  // scheme://userinfo@ anywhere in free text; an ssh user name is no secret, its password is.
  [/\b(ssh:\/\/[^/\s@:'"]+):[^/\s@'"]*@/gi, `$1:${REDACTED}@`],
  [/\b((?!ssh:)[A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/\s@'"]+@/gi, `$1${REDACTED}@`],
  // HTTP auth headers as curl/git traces print them.
  [/\b((?:proxy-)?authorization:\s*(?:(?:basic|bearer|token)\s+)?)\S+/gi, `$1${REDACTED}`],
  [/\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}/gi, `$1 ${REDACTED}`],
  // key=value and key: value pairs that name a secret.
  [
    /\b((?:password|passwd|passphrase|token|access_token|private_token|secret|api_key)\s*[=:]\s*)[^\s&'"]+/gi,
    `$1${REDACTED}`,
  ],
];

/**
 * Free text (git's stderr, an error message) with credentials removed: the structural patterns
 * above, then every known secret value verbatim and percent-encoded.
 */
export function redactText(text: string, secrets: readonly string[] = []): string {
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
  for (const [pattern, replacement] of STRUCTURAL_PATTERNS) result = result.replace(pattern, replacement);
  // Query values of URLs in free text (idempotent, so redacted text can be redacted again).
  return result.replace(/\b[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s'"]+/g, (url) => redactQuery(url));
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
