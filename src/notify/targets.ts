/** One request builder per target type, looked up by a Notification's `spec.target.type`. */
import * as gitea from './commit-status/gitea.js';
import * as github from './commit-status/github.js';
import * as gitlab from './commit-status/gitlab.js';
import * as slack from './slack.js';
import type { BuildTarget, NotificationTargetType } from './types.js';
import * as webhook from './webhook.js';

export const targetBuilders: Readonly<Record<NotificationTargetType, BuildTarget>> = {
  webhook: webhook.build,
  slack: slack.build,
  github: github.build,
  gitlab: gitlab.build,
  gitea: gitea.build,
};
