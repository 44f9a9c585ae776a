/**
 * Fetched artifacts kept by digest under the engine's state folder (`<dir>/sha256/<hex>`), shared by
 * every app and engine of the process: a chart or layer is downloaded once, whatever polls it.
 * Written to a private file and renamed into place, so a reader never sees half of one; verified on
 * every read, so a damaged or tampered file is dropped and fetched again, never unpacked.
 *
 * Beside the content, one small record per revision digest (`<dir>/revisions/<hex>.json`) says which
 * content it stands for: a Helm chart's revision is its archive's digest, an OCI artifact's is its
 * manifest's digest, whose layer is the content.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { sha256Digest, verifyDigest } from './digest.js';

/** What a revision's content is, and how to unpack it. */
export interface StoredArtifact {
  /** `sha256:…` of the archive bytes. */
  readonly content: string;
  /** Helm chart archives are unpacked with their `<chart>/` folder dropped when `stripComponents` is 1. */
  readonly stripComponents: number;
  /** For messages: `chart web 1.2.0`, `oci 127.0.0.1:5000/app:1.0`. */
  readonly description: string;
}

const recordSchema = z.object({
  content: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  stripComponents: z.number().int().min(0).max(1),
  description: z.string().max(1024),
});

export interface ArtifactStore {
  /** Keeps `data` (verified against `record.content`) as the content of revision digest `revision`. */
  put(revision: string, record: StoredArtifact, data: Buffer): Promise<void>;
  /** The record and verified bytes of `revision`, or undefined when not kept (or found damaged). */
  get(revision: string): Promise<{ record: StoredArtifact; data: Buffer } | undefined>;
  has(revision: string): Promise<boolean>;
}

export function createArtifactStore(dir: string): ArtifactStore {
  const contentPath = (digest: string) => join(dir, 'sha256', hexOf(digest));
  const recordPath = (digest: string) => join(dir, 'revisions', `${hexOf(digest)}.json`);

  async function readRecord(revision: string): Promise<StoredArtifact | undefined> {
    const text = await readFile(recordPath(revision), 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    try {
      return recordSchema.parse(JSON.parse(text));
    } catch {
      return undefined;
    }
  }

  return {
    async put(revision, record, data) {
      verifyDigest(data, record.content, record.description);
      await atomicWrite(contentPath(record.content), data);
      await atomicWrite(recordPath(revision), Buffer.from(JSON.stringify(record)));
    },
    async get(revision) {
      const record = await readRecord(revision);
      if (!record) return undefined;
      const data = await readFile(contentPath(record.content)).catch(() => undefined);
      if (data === undefined) return undefined;
      if (sha256Digest(data) !== record.content) {
        // Damaged on disk (or written by someone else): gone, and fetched again by the next resolve.
        await rm(contentPath(record.content), { force: true });
        return undefined;
      }
      return { record, data };
    },
    async has(revision) {
      return (await readRecord(revision)) !== undefined;
    },
  };
}

function hexOf(digest: string): string {
  const hex = /^sha256:([0-9a-f]{64})$/.exec(digest)?.[1];
  if (hex === undefined) throw new Error(`not a sha256 digest: ${digest.slice(0, 80)}`);
  return hex;
}

async function atomicWrite(path: string, data: Buffer): Promise<void> {
  const folder = join(path, '..');
  await mkdir(folder, { recursive: true, mode: 0o700 });
  const partial = `${path}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(partial, data, { mode: 0o600 });
    await rename(partial, path);
  } finally {
    await rm(partial, { force: true });
  }
}
