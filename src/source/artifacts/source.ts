/**
 * The artifact source: resolves an Application's ref on a Helm or OCI repository to a revision
 * (`<version>@sha256:<digest>`), fetching the content once into the store (verified by digest), and
 * writes a revision's files into a checkout folder through the safe unpacker.
 *
 * A failed fetch throws before anything is unpacked, so the engine's usual guard holds: nothing is
 * rendered, applied or pruned at a revision that could not be fetched whole and verified.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CapstanError, UserError } from '../../core/errors.js';
import {
  createRegistryClient,
  type RegistryClient,
  type RegistryClientOptions,
} from '../../registry/index.js';
import type { Revision } from '../git-source.js';
import { redactUrl } from '../redact.js';
import { sha256Digest, verifyDigest } from './digest.js';
import {
  chartFileName,
  chooseChartVersion,
  downloadChart,
  downloadProvenance,
  readChartVersions,
  type ChartVersion,
} from './helm-repository.js';
import {
  MAX_PROVENANCE_BYTES,
  ProvenanceError,
  readKeyring,
  verifyProvenance,
  type VerifiedProvenance,
} from './provenance.js';
import { contentLayer, parseOciRef, parseOciUrl, resolveOciRef } from './oci.js';
import { formatArtifactRevision, parseArtifactRevision, parseHelmRef } from './revision.js';
import { createArtifactStore, type ArtifactStore, type StoredArtifact } from './store.js';
import type { ArtifactRepository } from './types.js';
import { DEFAULT_UNPACK_LIMITS, unpackArchive, type UnpackLimits } from './unpack.js';

export interface ArtifactSource {
  /** `ref`: a version, range, tag or digest (for Helm, `chart@…`; see revision.ts), or a revision. */
  resolve(repository: ArtifactRepository, ref: string): Promise<Revision>;
  /** Writes the files of `revision` (resolved before, or fetchable by digest) into the empty `dir`. */
  checkout(repository: ArtifactRepository, revision: string, dir: string): Promise<void>;
}

export interface ArtifactSourceOptions {
  /** Where fetched artifacts are kept by digest (persistent storage saves downloads on restart). */
  readonly cacheDir: string;
  /** index.yaml at most (default 16 MiB). */
  readonly maxIndexBytes?: number;
  /** A chart archive or OCI layer at most, compressed (default 64 MiB). */
  readonly maxArtifactBytes?: number;
  readonly unpackLimits?: UnpackLimits;
  /** Per request, when the Repository sets none (default 60 s). */
  readonly timeoutMs?: number;
  /** The operator's switch: let repositories use link-local and metadata addresses. */
  readonly allowPrivateAddresses?: boolean;
  /** A stand-in for tests; default src/registry's client. */
  readonly registryClient?: (options: RegistryClientOptions) => RegistryClient;
}

const MiB = 1024 * 1024;

