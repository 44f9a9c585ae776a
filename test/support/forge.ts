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
import type { Repository } from '../../src/api/v1alpha1.js';
import type { KubeObject } from '../../src/core/objects.js';
import { ForgeClient, type ForgeConnection, type ForgeUser } from '../../src/dev/forge.js';
import { repository } from './controller.js';

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

/** The name of the Secret `giteaSecret` makes. */
export const GITEA_SECRET = 'gitea';

/**
 * The Secret a team gives Capstan for its Gitea repositories, as people give Gitea credentials to
 * git: the user name, and a token as the password; it may go to that user's repositories only, over
 * the test forge's plain http.
 */
export function giteaSecret(
  namespace: string,
  forge: Pick<ForgeClient, 'url'>,
  owner: Pick<ForgeUser, 'username'>,
  token: string,
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: GITEA_SECRET,
      namespace,
      annotations: {
        'capstan.dev/git-urls': `${forge.url}/${owner.username}/`,
        'capstan.dev/allow-insecure-http': 'true',
      },
    },
    stringData: { username: owner.username, password: token },
  };
}

/** A Repository on the test forge, polled every second, with giteaSecret's credentials and spec.forge. */
export function giteaRepository(
  namespace: string,
  name: string,
  cloneUrl: string,
  spec: Partial<Repository['spec']> = {},
): Repository {
  return repository(namespace, name, {
    url: cloneUrl,
    interval: '1s',
    secretRef: { name: GITEA_SECRET },
    forge: { kind: 'gitea' },
    ...spec,
  });
}
