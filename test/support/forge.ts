/**
 * The run's shared Gitea forge, for integration tests:
 *
 *   import { sharedForge } from '../support/forge.js';
 *   const forge = await sharedForge();            // starts it on first use (~2 s), then reuses it
 *   const user = await forge.createUser();        // tests share the forge: names are made unique
 *   const repo = await forge.createRepo(user.username, 'app');
 *   const token = await forge.token(user, ['write:repository']);
 *   // git push forge.cloneUrl(user.username, 'app', user) …, then, before using what was pushed:
 *   await forge.waitForBranch(repo.fullName, 'main', { sha });
 *
 * The forge itself runs in the main vitest process (test/setup/forge.ts) and is stopped at the end.
 */
import { inject } from 'vitest';
import { ForgeClient, type ForgeConnection } from '../../src/dev/forge.js';

let client: Promise<ForgeClient> | undefined;

/** A client of the run's one forge (the admin's token by default). */
export function sharedForge(): Promise<ForgeClient> {
  client ??= connect().catch((error: unknown) => {
    client = undefined;
    throw error;
  });
  return client;
}

async function connect(): Promise<ForgeClient> {
  const broker = inject('forgeBroker');
  const response = await fetch(`${broker.url}/forge`, {
    method: 'POST',
    headers: { authorization: `Bearer ${broker.secret}` },
  });
  const body = await response.text();
  if (!response.ok) throw new Error(`the test forge could not be started: ${body}`);
  return new ForgeClient(JSON.parse(body) as ForgeConnection);
}
