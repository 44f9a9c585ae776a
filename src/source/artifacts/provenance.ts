/**
 * Helm provenance: the `<chart>-<version>.tgz.prov` file `helm package --sign` writes beside a chart
 * archive. It is an OpenPGP clear-signed document whose text is the chart's Chart.yaml, a `...` line,
 * and a `files:` map from the archive's file name to `sha256:<hex>`. Checked as `helm verify` does
 * (a good signature by a key of the keyring, the archive's sha256 under its file name), and also the
 * signed Chart.yaml's name and version against the chart version chosen, so a signature made for
 * another chart cannot be replayed.
 *
 * The .prov comes from the repository, so it is hostile: bounded by the caller, parsed with the
 * guarded YAML parser, and never echoed in an error (only key IDs, names and digests we computed).
 */
import * as openpgp from 'openpgp';
import { UserError } from '../../core/errors.js';
import { parseYamlStream } from '../../render/yaml.js';
import { quote } from '../redact.js';
import { sha256Digest } from './digest.js';

/** A .prov at most: Helm's are a few KiB (Chart.yaml, one digest, a signature). */
export const MAX_PROVENANCE_BYTES = 1024 * 1024;

const MAX_SIGNATURES = 8;

/** A provenance check failed: the chart is refused. */
export class ProvenanceError extends UserError {}

export interface ProvenanceSubject {
  readonly chart: string;
  readonly version: string;
  /** The archive's file name as signed: the last segment of its URL (`web-1.2.0.tgz`). */
  readonly fileName: string;
  readonly archive: Buffer;
}

export interface VerifiedProvenance {
  /** Fingerprint (hex, upper case) of the key that made the good signature. */
  readonly signedBy: string;
  /** `Name <email>` of that key's primary user ID, for status and events. */
  readonly signer: string;
}

/** One or more public keys: ASCII-armored (`-----BEGIN PGP PUBLIC KEY BLOCK-----`) or binary. */
export async function readKeyring(data: Uint8Array, where: string): Promise<openpgp.PublicKey[]> {
  const text = Buffer.from(data).toString('latin1');
  let keys: openpgp.Key[];
  try {
    keys = text.includes('-----BEGIN PGP')
      ? await openpgp.readKeys({ armoredKeys: Buffer.from(data).toString('utf8') })
      : await openpgp.readKeys({ binaryKeys: data });
  } catch {
    throw new UserError(`${where}: keyring is not an OpenPGP public keyring (armored or binary)`);
  }
  if (keys.some((key) => key.isPrivate()))
    throw new UserError(
      `${where}: keyring holds a private key; give only public keys (gpg --export --armor)`,
    );
  return keys as openpgp.PublicKey[];
}

/**
 * Checks `provenance` (the .prov bytes) for `subject` against `keyring`; a ProvenanceError naming
 * the chart version and why otherwise.
 */
export async function verifyProvenance(
  provenance: Buffer,
  subject: ProvenanceSubject,
  keyring: readonly openpgp.PublicKey[],
): Promise<VerifiedProvenance> {
  const what = `chart ${quote(subject.chart)} version ${quote(subject.version)}`;
  if (provenance.length > MAX_PROVENANCE_BYTES)
    throw new ProvenanceError(`the provenance file of ${what} is larger than 1 MiB; refused`);
  const message = await readClearSigned(provenance, what);
  const signer = await goodSignature(message, keyring, what);
  const { metadata, files } = parseSignedText(message.getText(), what);
  checkMetadata(metadata, subject, what);
  checkArchiveDigest(files, subject, what);
  return signer;
}

async function readClearSigned(provenance: Buffer, what: string): Promise<openpgp.CleartextMessage> {
  try {
    return await openpgp.readCleartextMessage({ cleartextMessage: provenance.toString('utf8') });
  } catch {
    throw new ProvenanceError(`the provenance file of ${what} is not an OpenPGP clear-signed message`);
  }
}

