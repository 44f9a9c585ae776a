/**
 * The list page's state is its URL's query string, in the API's own words (`GET /api/v1/apps?…`
 * takes the same keys), so a link shares the exact view and Back undoes a filter. This module reads
 * that string leniently (a hand-edited link degrades instead of failing) and writes it back in one
 * canonical form: defaults left out, keys in a fixed order. The canonical string is both the query
 * cache key and what is sent to the server.
 */
import {
  HEALTH_STATES,
  SORT_FIELDS,
  SYNC_STATES,
  type HealthState,
  type SortField,
  type SyncState,
} from '../../../../src/server/dashboard/schema.js';

export type SortOrder = 'asc' | 'desc';

export interface ListState {
  readonly q: string;
  readonly health: readonly HealthState[];
  readonly sync: readonly SyncState[];
  readonly namespace: readonly string[];
  readonly repository: string;
  readonly ref: string;
  /** Each one `key=value`, `key!=value`, `key` or `!key`; ANDed. */
  readonly label: readonly string[];
  readonly sort: SortField;
  readonly order: SortOrder;
  readonly limit: number;
  /** 1-based. */
  readonly page: number;
}

export const DEFAULT_LIMIT = 50;
export const PAGE_SIZES = [20, 50, 100, 200, 500] as const;
const MAX_LIMIT = 500;

export const DEFAULT_STATE: ListState = {
  q: '',
  health: [],
  sync: [],
  namespace: [],
  repository: '',
  ref: '',
  label: [],
  sort: 'name',
  order: 'asc',
  limit: DEFAULT_LIMIT,
  page: 1,
};

/** Comma-separated or repeated (`health=Degraded,Missing` or `health=Degraded&health=Missing`). */
function listOf(params: URLSearchParams, key: string): string[] {
  return params
    .getAll(key)
    .flatMap((value) => value.split(','))
    .map((value) => value.trim())
    .filter((value) => value !== '');
}

function oneOf<T extends string>(allowed: readonly T[], values: readonly string[]): T[] {
  const seen = new Set<T>();
  for (const value of values) if ((allowed as readonly string[]).includes(value)) seen.add(value as T);
  // Always in the schema's order, so `Missing,Degraded` and `Degraded,Missing` are one cache entry.
  return allowed.filter((state) => seen.has(state));
}

function positiveInt(text: string | null, fallback: number, max: number): number {
  if (text === null || !/^\d{1,7}$/.test(text)) return fallback;
  const value = Number(text);
  return value >= 1 ? Math.min(value, max) : fallback;
}

/** `?a=b&…` (with or without the `?`) → the state; unknown keys and invalid values are ignored. */
export function parseListState(search: string): ListState {
  const params = new URLSearchParams(search);
  const sort = params.get('sort');
  return {
    q: params.get('q')?.trim() ?? '',
    health: oneOf(HEALTH_STATES, listOf(params, 'health')),
    sync: oneOf(SYNC_STATES, listOf(params, 'sync')),
    namespace: [...new Set(listOf(params, 'namespace'))].sort(),
    repository: params.get('repository')?.trim() ?? '',
    ref: params.get('ref')?.trim() ?? '',
    label: params
      .getAll('label')
      .map((value) => value.trim())
      .filter((value) => value !== ''),
    sort: (SORT_FIELDS as readonly string[]).includes(sort ?? '') ? (sort as SortField) : 'name',
    order: params.get('order') === 'desc' ? 'desc' : 'asc',
    limit: positiveInt(params.get('limit'), DEFAULT_LIMIT, MAX_LIMIT),
    page: positiveInt(params.get('page'), 1, 1_000_000),
  };
}

const encodeValue = encodeURIComponent;
/** A comma-separated list, its commas left readable (`health=Degraded,Missing`). */
const encodeList = (values: readonly string[]): string => values.map(encodeValue).join(',');

/** The canonical query string, without `?`; '' for the default view. */
export function toQueryString(state: ListState): string {
  const parts: string[] = [];
  if (state.q) parts.push(`q=${encodeValue(state.q)}`);
  if (state.namespace.length) parts.push(`namespace=${encodeList(state.namespace)}`);
  if (state.health.length) parts.push(`health=${encodeList(state.health)}`);
  if (state.sync.length) parts.push(`sync=${encodeList(state.sync)}`);
  if (state.repository) parts.push(`repository=${encodeValue(state.repository)}`);
  if (state.ref) parts.push(`ref=${encodeValue(state.ref)}`);
  for (const label of state.label) parts.push(`label=${encodeValue(label)}`);
  if (state.sort !== DEFAULT_STATE.sort) parts.push(`sort=${state.sort}`);
  if (state.order !== DEFAULT_STATE.order) parts.push(`order=${state.order}`);
  if (state.limit !== DEFAULT_STATE.limit) parts.push(`limit=${state.limit}`);
  if (state.page > 1) parts.push(`page=${state.page}`);
  return parts.join('&');
}

/** Whether any filter narrows the list (sort, page size and page are not filters). */
export function hasFilters(state: ListState): boolean {
  return (
    state.q !== '' ||
    state.health.length > 0 ||
    state.sync.length > 0 ||
    state.namespace.length > 0 ||
    state.repository !== '' ||
    state.ref !== '' ||
    state.label.length > 0
  );
}

/** The same view without its filters: sort and page size stay, the page goes back to the first. */
export function withoutFilters(state: ListState): ListState {
  return { ...DEFAULT_STATE, sort: state.sort, order: state.order, limit: state.limit };
}

/** Adds or removes one value of a multi-valued filter. */
export function toggled<T extends string>(values: readonly T[], value: T): T[] {
  return values.includes(value) ? values.filter((v) => v !== value) : [...values, value];
}

/**
 * The order a column's sort button sets: the other direction when the list is already sorted by
 * it, else the column's natural first order (names A→Z, worst health first, latest sync first).
 */
export function nextSort(state: ListState, field: SortField): Pick<ListState, 'sort' | 'order'> {
  if (state.sort === field) return { sort: field, order: state.order === 'asc' ? 'desc' : 'asc' };
  return { sort: field, order: 'asc' };
}

/**
 * The label filter as typed (`app=web, tier!=db`) → the server's filters, or why not. The syntax
 * is the server's (src/server/dashboard/app-index.ts parseLabelFilter): checking it here keeps a
 * half-typed selector out of the URL instead of turning the list into an error. Label keys and
 * values cannot hold commas, so a comma separates filters.
 */
export function parseLabelInput(text: string): { labels: string[] } | { error: string } {
  const labels = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  for (const label of labels) {
    const valid =
      /^[^=!\s]+\s*(!=|==|=)\s*\S*$/.test(label) || /^![^=!\s]+$/.test(label) || /^[^=!\s]+$/.test(label);
    if (!valid) return { error: `“${label}” is not key=value, key!=value, key or !key` };
  }
  if (labels.length > 16) return { error: 'at most 16 label filters' };
  return { labels };
}

export const labelInputOf = (labels: readonly string[]): string => labels.join(', ');
