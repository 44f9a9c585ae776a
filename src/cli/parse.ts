import { UserError } from '../core/errors.js';

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600 };

/** `90`, `90s`, `5m`, `1h30m` → seconds. */
export function parseDuration(text: string, flag: string): number {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const parts = [...trimmed.matchAll(/(\d+)([smh])/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== trimmed) {
    throw new UserError(`${flag} must be a duration such as 90s, 5m or 1h30m, not '${text}'`);
  }
  return parts.reduce((total, [, amount, unit]) => total + Number(amount) * UNITS[unit!]!, 0);
}
