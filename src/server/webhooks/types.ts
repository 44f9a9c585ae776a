/**
 * The contract every Git host's receiver fulfils: a pure verifier over the raw bytes and a pure
 * parser over the decoded payload. Neither does I/O, logs or throws for a wrong signature, so each
 * can be tested with nothing but a header map and a Buffer.
 */

export const WEBHOOK_PROVIDERS = ['github', 'gitlab', 'gitea', 'bitbucket', 'generic', 'registry'] as const;
export type WebhookProvider = (typeof WEBHOOK_PROVIDERS)[number];

export function isWebhookProvider(value: unknown): value is WebhookProvider {
  return typeof value === 'string' && (WEBHOOK_PROVIDERS as readonly string[]).includes(value);
}

/** Request headers as Node gives them: names in lower case, a value or (rarely) a list of values. */
export type WebhookHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * What a payload asks of Capstan:
 * - `push`: something changed in the named repository; reconcile it.
 * - `pullRequest`: a pull (merge) request of the named repository was opened, got new commits,
 *   was reopened or closed; plan it (see src/review/pull-requests.ts).
 * - `image`: a container registry stored a new image (registry.ts); scan the ImagePolicies of it.
 * - `ping`: the host is checking the receiver (GitHub on hook creation); answer, do nothing.
 * - `ignored`: an event Capstan does not act on (issues, comments, PR label edits, …); answer, do nothing.
 */
export type WebhookKind = 'push' | 'pullRequest' | 'image' | 'ping' | 'ignored';

/** The pull-request actions Capstan acts on, in one vocabulary for every host. */
export const PULL_REQUEST_ACTIONS = ['opened', 'synchronized', 'reopened', 'closed'] as const;
export type PullRequestAction = (typeof PULL_REQUEST_ACTIONS)[number];

/** An image a registry announced: its path in the registry (`team/web`), lower case, validated. */
export interface PushedImage {
  readonly repository: string;
}

/** A validated pull-request event: every field bounded, the SHA hex only. */
export interface PullRequestChange {
  readonly action: PullRequestAction;
  /** The number people know it by (GitHub/Gitea `number`, GitLab `iid`). */
  readonly number: number;
  /** The head commit (40 or 64 lower-case hex digits). */
  readonly headSha: string;
  /** The branch carrying the change (a branch name, not `refs/heads/…`). */
  readonly headRef: string;
  /** The branch it is to be merged into. */
  readonly baseRef: string;
  /** Closed by merging (only meaningful with `closed`). */
  readonly merged: boolean;
  /** The head lives in another repository than the base (a fork, or the host would not say). */
  readonly fork: boolean;
}

interface WebhookCommon {
  /** The host's own name for the event (`push`, `Tag Push Hook`, `repo:push`), for logs. */
  readonly event: string;
  /** Every spelling of the repository's URL that the payload carries, as sent (unvalidated). */
  readonly urls: readonly string[];
}

export type ParsedWebhook =
  | (WebhookCommon & {
      readonly kind: 'push' | 'ping' | 'ignored';
      /** The ref that moved (`refs/heads/main`), when the payload names exactly one. */
      readonly ref?: string;
    })
  | (WebhookCommon & {
      readonly kind: 'image';
      /** The images pushed (distinct); `urls` is empty. */
      readonly images: readonly PushedImage[];
    })
  | (WebhookCommon & {
      readonly kind: 'pullRequest';
      /** For a pull request, `urls` are those of the base repository (the one merged into). */
      readonly pullRequest: PullRequestChange;
    });

export interface WebhookReceiver {
  /**
   * Headers of which at least one must be present for the request to stand a chance. Checked before
   * the body is read, so a request without one is refused without reading a byte of its body.
   */
  readonly signatureHeaders: readonly string[];
  /** True when the headers prove that the sender knows `secret` for exactly these bytes. */
  verify(headers: WebhookHeaders, rawBody: Buffer, secret: string): boolean;
  /** Reads a decoded (authenticated) payload; throws `UserError` when it is not what the host sends. */
  parse(body: unknown, headers: WebhookHeaders): ParsedWebhook;
}
