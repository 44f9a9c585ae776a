/**
 * Light, dark, or the system's choice (the default). The choice is a preference, not a secret, so
 * it is the one thing kept in localStorage.
 */
export type ThemeChoice = 'system' | 'light' | 'dark';
const KEY = 'capstan-theme';

export function storedTheme(): ThemeChoice {
  const value = localStorage.getItem(KEY);
  return value === 'light' || value === 'dark' ? value : 'system';
}

export function applyStoredTheme(): void {
  setTheme(storedTheme());
}

export function setTheme(choice: ThemeChoice): void {
  if (choice === 'system') {
    localStorage.removeItem(KEY);
    delete document.documentElement.dataset.theme;
  } else {
    localStorage.setItem(KEY, choice);
    document.documentElement.dataset.theme = choice;
  }
}
