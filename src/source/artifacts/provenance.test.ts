import * as openpgp from 'openpgp';
import { beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../core/errors.js';
import { sha256Digest } from './digest.js';
import { MAX_PROVENANCE_BYTES, ProvenanceError, readKeyring, verifyProvenance } from './provenance.js';

const archive = Buffer.from('pretend this is web-1.2.0.tgz');
const subject = { chart: 'web', version: '1.2.0', fileName: 'web-1.2.0.tgz', archive };

interface TestKey {
  readonly privateKey: openpgp.PrivateKey;
  readonly publicArmored: string;
}

async function makeKey(name: string): Promise<TestKey> {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name, email: 'test@example.com' }],
    format: 'object',
  });
  return { privateKey, publicArmored: publicKey.armor() };
}

/** A .prov as `helm package --sign` writes it: Chart.yaml, `...`, the files map, clear-signed. */
async function makeProv(
  key: TestKey,
  options: { name?: string; version?: string; file?: string; digest?: string } = {},
): Promise<Buffer> {
  const text = [
    'apiVersion: v2',
    'description: web for tests',
    `name: ${options.name ?? 'web'}`,
    `version: ${options.version ?? '1.2.0'}`,
    '',
    '...',
    'files:',
    `  ${options.file ?? 'web-1.2.0.tgz'}: ${options.digest ?? sha256Digest(archive)}`,
    '',
  ].join('\n');
  const message = await openpgp.createCleartextMessage({ text });
  const signed = await openpgp.sign({ message, signingKeys: key.privateKey });
  return Buffer.from(signed);
}

let trusted: TestKey;
let stranger: TestKey;
let keyring: openpgp.PublicKey[];

beforeAll(async () => {
  trusted = await makeKey('Capstan Test');
  stranger = await makeKey('Someone Else');
  keyring = await readKeyring(Buffer.from(trusted.publicArmored), 'test');
});

describe('verifyProvenance', () => {
  it('accepts a chart whose .prov is signed by a key of the keyring', async () => {
    const result = await verifyProvenance(await makeProv(trusted), subject, keyring);
    expect(result.signedBy).toBe(trusted.privateKey.getFingerprint().toUpperCase());
    expect(result.signer).toContain('Capstan Test');
  });

  it('reads binary keyrings too', async () => {
    const binary = (await openpgp.readKey({ armoredKey: trusted.publicArmored })).write();
    const keys = await readKeyring(binary, 'test');
    await expect(verifyProvenance(await makeProv(trusted), subject, keys)).resolves.toBeDefined();
  });

  it('refuses a tampered archive, naming the digests only', async () => {
    const prov = await makeProv(trusted);
    const tampered = { ...subject, archive: Buffer.from('something else') };
    const error = await verifyProvenance(prov, tampered, keyring).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProvenanceError);
    expect((error as Error).message).toContain(sha256Digest(tampered.archive));
    expect((error as Error).message).toContain("chart 'web' version '1.2.0'");
  });

  it('refuses a signature by a key outside the keyring, naming the key', async () => {
    const error = await verifyProvenance(await makeProv(stranger), subject, keyring).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProvenanceError);
    expect((error as Error).message).toContain('not in the keyring');
    expect((error as Error).message).toContain(stranger.privateKey.getKeyID().toHex().toUpperCase());
  });

  it('refuses a signed text that was changed after signing', async () => {
    const prov = (await makeProv(trusted)).toString('utf8').replace('description: web', 'description: evil');
    await expect(verifyProvenance(Buffer.from(prov), subject, keyring)).rejects.toThrow(/does not verify/);
  });

  it('refuses a .prov naming another file', async () => {
    await expect(
      verifyProvenance(await makeProv(trusted, { file: 'other-1.2.0.tgz' }), subject, keyring),
    ).rejects.toThrow(/no sha256 for a file named 'web-1.2.0.tgz'/);
  });

  it('refuses a .prov signed for another chart or version', async () => {
    await expect(
      verifyProvenance(await makeProv(trusted, { version: '1.1.0' }), subject, keyring),
    ).rejects.toThrow(/signed for chart 'web' version '1.1.0'/);
    await expect(verifyProvenance(await makeProv(trusted, { name: 'db' }), subject, keyring)).rejects.toThrow(
      /signed for chart 'db'/,
    );
  });

  it('refuses garbage without echoing it', async () => {
    const garbage = Buffer.from('SECRET-LOOKING garbage\n...\nfiles: {}\n');
    const error = await verifyProvenance(garbage, subject, keyring).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProvenanceError);
    expect((error as Error).message).not.toContain('SECRET');
  });

  it('refuses a .prov over 1 MiB before parsing it', async () => {
    const huge = Buffer.alloc(2 * 1024 * 1024, 'a');
    expect(huge.length).toBeGreaterThan(MAX_PROVENANCE_BYTES);
    await expect(verifyProvenance(huge, subject, keyring)).rejects.toThrow(/larger than 1 MiB/);
  });
});

describe('readKeyring', () => {
  it('refuses what is not a keyring, and private keys', async () => {
    await expect(readKeyring(Buffer.from('not a key'), 'the Secret')).rejects.toBeInstanceOf(UserError);
    await expect(readKeyring(Buffer.from(trusted.privateKey.armor()), 'the Secret')).rejects.toThrow(
      /private key/,
    );
  });
});
