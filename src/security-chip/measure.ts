// Measurements for measured start: what the security chip extends into each register before
// it launches a component. Each function returns the sha384 measurement (hex) it extended.
// The digest helpers (…Digest) are pure so a verifier can predict values without the files.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { canonicalJson } from '../audit/chain.js';
import type { VerifiedBundle } from './bundle.js';
import { COMPONENT_PCR, PCR, type PcrBank } from './pcr.js';

/** sha384 of a file's contents, streamed, lowercase hex. */
export function sha384File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha384');
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/** The host configuration's measurement: sha384 of its canonical JSON (keys sorted at every level). */
export function hostConfigDigest(config: unknown): string {
  return createHash('sha384').update(canonicalJson(config)).digest('hex');
}

/** A guest image as measured: its id, its command line and the sha384 of each of its files by role (kernel, initrd, disk…). */
export interface GuestImageMeasurement {
  readonly imageId: string;
  readonly cmdline?: string;
  readonly files: Readonly<Record<string, string>>; // role -> sha384 hex
}

export function guestImageDigest(m: GuestImageMeasurement): string {
  return createHash('sha384').update(canonicalJson({ imageId: m.imageId, cmdline: m.cmdline ?? null, files: m.files })).digest('hex');
}

/** PCR 0 ← the host configuration. */
export function measureHostConfig(bank: PcrBank, config: unknown): string {
  const d = hostConfigDigest(config);
  bank.extend(PCR.HOST_CONFIG, d, 'host configuration');
  return d;
}

/** PCR 1..4 (by component) ← the bundle's manifest digest. */
export function measureBundle(bank: PcrBank, b: VerifiedBundle): string {
  bank.extend(COMPONENT_PCR[b.manifest.name], b.digest, `bundle ${b.manifest.name} ${b.manifest.version}`);
  return b.digest;
}

/** PCR 7 ← sha384 of the release public key's SPKI DER (from VerifiedBundle.releaseKeyDigest). */
export function measureReleaseKey(bank: PcrBank, releaseKeyDigestHex: string): string {
  bank.extend(PCR.RELEASE_KEY, releaseKeyDigestHex, 'release key');
  return releaseKeyDigestHex;
}

/** Any register ← sha384 of a file (e.g. the QEMU binary into PCR 5). */
export async function measureFile(bank: PcrBank, index: number, path: string, description = `file ${path}`): Promise<string> {
  const d = await sha384File(path);
  bank.extend(index, d, description);
  return d;
}

/** PCR 5 ← the QEMU binary. */
export function measureQemu(bank: PcrBank, qemuPath: string): Promise<string> {
  return measureFile(bank, PCR.QEMU, qemuPath, `qemu ${qemuPath}`);
}

/** PCR 6 ← a guest image: its files (role -> path) are hashed, then the canonical description. */
/** PCR 6 ← a guest image whose files' sha384 digests are already known (one read, by the hypervisor). */
export function measureGuestImageDigests(bank: PcrBank, image: { imageId: string; cmdline?: string; files: Readonly<Record<string, string>> }): string {
  const d = guestImageDigest(image);
  bank.extend(PCR.GUEST_IMAGE, d, `guest image ${image.imageId}`);
  return d;
}

export async function measureGuestImage(bank: PcrBank, image: { imageId: string; cmdline?: string; files: Readonly<Record<string, string>> }): Promise<string> {
  const files: Record<string, string> = {};
  for (const [role, path] of Object.entries(image.files)) files[role] = await sha384File(path);
  return measureGuestImageDigests(bank, { imageId: image.imageId, ...(image.cmdline !== undefined ? { cmdline: image.cmdline } : {}), files });
}
