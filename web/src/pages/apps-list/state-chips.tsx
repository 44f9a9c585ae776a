/**
 * The counts by health and by sync state, each a toggle button that adds its state to the filter
 * (several are ORed, as the API does): the list's summary and its quickest filter at once.
 */
import { useLayoutEffect, useRef, type ReactNode } from 'react';
import {
  HEALTH_STATES,
  SYNC_STATES,
  type HealthState,
  type SyncState,
} from '../../../../src/server/dashboard/schema.js';
import { HealthBadge, SyncBadge } from '../../components/badges.js';

export function HealthChips(props: {
  counts: Readonly<Record<HealthState, number>> | undefined;
  selected: readonly HealthState[];
  onToggle: (state: HealthState) => void;
}) {
  return (
    <ChipGroup label="Health">
      {HEALTH_STATES.map((state) => (
        <Chip
          key={state}
          count={props.counts?.[state]}
          pressed={props.selected.includes(state)}
          onClick={() => props.onToggle(state)}
        >
          <HealthBadge state={state} />
        </Chip>
      ))}
    </ChipGroup>
  );
}

export function SyncChips(props: {
  counts: Readonly<Record<SyncState, number>> | undefined;
  selected: readonly SyncState[];
  onToggle: (state: SyncState) => void;
}) {
  return (
    <ChipGroup label="Sync">
      {SYNC_STATES.map((state) => (
        <Chip
          key={state}
          count={props.counts?.[state]}
          pressed={props.selected.includes(state)}
          onClick={() => props.onToggle(state)}
        >
          <SyncBadge state={state} />
        </Chip>
      ))}
    </ChipGroup>
  );
}

function ChipGroup({ label, children }: { label: string; children: ReactNode }) {
  const chips = useRef<HTMLDivElement>(null);
  // On a phone each group is one line that scrolls sideways: a link that opens with a filter
  // chosen shows that chip, not just the first ones.
  useLayoutEffect(() => {
    const row = chips.current;
    const pressed = row?.querySelector<HTMLElement>('.chip.pressed');
    if (!row || !pressed) return;
    const rowBox = row.getBoundingClientRect();
    const chipBox = pressed.getBoundingClientRect();
    if (chipBox.right > rowBox.right) row.scrollLeft += chipBox.left - rowBox.left - 24;
  }, []);
  return (
    <div className="chip-group" role="group" aria-label={`Filter by ${label.toLowerCase()}`}>
      <span className="chip-group-label" aria-hidden="true">
        {label}
      </span>
      <div className="chips" ref={chips}>
        {children}
      </div>
    </div>
  );
}

function Chip(props: {
  count: number | undefined;
  pressed: boolean;
  onClick: () => void;
  children: ReactNode;
}) {
  const empty = props.count === 0 && !props.pressed;
  return (
    <button
      type="button"
      className={`chip${props.pressed ? ' pressed' : ''}${empty ? ' empty' : ''}`}
      aria-pressed={props.pressed}
      onClick={props.onClick}
    >
      {props.children}
      <span className="chip-count">{props.count ?? '–'}</span>
    </button>
  );
}
