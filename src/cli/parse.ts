import { UserError } from '../core/errors.js';
import { parseDuration } from '../core/time.js';

/**
 * A duration flag → milliseconds: the CRDs' grammar (`90s`, `5m`, `1h30m`), or a bare number of
 * seconds (`90`). Zero is allowed; anything else wrong is a UserError naming the flag. Whole seconds
 * only: the values end up in fields that count seconds (a Lease's duration, say).
 */
export function parseDurationFlag(text: string, flag: string): number {
  const trimmed = text.trim();
  const invalid = (): UserError =>
    new UserError(`${flag} must be a duration such as 90s, 5m or 1h30m, not '${text}'`);
  let ms: number;
  try {
    ms = parseDuration(/^[0-9]+$/.test(trimmed) ? `${trimmed}s` : trimmed, { allowZero: true });
  } catch {
    throw invalid();
  }
  if (ms % 1000 !== 0) throw new UserError(`${flag} must be a whole number of seconds, not '${text}'`);
  return ms;
}
