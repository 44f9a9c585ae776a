/**
 * The few HTTP calls the dev control plane makes before any Capstan client exists: readiness probes
 * and a couple of bootstrap requests, all to processes we started on loopback.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { EnvironmentError } from '../core/errors.js';
import { backoffDelay, sleep } from '../core/time.js';
import type { SupervisedProcess } from './processes.js';

export interface LoopbackApi {
  readonly server: string;
  readonly caCertificate: string;
  readonly token: string;
}

export interface HttpResponse {
  readonly status: number;
  readonly body: string;
}

export function loopbackRequest(
  api: LoopbackApi,
  method: string,
  path: string,
  body?: string,
): Promise<HttpResponse> {
  return send(new URL(path, api.server), { method, body, ca: api.caCertificate, token: api.token });
}

function send(
  url: URL,
  options: { method?: string; body?: string | undefined; ca?: string; token?: string },
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const common = { method: options.method ?? 'GET', headers, timeout: 5_000 };
    const req =
      url.protocol === 'https:'
        ? // Before the apiserver's certificate exists there is no CA to check it against; this is our own
          // process on loopback, probed for readiness only.
          httpsRequest(url, {
            ...common,
            ...(options.ca ? { ca: options.ca } : { rejectUnauthorized: false }),
          })
        : httpRequest(url, common);
    req.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      response.on('error', reject);
    });
    req.on('timeout', () =>
      req.destroy(new Error(`timeout after 5 s: ${options.method ?? 'GET'} ${url.href}`)),
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * Waits until `url` answers 200, retrying with a short backoff. Fails at once, with the process's
 * last log lines, if the process exits first (a bad flag, a port taken), and after `timeoutMs`.
 */
export async function waitForHttp(
  url: string,
  options: { process: SupervisedProcess; timeoutMs: number; token?: string },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let last = '';
  for (let attempt = 0; ; attempt++) {
    if (!options.process.running()) {
      const exit = await options.process.exited;
      throw new EnvironmentError(
        `${options.process.name} exited (${exit.signal ?? `code ${exit.code}`}) before it was ready; its last lines:\n${await options.process.lastLines(20)}`,
      );
    }
    try {
      const response = await send(new URL(url), options.token ? { token: options.token } : {});
      if (response.status === 200) return;
      last = `HTTP ${response.status}: ${response.body.slice(0, 300)}`;
    } catch (error) {
      last = (error as Error).message;
    }
    if (Date.now() > deadline) {
      throw new EnvironmentError(
        `${options.process.name} was not ready after ${Math.round(options.timeoutMs / 1000)} s (${url}: ${last}); its last lines:\n${await options.process.lastLines(20)}`,
      );
    }
    await sleep(backoffDelay(attempt, { initialMs: 25, maxMs: 250 }));
  }
}
