/**
 * What `capstan promote` asks, as the annotation `capstan.dev/promote` on the target Application
 * carries it. A tenant writes it: bounded, checked, and every answer names the request's id.
 */
import { z } from 'zod';

export type PromotionMode = 'pullRequest' | 'push';

export interface PromotionRequest {
  readonly id: string;
  /** The source Application (same namespace as the target). */
  readonly from: string;
  readonly mode: PromotionMode;
  readonly by?: string;
}

const MAX_REQUEST_LENGTH = 2048;

const requestSchema = z
  .object({
    id: z.string().min(1).max(64),
    from: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be an Application name'),
    mode: z.enum(['pullRequest', 'push']).default('pullRequest'),
    by: z.string().max(256).optional(),
  })
  .strict();

export type ParsedPromotionRequest =
  | { readonly ok: true; readonly request: PromotionRequest }
  | { readonly ok: false; readonly id: string; readonly message: string };

/** Undefined when there is no annotation; an unreadable one still gets an answer (its id if any). */
export function parsePromotionRequest(annotation: string | undefined): ParsedPromotionRequest | undefined {
  if (annotation === undefined) return undefined;
  const fallbackId = annotation.slice(0, 64);
  if (annotation.length > MAX_REQUEST_LENGTH)
    return {
      ok: false,
      id: fallbackId,
      message: `the promotion request is longer than ${MAX_REQUEST_LENGTH} characters`,
    };
  let json: unknown;
  try {
    json = JSON.parse(annotation);
  } catch {
    return {
      ok: false,
      id: fallbackId,
      message: 'the promotion request is not JSON (use `capstan promote`)',
    };
  }
  const parsed = requestSchema.safeParse(json);
  if (!parsed.success) {
    const claimed = (json as { id?: unknown } | null)?.id;
    return {
      ok: false,
      id: typeof claimed === 'string' ? claimed.slice(0, 64) : fallbackId,
      message: `the promotion request is invalid: ${parsed.error.issues
        .map((i) => `${i.path.join('.') || 'request'}: ${i.message}`)
        .join('; ')}`,
    };
  }
  const { id, from, mode, by } = parsed.data;
  return { ok: true, request: { id, from, mode, ...(by ? { by } : {}) } };
}
