import { useState, type ReactNode } from 'react';
import { Link } from 'wouter';
import { useLogOut, useSession } from './session.js';
import { setTheme, storedTheme, type ThemeChoice } from './theme.js';

export function Layout({ children }: { children: ReactNode }) {
  const session = useSession();
  const logOut = useLogOut();
  const [theme, chooseTheme] = useState<ThemeChoice>(storedTheme);
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="top-bar">
        <Link href="/" className="brand">
          Capstan
        </Link>
        {session.readOnly && <span className="tag">read-only</span>}
        <span className="spacer" />
        <label className="theme-choice">
          <span className="visually-hidden">Theme</span>
          <select
            value={theme}
            onChange={(event) => {
              const choice = event.target.value as ThemeChoice;
              setTheme(choice);
              chooseTheme(choice);
            }}
          >
            <option value="system">System theme</option>
            <option value="light">Light</option>
            <option value="dark">Dark</option>
          </select>
        </label>
        <span className="user" title={session.user.groups.join(', ')}>
          {session.user.username}
        </span>
        {session.mode === 'controller' && (
          <button type="button" onClick={logOut}>
            Log out
          </button>
        )}
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}
