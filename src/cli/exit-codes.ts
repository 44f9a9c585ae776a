/** Exit codes shared by every command (documented in the README). */
export const EXIT = {
  /** In sync, applied, or done. */
  ok: 0,
  /** Something failed (API, Git, render, health). */
  error: 1,
  /** The command line or the input was wrong. */
  badInput: 2,
  /** `diff` found differences. */
  differences: 3,
} as const;
