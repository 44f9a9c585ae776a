/**
 * "Are you sure?" as a native modal <dialog>: showModal() makes the rest of the page inert, Escape
 * cancels (the dialog's own `cancel` event), and Tab cycles within the dialog rather than reaching
 * the browser's chrome. Focus goes to the first field (or Confirm) on open and back to whatever had
 * it on close, so a keyboard user lands where they were.
 */
import { useEffect, useId, useRef, type KeyboardEvent, type ReactNode } from 'react';
import './confirm-dialog.css';

const FOCUSABLE =
  'button:not([disabled]), [href], input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

export interface ConfirmDialogProps {
  open: boolean;
  title: string;
  /** What will happen, in a sentence or two (the dialog's description). */
  children: ReactNode;
  /** The confirm button's look; its name is always "Confirm". */
  tone?: 'primary' | 'danger';
  /** The request is under way: Confirm is disabled and says so. */
  busy?: boolean;
  /** False: Confirm is disabled (e.g. a choice is still missing). */
  canConfirm?: boolean;
  onConfirm(): void;
  onCancel(): void;
}

export function ConfirmDialog(props: ConfirmDialogProps) {
  const { open, onCancel } = props;
  const dialog = useRef<HTMLDialogElement>(null);
  const opener = useRef<Element | null>(null);
  const id = useId();

  useEffect(() => {
    const element = dialog.current;
    if (!element) return;
    const close = () => {
      if (!element.open) return;
      element.close();
      if (opener.current instanceof HTMLElement && opener.current.isConnected) opener.current.focus();
    };
    if (!open) {
      close();
      return;
    }
    if (!element.open) {
      opener.current = document.activeElement;
      element.showModal();
      const first =
        element.querySelector<HTMLElement>('[data-autofocus]') ??
        element.querySelector<HTMLElement>('.dialog-body input, .dialog-body select') ??
        element.querySelector<HTMLElement>('button[data-confirm]');
      first?.focus();
    }
    // Also when the dialog is unmounted while open (its owner stops rendering it on cancel).
    return close;
  }, [open]);

  const keepFocusInside = (event: KeyboardEvent<HTMLDialogElement>) => {
    if (event.key !== 'Tab' || !dialog.current) return;
    const focusable = [...dialog.current.querySelectorAll<HTMLElement>(FOCUSABLE)];
    if (focusable.length === 0) return;
    const first = focusable[0]!;
    const last = focusable[focusable.length - 1]!;
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  };

  return (
    <dialog
      ref={dialog}
      className="confirm-dialog"
      aria-labelledby={`${id}-title`}
      aria-describedby={`${id}-body`}
      onCancel={(event) => {
        // Escape: we close it ourselves (through `open`), so React's state and the element agree.
        event.preventDefault();
        if (!props.busy) onCancel();
      }}
      onKeyDown={keepFocusInside}
    >
      <form
        method="dialog"
        onSubmit={(event) => {
          event.preventDefault();
          if (!props.busy && props.canConfirm !== false) props.onConfirm();
        }}
      >
        <h2 id={`${id}-title`}>{props.title}</h2>
        <div id={`${id}-body`} className="dialog-body">
          {props.children}
        </div>
        <div className="dialog-buttons">
          {props.busy && (
            <span className="dialog-busy" role="status">
              Working…
            </span>
          )}
          <button type="button" onClick={onCancel} disabled={props.busy}>
            Cancel
          </button>
          <button
            type="submit"
            data-confirm=""
            className={props.tone === 'danger' ? 'danger' : 'primary'}
            disabled={props.busy || props.canConfirm === false}
            aria-busy={props.busy || undefined}
          >
            Confirm
          </button>
        </div>
      </form>
    </dialog>
  );
}
