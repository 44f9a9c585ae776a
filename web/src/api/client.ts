/**
 * The one typed client of the dashboard's API. Every answer is checked against the server's own
 * zod schemas (src/server/dashboard/schema.ts), so a server that changes shape fails loudly here
 * instead of drawing wrong data.
 */
import type { z } from 'zod';
import {
  API_PREFIX,
  CSRF_HEADER,
  actionResultSchema,
  apiErrorSchema,
  appDetailSchema,
  appDiffSchema,
  appListSchema,
  okSchema,
  resourceTreeSchema,
  sessionSchema,
  type ActionResult,
  type AppDetail,
  type AppDiff,
  type AppList,
  type DashboardAction,
  type ResourceTree,
  type RollbackRequest,
  type Session,
} from '../../../src/server/dashboard/schema.js';

/** An answer other than 2xx: the server's `{error, message}` with the HTTP status. */
export class ApiRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiRequestError';
  }
}

export const isUnauthorized = (error: unknown): boolean =>
  error instanceof ApiRequestError && error.status === 401;

/** Set by the session once logged in: sent on every POST and DELETE. */
let csrfToken: string | undefined;
export function rememberCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

async function request<S extends z.ZodType>(
  schema: S,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<z.output<S>> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') {
    if (csrfToken) headers[CSRF_HEADER] = csrfToken;
    if (method === 'POST') headers['content-type'] = 'application/json';
  }
  const response = await fetch(`${API_PREFIX}${path}`, {
    method,
    headers,
    credentials: 'same-origin',
    ...(method === 'POST' ? { body: JSON.stringify(body ?? {}) } : {}),
    ...(signal ? { signal } : {}),
  });
  const payload: unknown = await response.json().catch(() => undefined);
  if (!response.ok) {
    const error = apiErrorSchema.safeParse(payload);
    throw error.success
      ? new ApiRequestError(response.status, error.data.error, error.data.message)
      : new ApiRequestError(response.status, 'http', `the server answered ${response.status}`);
  }
  const parsed = schema.safeParse(payload);
  if (!parsed.success)
    throw new ApiRequestError(
      response.status,
      'schema',
      `unexpected answer from ${path}: ${parsed.error.message}`,
    );
  return parsed.data;
}

const appPath = (namespace: string, name: string): string =>
  `/apps/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;

export const api = {
  session: (signal?: AbortSignal): Promise<Session> =>
    request(sessionSchema, 'GET', '/session', undefined, signal),
  logIn: (token: string): Promise<Session> => request(sessionSchema, 'POST', '/session', { token }),
  logOut: (): Promise<z.output<typeof okSchema>> => request(okSchema, 'DELETE', '/session'),
  /** `query`: the list page's URL query string, passed through (the server validates it). */
  apps: (query: string, signal?: AbortSignal): Promise<AppList> =>
    request(appListSchema, 'GET', `/apps${query ? `?${query}` : ''}`, undefined, signal),
  app: (namespace: string, name: string, signal?: AbortSignal): Promise<AppDetail> =>
    request(appDetailSchema, 'GET', appPath(namespace, name), undefined, signal),
  tree: (namespace: string, name: string, signal?: AbortSignal): Promise<ResourceTree> =>
    request(resourceTreeSchema, 'GET', `${appPath(namespace, name)}/tree`, undefined, signal),
  diff: (namespace: string, name: string, signal?: AbortSignal): Promise<AppDiff> =>
    request(appDiffSchema, 'GET', `${appPath(namespace, name)}/diff`, undefined, signal),
  act: (
    namespace: string,
    name: string,
    action: DashboardAction,
    body: RollbackRequest | Record<string, never> = {},
  ): Promise<ActionResult> =>
    request(actionResultSchema, 'POST', `${appPath(namespace, name)}/${action}`, body),
};
