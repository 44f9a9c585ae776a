// First: configures zod before any schema module runs (see zod-config.ts).
import './zod-config.js';
import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { isUnauthorized } from './api/client.js';
import { Routes } from './routes.js';
import { SESSION_KEY, SessionGate } from './session.js';
import { applyStoredTheme } from './theme.js';
import './styles.css';

applyStoredTheme();

/** A 401 anywhere means the session is over (expired, or the token revoked): show the log-in form. */
const sessionEnded = (error: unknown) => {
  if (isUnauthorized(error)) queryClient.setQueryData(SESSION_KEY, null);
};

const queryClient = new QueryClient({
  queryCache: new QueryCache({ onError: sessionEnded }),
  mutationCache: new MutationCache({ onError: sessionEnded }),
  defaultOptions: {
    queries: {
      // Fresh data comes from the event stream; never refetch just because the window got focus.
      refetchOnWindowFocus: false,
      retry: (count, error) => !isUnauthorized(error) && count < 2,
    },
  },
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <SessionGate>
        <Routes />
      </SessionGate>
    </QueryClientProvider>
  </StrictMode>,
);
