/**
 * Limits on what one render may read and produce. Repository content is untrusted: a huge file,
 * very many files, an alias bomb or runaway tool output must fail one render with a clear error,
 * never take the controller down (Argo CD CVE-2022-31016, Kubernetes CVE-2019-11253).
 */
import { UserError } from '../core/errors.js';

export interface RenderLimits {
  /** The largest single file read (checked with stat, before reading). */
  readonly maxFileBytes: number;
  /** Bytes read from the checkout by one render, all files together (including files a tool will read). */
  readonly maxTotalBytes: number;
  /** Files read (or handed to a tool) by one render. */
  readonly maxFiles: number;
  /** Directory entries looked at while walking folders, read or not. */
  readonly maxDirectoryEntries: number;
  /** Kubernetes objects (YAML documents and `List` items) one render may produce. */
  readonly maxDocuments: number;
  /** Bytes of standard output kept from helm or kustomize; the tool is killed past this. */
  readonly maxToolOutputBytes: number;
  /** Bytes of standard error kept from a tool (the tail is what matters). */
  readonly maxToolErrorBytes: number;
  /** How long helm or kustomize may run. */
  readonly toolTimeoutMs: number;
  /** The `yaml` package's alias budget (count of alias uses weighted by the aliases they contain). */
  readonly maxAliasCount: number;
  /** Nesting of mappings and sequences in one document. */
  readonly maxDepth: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_RENDER_LIMITS: RenderLimits = Object.freeze({
  maxFileBytes: 16 * MiB,
  maxTotalBytes: 64 * MiB,
  maxFiles: 10_000,
  maxDirectoryEntries: 100_000,
  maxDocuments: 10_000,
  maxToolOutputBytes: 64 * MiB,
  maxToolErrorBytes: 64 * 1024,
  toolTimeoutMs: 120_000,
  maxAliasCount: 100,
  // Real manifests rarely pass 30 (deep CRD schemas reach ~60); the parser itself misbehaves in the thousands.
  maxDepth: 200,
});

export function resolveLimits(overrides: Partial<RenderLimits> = {}): RenderLimits {
  const limits = { ...DEFAULT_RENDER_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new UserError(`render limit ${name} must be a non-negative integer (got ${String(value)})`);
    }
  }
  return Object.freeze(limits);
}

/** Byte counts for people: 16 MiB, 200.0 MiB, 512 bytes. */
export function formatBytes(bytes: number): string {
  if (bytes >= MiB) return `${Number.isInteger(bytes / MiB) ? bytes / MiB : (bytes / MiB).toFixed(1)} MiB`;
  if (bytes >= 1024)
    return `${Number.isInteger(bytes / 1024) ? bytes / 1024 : (bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} bytes`;
}

/**
 * What one render has consumed so far. Every reader charges it before doing the work, so a render
 * that would cross a limit stops with an error naming the file and the limit.
 */
export class RenderBudget {
  private bytes = 0;
  private files = 0;
  private entries = 0;
  private documents = 0;

  constructor(readonly limits: RenderLimits) {}

  /** Charges one file of `size` bytes, checked against the per-file and total limits. */
  chargeFile(repoPath: string, size: number): void {
    if (size > this.limits.maxFileBytes) {
      throw new UserError(
        `${repoPath} is ${formatBytes(size)}, over the ${formatBytes(this.limits.maxFileBytes)} limit for one file`,
      );
    }
    if (this.files + 1 > this.limits.maxFiles) {
      throw new UserError(
        `the render reads more than ${this.limits.maxFiles} files (limit reached at ${repoPath})`,
      );
    }
    if (this.bytes + size > this.limits.maxTotalBytes) {
      throw new UserError(
        `the render reads more than ${formatBytes(this.limits.maxTotalBytes)} in total (limit reached at ${repoPath})`,
      );
    }
    this.files++;
    this.bytes += size;
  }

  /** Charges directory entries seen while walking `repoDir`. */
  chargeEntries(repoDir: string, count: number): void {
    this.entries += count;
    if (this.entries > this.limits.maxDirectoryEntries) {
      throw new UserError(
        `the render walks more than ${this.limits.maxDirectoryEntries} directory entries (limit reached in ${repoDir || '.'})`,
      );
    }
  }

  /** Charges Kubernetes objects produced from `origin`. */
  chargeDocuments(origin: string, count: number): void {
    this.documents += count;
    if (this.documents > this.limits.maxDocuments) {
      throw new UserError(
        `the render produces more than ${this.limits.maxDocuments} objects (limit reached in ${origin})`,
      );
    }
  }

  /** Objects still allowed, so a parser can refuse a file with too many documents before building them. */
  remainingDocuments(): number {
    return Math.max(0, this.limits.maxDocuments - this.documents);
  }

  usage(): { bytes: number; files: number; entries: number; documents: number } {
    return { bytes: this.bytes, files: this.files, entries: this.entries, documents: this.documents };
  }
}
