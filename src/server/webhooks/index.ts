/** One receiver per Git host, looked up by the `:provider` segment of `/hooks/:provider`. */
import * as bitbucket from './bitbucket.js';
import * as generic from './generic.js';
import * as gitea from './gitea.js';
import * as github from './github.js';
import * as gitlab from './gitlab.js';
import * as registry from './registry.js';
import type { WebhookProvider, WebhookReceiver } from './types.js';

export const webhookReceivers: Readonly<Record<WebhookProvider, WebhookReceiver>> = {
  github,
  gitlab,
  gitea,
  bitbucket,
  generic,
  registry,
};

export { PULL_REQUEST_ACTIONS, WEBHOOK_PROVIDERS, isWebhookProvider } from './types.js';
export type {
  ParsedWebhook,
  PullRequestAction,
  PullRequestChange,
  PushedImage,
  WebhookHeaders,
  WebhookKind,
  WebhookProvider,
  WebhookReceiver,
} from './types.js';
export { decodeBody } from './payload.js';