export function createArtifactSource(options: ArtifactSourceOptions): ArtifactSource {
  const store = createArtifactStore(join(options.cacheDir, 'artifacts'));
  const limits = {
    maxIndexBytes: options.maxIndexBytes ?? 16 * MiB,
    maxChartBytes: options.maxArtifactBytes ?? 64 * MiB,
  };
  const unpackLimits = options.unpackLimits ?? DEFAULT_UNPACK_LIMITS;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const allowPrivateAddresses = options.allowPrivateAddresses ?? false;
  const helm = { limits, timeoutMs, allowPrivateAddresses };
  const clients = registryClients(options, timeoutMs, allowPrivateAddresses);
  /** Digests of index entries that give none, by chart URL: computed once, not on every poll. */
  const undigested = new Map<string, string>();
  const provenance = provenanceChecks(store, helm);

  async function resolveHelm(repository: ArtifactRepository, ref: string): Promise<Revision> {
    const { chart, range } = parseHelmRef(ref);
    const where = redactUrl(repository.url);
    const versions = await readChartVersions(repository, chart, helm);
    const chosen = chooseChartVersion(versions, range, { chart, repository: where });
    const known = chosen.digest ?? undigested.get(chosen.url);
    if (known === undefined || !(await store.has(known))) {
      const data = await downloadChart(repository, chosen, helm);
      const digest = chosen.digest ?? sha256Digest(data);
      // Before the store: a chart refused by its provenance is never kept, so never unpacked.
      const signer = await provenance.check(repository, chosen, digest, data);
      await store.put(
        digest,
        { content: digest, stripComponents: 0, description: describeChart(chosen) },
        data,
      );
      if (!chosen.digest) undigested.set(chosen.url, digest);
      return chartRevision(chosen, digest, ref, signer);
    }
    const signer = await provenance.check(repository, chosen, known);
    return chartRevision(chosen, known, ref, signer);
  }

  async function resolveOci(repository: ArtifactRepository, ref: string): Promise<Revision> {
    const image = parseOciUrl(repository.url);
    const where = `${image.registry}/${image.repository}`;
    const client = clients(repository);
    const wanted = parseOciRef(ref);
    const { label, digest } = await resolveOciRef(client, image, wanted, {});
    if (wanted.kind === 'digest' && digest !== wanted.digest)
      throw new UserError(`the registry answered ${digest} for ${where}@${wanted.digest}; refused`);
    const description = `${where}${label ? `:${label}` : ''}`;
    if (!(await store.has(digest))) {
      const { json } = await client.getManifest(image, digest);
      const layer = contentLayer(json, `${where}@${digest}`, limits.maxChartBytes);
      const data = await client.fetchBlob(image, layer.digest, { maxBytes: limits.maxChartBytes });
      verifyDigest(data, layer.digest, `the layer of ${description}`);
      await store.put(
        digest,
        { content: layer.digest, stripComponents: layer.stripComponents, description },
        data,
      );
    }
    return artifactRevision(formatArtifactRevision(label, digest), ref, `OCI artifact ${description}`);
  }

  /** A revision resolved before (a rollback, a pinned status): from the store, else by digest. */
  async function resolveKnown(
    repository: ArtifactRepository,
    ref: string,
    digest: string,
  ): Promise<Revision> {
    const stored = await store.get(digest);
    if (stored && repository.kind === 'helm' && repository.artifact.keyring)
      provenance.requireChecked(repository, ref, digest);
    if (stored) return artifactRevision(ref, ref, stored.record.description);
    if (repository.kind === 'oci') return resolveOci(repository, digest);
    throw new UserError(
      `revision ${ref} of ${redactUrl(repository.url)} is no longer cached and a Helm repository cannot be asked for a digest; set spec.ref to its version`,
    );
  }

  return {
    async resolve(repository, ref) {
      const known = parseArtifactRevision(ref);
      if (known) return resolveKnown(repository, ref, known.digest);
      return repository.kind === 'helm' ? resolveHelm(repository, ref) : resolveOci(repository, ref);
    },
    async checkout(repository, revision, dir) {
      const parsed = parseArtifactRevision(revision);
      if (!parsed)
        throw new UserError(`${revision.slice(0, 100)} is not an artifact revision (version@sha256:…)`);
      let stored = await store.get(parsed.digest);
      if (!stored && repository.kind === 'oci') {
        await resolveOci(repository, parsed.digest);
        stored = await store.get(parsed.digest);
      }
      if (!stored)
        throw new UserError(
          `revision ${revision} of ${redactUrl(repository.url)} is not cached; it is fetched again when resolved`,
        );
      await mkdir(dir, { recursive: true });
      if ((await readdir(dir)).length > 0)
        throw new CapstanError('internal', `checkout folder ${dir} is not empty`);
      await unpackArchive(stored.data, dir, stored.record.description, unpackLimits, {
        stripComponents: stored.record.stripComponents,
      });
    },
  };
}

