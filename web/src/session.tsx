/**
 * Who is logged in. Nothing about the session lives in the browser's storage: the server keeps it
 * behind an HttpOnly cookie, and this component asks `GET /session` to learn whether there is one.
 *
 * Two ways in: `capstan dashboard` opens `/#token=…` (the fragment never leaves the browser), which
 * is exchanged for a session at once and wiped from the address bar; the controller's dashboard
 * asks for a Kubernetes bearer token, pasted once.
 */
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { createContext, useContext, useId, useState, type FormEvent, type ReactNode } from 'react';
import type { Session } from '../../src/server/dashboard/schema.js';
import { api, ApiRequestError, isUnauthorized, rememberCsrfToken } from './api/client.js';
import { closeEventStream } from './api/events.js';

const SessionContext = createContext<Session | undefined>(undefined);

/** The logged-in session; only under <SessionGate>. */
export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside <SessionGate>');
  return session;
}

export const SESSION_KEY = ['session'] as const;

/** Takes `#token=…` out of the address bar (and history) and returns it. */
function takeFragmentToken(): string | undefined {
  const match = /^#token=([A-Za-z0-9_-]{1,512})$/.exec(window.location.hash);
  if (!match) return undefined;
  window.history.replaceState(null, '', window.location.pathname + window.location.search);
  return match[1];
}

/**
 * The token this page was opened with, exchanged for a session once, as the page loads. Kept as a
 * promise so that every session query started meanwhile (React may start one twice) shares it.
 */
let exchange: Promise<Session | null> | undefined = (() => {
  const token = takeFragmentToken();
  return token ? api.logIn(token).catch(() => null) : undefined;
})();

/** The current session, or null when there is none (the log-in form shows). */
async function currentSession(signal: AbortSignal): Promise<Session | null> {
  if (exchange) {
    const pending = exchange;
    const exchanged = await pending;
    if (exchange === pending) exchange = undefined;
    if (exchanged) return exchanged;
  }
  try {
    return await api.session(signal);
  } catch (error) {
    if (isUnauthorized(error)) return null;
    throw error;
  }
}

export function SessionGate({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const session = useQuery({
    queryKey: SESSION_KEY,
    queryFn: ({ signal }) => currentSession(signal),
    staleTime: Infinity,
    retry: 1,
  });
  const logIn = useMutation({
    mutationFn: api.logIn,
    onSuccess: (created) => queryClient.setQueryData(SESSION_KEY, created),
  });
  rememberCsrfToken(session.data?.csrfToken);

  if (session.isPending) return <p className="page-message">Loading…</p>;
  if (session.isError)
    return (
      <p className="page-message" role="alert">
        Cannot reach the dashboard server: {session.error.message}
      </p>
    );
  if (!session.data) return <LogIn pending={logIn.isPending} error={logIn.error} onSubmit={logIn.mutate} />;
  return <SessionContext.Provider value={session.data}>{children}</SessionContext.Provider>;
}

function LogIn(props: { pending: boolean; error: Error | null; onSubmit: (token: string) => void }) {
  const [token, setToken] = useState('');
  const fieldId = useId();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (token.trim()) props.onSubmit(token.trim());
  };
  return (
    <main className="login">
      <form onSubmit={submit} className="card login-card" aria-labelledby={`${fieldId}-title`}>
        <h1 id={`${fieldId}-title`}>Capstan</h1>
        <p>
          Log in with your Kubernetes bearer token (a ServiceAccount token, or your OIDC id token). You see
          and do exactly what the cluster lets that identity do.
        </p>
        <label htmlFor={fieldId}>Token</label>
        <input
          id={fieldId}
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={token}
          onChange={(event) => setToken(event.target.value)}
          required
        />
        <p className="hint">
          For example: <code>kubectl create token NAME -n NAMESPACE</code>. Kept by the server in an HttpOnly
          cookie, never in this page.
        </p>
        {props.error && (
          <p className="error" role="alert">
            {props.error instanceof ApiRequestError ? props.error.message : 'Log-in failed'}
          </p>
        )}
        <button type="submit" className="primary" disabled={props.pending}>
          {props.pending ? 'Logging in…' : 'Log in'}
        </button>
      </form>
    </main>
  );
}

/** Ends the session on the server and shows the log-in form. */
export function useLogOut(): () => void {
  const queryClient = useQueryClient();
  return () => {
    void api
      .logOut()
      .catch(() => undefined)
      .finally(() => {
        closeEventStream();
        rememberCsrfToken(undefined);
        queryClient.clear();
        queryClient.setQueryData(SESSION_KEY, null);
      });
  };
}
