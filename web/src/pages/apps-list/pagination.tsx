/** "Page X of Y", the buttons to move, and the page size. Pages are the API's `page=` (offset). */
import { useId } from 'react';
import { PAGE_SIZES } from './list-query.js';

export function Pagination(props: {
  page: number;
  pages: number;
  limit: number;
  total: number;
  shown: number;
  onPage: (page: number) => void;
  onLimit: (limit: number) => void;
}) {
  const sizeId = useId();
  const { page, pages } = props;
  const first = props.total === 0 ? 0 : (page - 1) * props.limit + 1;
  const last = Math.min(props.total, first + Math.max(props.shown, 1) - 1);
  const sizes = (PAGE_SIZES as readonly number[]).includes(props.limit)
    ? PAGE_SIZES
    : [...PAGE_SIZES, props.limit].sort((a, b) => a - b);
  return (
    <nav className="pagination" aria-label="Pages">
      <span className="range muted">
        {props.total === 0 ? 'None shown' : `${first}–${last} of ${props.total}`}
      </span>
      <span className="pager">
        <button type="button" onClick={() => props.onPage(1)} disabled={page <= 1} aria-label="First page">
          «
        </button>
        <button
          type="button"
          onClick={() => props.onPage(page - 1)}
          disabled={page <= 1}
          aria-label="Previous page"
        >
          ‹ <span className="wide-only">Previous</span>
        </button>
        <span className="page-of" aria-live="polite">
          Page {page} of {Math.max(pages, 1)}
        </span>
        <button
          type="button"
          onClick={() => props.onPage(page + 1)}
          disabled={page >= pages}
          aria-label="Next page"
        >
          <span className="wide-only">Next</span> ›
        </button>
        <button
          type="button"
          onClick={() => props.onPage(pages)}
          disabled={page >= pages}
          aria-label="Last page"
        >
          »
        </button>
      </span>
      <span className="page-size">
        <label htmlFor={sizeId}>Rows per page</label>
        <select
          id={sizeId}
          value={props.limit}
          onChange={(event) => props.onLimit(Number(event.target.value))}
        >
          {sizes.map((size) => (
            <option key={size} value={size}>
              {size}
            </option>
          ))}
        </select>
      </span>
    </nav>
  );
}