/** The first signature that verifies against a key of the keyring; else why none does. */
async function goodSignature(
  message: openpgp.CleartextMessage,
  keyring: readonly openpgp.PublicKey[],
  what: string,
): Promise<VerifiedProvenance> {
  let result: Awaited<ReturnType<typeof openpgp.verify>>;
  try {
    result = await openpgp.verify({ message, verificationKeys: [...keyring] });
  } catch {
    throw new ProvenanceError(`the signature in the provenance file of ${what} cannot be read`);
  }
  // Each signature by a key of the keyring costs a verification: a hostile .prov gets a few.
  if (result.signatures.length > MAX_SIGNATURES)
    throw new ProvenanceError(
      `the provenance file of ${what} holds more than ${MAX_SIGNATURES} signatures; refused`,
    );
  const signers: string[] = [];
  for (const signature of result.signatures) {
    const keyId = signature.keyID.toHex().toUpperCase();
    signers.push(keyId);
    try {
      await signature.verified;
    } catch {
      continue;
    }
    const key = keyring.find((k) => k.getKeyIDs().some((id) => id.equals(signature.keyID)));
    if (!key) continue;
    return { signedBy: key.getFingerprint().toUpperCase(), signer: await primaryUser(key) };
  }
  if (signers.length === 0) throw new ProvenanceError(`the provenance file of ${what} holds no signature`);
  const known = signers.filter((id) =>
    keyring.some((k) => k.getKeyIDs().some((keyId) => keyId.toHex().toUpperCase() === id)),
  );
  if (known.length > 0)
    throw new ProvenanceError(
      `the provenance of ${what} is signed by key ${known.join(', ')} of the keyring, but the signature does not verify (the signed text was changed, or the key is expired or revoked)`,
    );
  throw new ProvenanceError(
    `the provenance of ${what} is signed by key ${signers.join(', ')}, which is not in the keyring (it has ${keyring
      .map((k) => k.getKeyID().toHex().toUpperCase())
      .join(', ')})`,
  );
}

async function primaryUser(key: openpgp.PublicKey): Promise<string> {
  try {
    const { user } = await key.getPrimaryUser();
    return (user.userID?.userID ?? '').slice(0, 200);
  } catch {
    return '';
  }
}

/** Helm's layout: Chart.yaml, a line `...`, the `files:` map (pkg/provenance parseMessageBlock). */
function parseSignedText(
  text: string,
  what: string,
): { metadata: Record<string, unknown>; files: Record<string, unknown> } {
  const normalised = text.replace(/\r\n/g, '\n');
  const split = normalised.indexOf('\n...\n');
  if (split < 0)
    throw new ProvenanceError(
      `the provenance of ${what} is not in Helm's layout (Chart.yaml, "...", files:)`,
    );
  const metadata = yamlMap(normalised.slice(0, split), 'Chart.yaml', what);
  const sums = yamlMap(normalised.slice(split + 5), 'files', what);
  const files = sums.files;
  if (files === null || typeof files !== 'object' || Array.isArray(files))
    throw new ProvenanceError(`the provenance of ${what} has no files: map`);
  return { metadata, files: files as Record<string, unknown> };
}

function yamlMap(text: string, part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    const [document] = parseYamlStream(text, `provenance ${part}`, {
      maxAliasCount: 0,
      maxDepth: 16,
      maxDocuments: 1,
    });
    value = document?.value;
  } catch {
    throw new ProvenanceError(`the signed ${part} in the provenance of ${what} is not valid YAML`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new ProvenanceError(`the signed ${part} in the provenance of ${what} is not a map`);
  return value as Record<string, unknown>;
}

function checkMetadata(metadata: Record<string, unknown>, subject: ProvenanceSubject, what: string): void {
  const name = metadata.name;
  const version = metadata.version;
  if (name !== subject.chart || String(version) !== subject.version)
    throw new ProvenanceError(
      `the provenance of ${what} is signed for ${
        typeof name === 'string' && typeof version === 'string'
          ? `chart ${quote(name, 80)} version ${quote(version, 80)}`
          : 'another chart'
      }; refused`,
    );
}

function checkArchiveDigest(files: Record<string, unknown>, subject: ProvenanceSubject, what: string): void {
  const signed = Object.hasOwn(files, subject.fileName) ? files[subject.fileName] : undefined;
  if (typeof signed !== 'string')
    throw new ProvenanceError(
      `the provenance of ${what} has no sha256 for a file named ${quote(subject.fileName, 120)}`,
    );
  const actual = sha256Digest(subject.archive);
  if (signed.trim().toLowerCase() !== actual)
    throw new ProvenanceError(
      `the archive of ${what} is refused: its digest is ${actual}, not the one its provenance signs`,
    );
}
