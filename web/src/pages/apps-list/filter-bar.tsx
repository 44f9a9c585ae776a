/**
 * The text filters (search, label, repository, ref), the namespace choice and "Clear all". Text
 * is written to the URL a moment after typing stops (use-debounced-field.ts). On a phone the
 * less used filters fold behind a "Filters" button; on wider screens they are always shown.
 */
import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import type { SortField } from '../../../../src/server/dashboard/schema.js';
import { labelInputOf, parseLabelInput, type ListState, type SortOrder } from './list-query.js';
import { useDebouncedField } from './use-debounced-field.js';

export function FilterBar(props: {
  state: ListState;
  namespaces: readonly string[];
  filtered: boolean;
  onChange: (change: Partial<ListState>, how?: { replace?: boolean }) => void;
  onClear: () => void;
}) {
  const { state, onChange } = props;
  const moreId = useId();
  const moreSet = state.label.length > 0 || state.repository !== '' || state.ref !== '';
  const [moreOpen, setMoreOpen] = useState(moreSet);
  return (
    <div className="filter-bar">
      <SearchField value={state.q} onCommit={(q) => onChange({ q }, { replace: true })} />
      <NamespaceSelect
        value={state.namespace}
        choices={props.namespaces}
        onChange={(namespace) => onChange({ namespace })}
      />
      <button
        type="button"
        className="phone-only more-filters"
        aria-expanded={moreOpen}
        aria-controls={moreId}
        onClick={() => setMoreOpen((open) => !open)}
      >
        Filters
        {moreSet && (
          <>
            <span aria-hidden="true"> •</span>
            <span className="visually-hidden"> (in use)</span>
          </>
        )}
      </button>
      <div id={moreId} className={moreOpen ? 'more-filters-panel open' : 'more-filters-panel'}>
        <LabelField value={state.label} onCommit={(label) => onChange({ label }, { replace: true })} />
        <TextFilter
          label="Repository"
          placeholder="Repository name"
          value={state.repository}
          onCommit={(repository) => onChange({ repository }, { replace: true })}
        />
        <TextFilter
          label="Ref"
          placeholder="Branch, tag or SHA"
          value={state.ref}
          onCommit={(ref) => onChange({ ref }, { replace: true })}
        />
        <SortSelect
          sort={state.sort}
          order={state.order}
          onChange={(sort, order) => onChange({ sort, order })}
        />
      </div>
      <button type="button" className="clear-all" disabled={!props.filtered} onClick={props.onClear}>
        Clear all
      </button>
    </div>
  );
}

function Field(props: { label: string; htmlFor: string; className?: string; children: ReactNode }) {
  return (
    <div className={`field ${props.className ?? ''}`}>
      <label htmlFor={props.htmlFor}>{props.label}</label>
      {props.children}
    </div>
  );
}

const trimmed = (text: string): string => text.trim();

/** The search box; `/` anywhere else on the page jumps to it. */
function SearchField({ value, onCommit }: { value: string; onCommit: (q: string) => void }) {
  const id = useId();
  const input = useRef<HTMLInputElement>(null);
  const [text, setText] = useDebouncedField({ urlValue: value, normalize: trimmed, commit: onCommit });
  useEffect(() => {
    const focusSearch = (event: KeyboardEvent) => {
      if (event.key !== '/' || event.ctrlKey || event.metaKey || event.altKey) return;
      const target = event.target as HTMLElement | null;
      if (target?.closest('input, textarea, select, [contenteditable="true"]')) return;
      event.preventDefault();
      input.current?.focus();
      input.current?.select();
    };
    document.addEventListener('keydown', focusSearch);
    return () => document.removeEventListener('keydown', focusSearch);
  }, []);
  return (
    <Field label="Search" htmlFor={id} className="field-search">
      <span className="search-box">
        <span className="search-icon" aria-hidden="true">
          ⌕
        </span>
        <input
          ref={input}
          id={id}
          type="search"
          value={text}
          onChange={(event) => setText(event.target.value)}
          placeholder="Name, repository, path, revision…"
          spellCheck={false}
          autoComplete="off"
          maxLength={200}
          aria-keyshortcuts="/"
        />
        <kbd className="search-key" aria-hidden="true">
          /
        </kbd>
      </span>
    </Field>
  );
}

