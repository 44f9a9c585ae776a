/**
 * The page's sections as tabs (the WAI-ARIA tabs pattern: one tab stop, arrows move between tabs,
 * Home/End jump, activation follows focus), with the chosen tab in the URL's `?tab=` so a link or a
 * reload opens the same section. Only the chosen panel is rendered: each panel loads what it shows.
 */
import { useRef, type KeyboardEvent, type ReactNode } from 'react';

export interface TabSpec<Id extends string> {
  id: Id;
  label: string;
  /** A small count or mark after the label ("3", "!"), with its spoken meaning. */
  badge?: { text: string; label: string; tone?: 'warning' | 'danger' } | undefined;
}

export function Tabs<Id extends string>(props: {
  /** Names the tab list for screen readers. */
  label: string;
  idPrefix: string;
  tabs: readonly TabSpec<Id>[];
  selected: Id;
  onSelect(id: Id): void;
  children: ReactNode;
}) {
  const { tabs, selected, onSelect, idPrefix } = props;
  const buttons = useRef(new Map<Id, HTMLButtonElement>());

  const move = (event: KeyboardEvent<HTMLDivElement>) => {
    const index = tabs.findIndex((tab) => tab.id === selected);
    let next: number | undefined;
    if (event.key === 'ArrowRight') next = (index + 1) % tabs.length;
    else if (event.key === 'ArrowLeft') next = (index - 1 + tabs.length) % tabs.length;
    else if (event.key === 'Home') next = 0;
    else if (event.key === 'End') next = tabs.length - 1;
    if (next === undefined) return;
    event.preventDefault();
    const tab = tabs[next]!;
    onSelect(tab.id);
    buttons.current.get(tab.id)?.focus();
  };

  return (
    <div className="app-tabs">
      <div className="tab-list" role="tablist" aria-label={props.label} onKeyDown={move}>
        {tabs.map((tab) => {
          const active = tab.id === selected;
          return (
            <button
              key={tab.id}
              ref={(element) => {
                if (element) buttons.current.set(tab.id, element);
                else buttons.current.delete(tab.id);
              }}
              type="button"
              role="tab"
              id={`${idPrefix}-tab-${tab.id}`}
              aria-selected={active}
              aria-controls={active ? `${idPrefix}-panel-${tab.id}` : undefined}
              tabIndex={active ? 0 : -1}
              className="tab"
              onClick={() => onSelect(tab.id)}
            >
              {tab.label}
              {tab.badge && (
                <span className={`tab-badge ${tab.badge.tone ?? ''}`}>
                  <span aria-hidden="true">{tab.badge.text}</span>
                  <span className="visually-hidden">, {tab.badge.label}</span>
                </span>
              )}
            </button>
          );
        })}
      </div>
      <div
        className="tab-panel"
        role="tabpanel"
        id={`${idPrefix}-panel-${selected}`}
        aria-labelledby={`${idPrefix}-tab-${selected}`}
        tabIndex={0}
      >
        {props.children}
      </div>
    </div>
  );
}