/** One registry client per set of options, so a client's tokens are reused across polls. */
function registryClients(
  options: ArtifactSourceOptions,
  timeoutMs: number,
  allowPrivateAddresses: boolean,
): (repository: ArtifactRepository) => RegistryClient {
  const make = options.registryClient ?? createRegistryClient;
  const clients = new Map<string, RegistryClient>();
  return (repository) => {
    const clientOptions: RegistryClientOptions = {
      // The credentials are for this repository's registry host, and the client holds them to it.
      ...(repository.artifact.auth
        ? { auth: repository.artifact.auth, registry: parseOciUrl(repository.url).registry }
        : {}),
      plainHttp: repository.artifact.plainHttp ?? false,
      timeoutMs: repository.timeoutMs ?? timeoutMs,
      allowPrivateAddresses,
      ...(repository.artifact.caPem ? { caPem: repository.artifact.caPem } : {}),
    };
    // Keyed by a hash: the map must not hold a readable password as a key.
    const key = createHash('sha256')
      .update(JSON.stringify([repository.url, clientOptions]))
      .digest('hex');
    let client = clients.get(key);
    if (!client) {
      if (clients.size > 1000) clients.clear();
      client = make(clientOptions);
      clients.set(key, client);
    }
    return client;
  };
}

/**
 * Provenance, when the Repository's Secret gives a keyring: each chart digest is checked once per
 * keyring (the .prov fetched, the signature and the archive's digest verified), then remembered.
 */
function provenanceChecks(
  store: ArtifactStore,
  helm: { timeoutMs: number; allowPrivateAddresses: boolean },
): {
  check(
    repository: ArtifactRepository,
    version: ChartVersion,
    digest: string,
    data?: Buffer,
  ): Promise<VerifiedProvenance | undefined>;
  requireChecked(repository: ArtifactRepository, revision: string, digest: string): void;
} {
  const verified = new Map<string, VerifiedProvenance>();
  const keyOf = (keyring: Uint8Array, digest: string): string =>
    `${digest} ${createHash('sha256').update(keyring).digest('hex')}`;
  return {
    async check(repository, version, digest, data) {
      const keyringBytes = repository.artifact.keyring;
      if (!keyringBytes) return undefined;
      // Remembered under the digest of the bytes checked, never one the index claims: a signed
      // archive must not vouch for another that the index later names by the same digest.
      const key = keyOf(keyringBytes, data ? sha256Digest(data) : digest);
      const known = verified.get(key);
      if (known) return known;
      const where = redactUrl(repository.url);
      const keyring = await readKeyring(keyringBytes, `the Secret of Repository ${where}`);
      const archive = data ?? (await store.get(digest))?.data;
      if (!archive) throw new CapstanError('internal', `chart ${digest} vanished from the store`);
      const prov = await downloadProvenance(repository, version, {
        ...helm,
        maxBytes: MAX_PROVENANCE_BYTES,
      });
      if (!prov)
        throw new ProvenanceError(
          `chart ${version.chart} ${version.version} in ${where} has no provenance file (${chartFileName(version)}.prov); the Repository's Secret gives a keyring, so only signed charts are accepted`,
        );
      const signer = await verifyProvenance(
        prov,
        { chart: version.chart, version: version.version, fileName: chartFileName(version), archive },
        keyring,
      );
      if (verified.size > 10_000) verified.clear();
      verified.set(key, signer);
      return signer;
    },
    requireChecked(repository, revision, digest) {
      const keyring = repository.artifact.keyring;
      if (keyring && !verified.has(keyOf(keyring, digest)))
        throw new ProvenanceError(
          `revision ${revision} of ${redactUrl(repository.url)} has not had its provenance checked by this controller; set spec.ref to its version so the chart and its .prov are fetched`,
        );
    },
  };
}

function describeChart(version: ChartVersion): string {
  return `chart ${version.chart} ${version.version}`;
}

function chartRevision(
  version: ChartVersion,
  digest: string,
  ref: string,
  signer?: VerifiedProvenance,
): Revision {
  const signed = signer ? ` (provenance signed by ${signer.signedBy})` : '';
  const summary = `${signed}${version.description ? `: ${version.description}` : ''}`;
  return {
    ...artifactRevision(
      formatArtifactRevision(version.version, digest),
      ref,
      `${describeChart(version)}${summary}`,
    ),
    ...(version.created ? { date: version.created } : {}),
  };
}

function artifactRevision(id: string, ref: string, message: string): Revision {
  return { sha: id, ref, message, author: { name: '', email: '' }, date: '' };
}

export type { StoredArtifact, ArtifactStore };