function TextFilter(props: {
  label: string;
  placeholder: string;
  value: string;
  onCommit: (value: string) => void;
}) {
  const id = useId();
  const [text, setText] = useDebouncedField({
    urlValue: props.value,
    normalize: trimmed,
    commit: props.onCommit,
  });
  return (
    <Field label={props.label} htmlFor={id}>
      <input
        id={id}
        type="text"
        value={text}
        onChange={(event) => setText(event.target.value)}
        placeholder={props.placeholder}
        spellCheck={false}
        autoComplete="off"
        maxLength={255}
      />
    </Field>
  );
}

/** `app=web, tier!=db`: checked as typed, written to the URL only once it parses. */
function LabelField({ value, onCommit }: { value: readonly string[]; onCommit: (labels: string[]) => void }) {
  const id = useId();
  const [text, setText] = useDebouncedField({
    urlValue: labelInputOf(value),
    normalize: (input) => {
      const parsed = parseLabelInput(input);
      return 'labels' in parsed ? labelInputOf(parsed.labels) : undefined;
    },
    commit: (normalized) => {
      const parsed = parseLabelInput(normalized);
      if ('labels' in parsed) onCommit(parsed.labels);
    },
  });
  const parsed = parseLabelInput(text);
  const error = 'error' in parsed ? parsed.error : undefined;
  return (
    <Field label="Labels" htmlFor={id}>
      <input
        id={id}
        type="text"
        value={text}
        onChange={(event) => setText(event.target.value)}
        placeholder="key=value, key!=value, !key"
        spellCheck={false}
        autoComplete="off"
        aria-invalid={error !== undefined}
        aria-describedby={error ? `${id}-error` : undefined}
      />
      {error && (
        <span id={`${id}-error`} className="field-error" role="alert">
          {error}
        </span>
      )}
    </Field>
  );
}

function NamespaceSelect(props: {
  value: readonly string[];
  choices: readonly string[];
  onChange: (namespaces: string[]) => void;
}) {
  const id = useId();
  // A link may name several namespaces (the API takes a list) or one this list does not offer.
  const several = props.value.length > 1 ? props.value.join(',') : undefined;
  const current = several ?? props.value[0] ?? '';
  const choices =
    props.value.length === 1 && !props.choices.includes(current)
      ? [current, ...props.choices]
      : props.choices;
  return (
    <Field label="Namespace" htmlFor={id}>
      <select
        id={id}
        value={current}
        onChange={(event) => props.onChange(event.target.value ? event.target.value.split(',') : [])}
      >
        <option value="">All namespaces</option>
        {several && <option value={several}>{props.value.length} namespaces</option>}
        {choices.map((namespace) => (
          <option key={namespace} value={namespace}>
            {namespace}
          </option>
        ))}
      </select>
    </Field>
  );
}

const SORT_CHOICES: readonly { value: string; label: string }[] = [
  { value: 'name:asc', label: 'Name, A→Z' },
  { value: 'name:desc', label: 'Name, Z→A' },
  { value: 'health:asc', label: 'Health, worst first' },
  { value: 'health:desc', label: 'Health, best first' },
  { value: 'sync:asc', label: 'Sync, out of sync first' },
  { value: 'sync:desc', label: 'Sync, synced first' },
  { value: 'lastSync:asc', label: 'Last sync, latest first' },
  { value: 'lastSync:desc', label: 'Last sync, oldest first' },
];

/** Phones only: the columns that sort are not all shown there. */
function SortSelect(props: {
  sort: SortField;
  order: SortOrder;
  onChange: (sort: SortField, order: SortOrder) => void;
}) {
  const id = useId();
  return (
    <Field label="Sort by" htmlFor={id} className="phone-only">
      <select
        id={id}
        value={`${props.sort}:${props.order}`}
        onChange={(event) => {
          const [sort, order] = event.target.value.split(':') as [SortField, SortOrder];
          props.onChange(sort, order);
        }}
      >
        {SORT_CHOICES.map((choice) => (
          <option key={choice.value} value={choice.value}>
            {choice.label}
          </option>
        ))}
      </select>
    </Field>
  );
}
