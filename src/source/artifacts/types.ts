/**
 * Repositories that are not Git: a Helm repository (an HTTP(S) server with an `index.yaml`) or an
 * OCI registry repository (`oci://host/path`). They travel through the source stage as a `Repository`
 * with these extra fields, so everything that only passes a Repository along needs no change.
 */
import type { Repository } from '../git-source.js';

export type ArtifactKind = 'helm' | 'oci';

/** How to reach an artifact repository; the credentials are for its host alone. */
export interface ArtifactAccess {
  readonly auth?: { readonly username: string; readonly password: string } | undefined;
  /** The Secret's owner accepts that the credentials travel over plain http://. */
  readonly allowInsecureHttp?: boolean;
  /** OCI: speak plain http:// to the registry (spec.plainHttp). Helm: the URL's scheme says it. */
  readonly plainHttp?: boolean;
  /** Extra CA certificates (PEM) for https. */
  readonly caPem?: string | undefined;
  /**
   * Helm: OpenPGP public keys (the Secret's `keyring`, armored or binary). When given, every chart
   * must come with a `.prov` signed by one of them (provenance.ts); without, none is checked.
   */
  readonly keyring?: Uint8Array | undefined;
}

export interface ArtifactRepository extends Repository {
  readonly kind: ArtifactKind;
  readonly artifact: ArtifactAccess;
}

export function isArtifactRepository(repository: Repository): repository is ArtifactRepository {
  const kind = (repository as Partial<ArtifactRepository>).kind;
  return kind === 'helm' || kind === 'oci';
}
