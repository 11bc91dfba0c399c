// The controller's side of the security chip (issue 6, items 1–4): measured start, and the
// answer to the region's host.attest.
//
// At controller start, before any component is forked:
//   PCR 0  ← the host configuration (listen address, requested port, mode, Node version)
//   PCR 7  ← the release key (signed mode only)
//   PCR 1–4 ← each component's bundle, verified with the release key (signed mode), or, in
//            dev mode, the digest of the working tree's dist/src files actually used
//            (unsigned: every component gets the same "dev" measurement, and host.status says so)
//   PCR 5  ← the QEMU binary (when installed)
//   PCR 6  ← each guest image (kernel, initrd, command line) the first time an
//            instance.start uses it in this controller's life
//
// The bank and its event log live in this process's memory for the controller's life. They
// are NOT persisted: a restarted controller measures again from zero (see docs/NITROTPM.md
// "Attestation"), since a log file the host can write proves nothing a fresh measurement
// does not. Guests that kept running across the restart are measured into PCR 6 again only
// when an image is next started.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { canonicalJson } from '../audit/chain.js';
import { distEntry, projectRoot } from '../lib/paths.js';
import { answerAttestation } from '../security-chip/host-attest.js';
import type { AttestReply } from '../security-chip/protocol/attest-wire.js';
import { measureBundle, measureGuestImage, measureHostConfig, measureQemu, measureReleaseKey } from '../security-chip/measure.js';
import { COMPONENT_NAMES, COMPONENT_PCR, PcrBank, type ComponentName } from '../security-chip/pcr.js';
import { verifyBundle, type VerifiedBundle } from '../security-chip/bundle.js';
import { isTestFile } from '../security-chip/bundle-sources.js';
import { ControllerError } from './errors.js';
import type { HostIdentity } from './host-state.js';

export interface MeasuredStartOptions {
  /** A directory holding one signed bundle per component: DIR/controller, DIR/hypervisor, DIR/ebs-card, DIR/vpc-card. */
  readonly bundlesDir?: string;
  /** The release public key (PEM) the bundles must verify with. */
  readonly releasePubKeyPem?: string;
  /** The host configuration measured into PCR 0. */
  readonly hostConfig: Record<string, unknown>;
  /** The QEMU binary to measure into PCR 5 (absent: not installed, not measured). */
  readonly qemuPath?: string;
}

/** Entry points (relative to dist/src) of the components the controller forks. */
export const COMPONENT_ENTRY: Readonly<Record<Exclude<ComponentName, 'controller'>, string>> = {
  hypervisor: 'hypervisor/main.js',
  'ebs-card': 'ebs/card/main.js',
  'vpc-card': 'vpc/main.js',
};

/** sha384 over the canonical list {path, sha384} of the non-test files under dist/src and package.json. */
export function devTreeDigest(root = projectRoot()): { digest: string; files: number } {
  const files: { path: string; sha384: string }[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const rel = relative(root, p).split('\\').join('/');
        if (isTestFile(rel)) continue;
        files.push({ path: rel, sha384: createHash('sha384').update(readFileSync(p)).digest('hex') });
      }
    }
  };
  walk(join(root, 'dist', 'src'));
  files.push({ path: 'package.json', sha384: createHash('sha384').update(readFileSync(join(root, 'package.json'))).digest('hex') });
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { digest: createHash('sha384').update(canonicalJson({ kind: 'nitride-dev-tree-v1', files })).digest('hex'), files: files.length };
}

export class HostSecurityChip {
  readonly bank = new PcrBank();
  private readonly bundles = new Map<ComponentName, VerifiedBundle>();
  private readonly measuredImages = new Set<string>();
  private devFiles = 0;

  private constructor(readonly mode: 'signed' | 'dev') {}

  /**
   * Measured start. In signed mode every bundle is verified before anything is measured or
   * forked; a failure throws the SecurityChipError (BundleSignatureInvalid, BundleFileMismatch
   * {file}, …) and the controller refuses to start.
   */
  static async measuredStart(o: MeasuredStartOptions): Promise<HostSecurityChip> {
    if ((o.bundlesDir === undefined) !== (o.releasePubKeyPem === undefined)) {
      throw new ControllerError('InvalidParameter', 'invalid', '--bundles and --release-pubkey go together.');
    }
    const chip = new HostSecurityChip(o.bundlesDir !== undefined ? 'signed' : 'dev');
    const verified: VerifiedBundle[] = [];
    if (o.bundlesDir !== undefined && o.releasePubKeyPem !== undefined) {
      for (const name of COMPONENT_NAMES) {
        const b = await verifyBundle(join(o.bundlesDir, name), o.releasePubKeyPem, { expectName: name });
        if (name !== 'controller') {
          const entry = join(b.dir, 'dist', 'src', COMPONENT_ENTRY[name]);
          if (!b.manifest.files.some((f) => f.path === `dist/src/${COMPONENT_ENTRY[name]}`)) {
            throw new ControllerError('BundleEntryMissing', 'invalid', `The ${name} bundle has no entry point dist/src/${COMPONENT_ENTRY[name]}.`, { bundle: b.dir, file: entry });
          }
        }
        verified.push(b);
      }
    }
    measureHostConfig(chip.bank, { ...o.hostConfig, mode: chip.mode });
    if (chip.mode === 'signed') {
      measureReleaseKey(chip.bank, (verified[0] as VerifiedBundle).releaseKeyDigest);
      for (const b of verified) {
        measureBundle(chip.bank, b);
        chip.bundles.set(b.manifest.name, b);
      }
    } else {
      const dev = devTreeDigest();
      chip.devFiles = dev.files;
      for (const name of COMPONENT_NAMES) chip.bank.extend(COMPONENT_PCR[name], dev.digest, `dev (unsigned) ${name}: working tree dist/src, ${dev.files} files`);
    }
    if (o.qemuPath !== undefined && existsSync(o.qemuPath) && statSync(o.qemuPath).isFile()) await measureQemu(chip.bank, o.qemuPath);
    return chip;
  }

  /** The entry point to fork for a component: inside its verified bundle (signed mode) or the working tree's dist. */
  entryFor(name: Exclude<ComponentName, 'controller'>): string {
    const b = this.bundles.get(name);
    return b ? join(b.dir, 'dist', 'src', COMPONENT_ENTRY[name]) : distEntry(COMPONENT_ENTRY[name]);
  }

  /** PCR 6 ← a guest image, once per (kernel, initrd, cmdline) in this controller's life. */
  async measureGuestImage(image: { kernel: string; initrd: string; cmdline: string; kernelSha256: string; initrdSha256: string }): Promise<void> {
    const key = `${image.kernelSha256}:${image.initrdSha256}:${createHash('sha256').update(image.cmdline).digest('hex')}`;
    if (this.measuredImages.has(key)) return;
    this.measuredImages.add(key);
    try {
      await measureGuestImage(this.bank, { imageId: `kernel-sha256:${image.kernelSha256.slice(0, 16)}`, cmdline: image.cmdline, files: { kernel: image.kernel, initrd: image.initrd } });
    } catch (e) {
      this.measuredImages.delete(key); // unreadable now: the hypervisor refuses it anyway; measure on a later try
      throw e;
    }
  }

  /** The host.attest answer: a document signed by the host identity key the region certified at enrolment. */
  attest(identity: HostIdentity, params: unknown, ebsCardPublicKey: Buffer | undefined): AttestReply {
    const e = identity.enrolment;
    if (e === undefined) throw new ControllerError('NotEnrolled', 'unavailable', 'The host is not enrolled: it has no certified identity key to attest with.');
    return answerAttestation({ hostKeyPem: identity.keyPem, hostCertPem: e.certPem, caChainPem: [e.caPem], moduleId: identity.hostId }, this.bank, params, ebsCardPublicKey !== undefined ? { publicKey: ebsCardPublicKey } : {});
  }

  /** For host.status. */
  status(): Record<string, unknown> {
    const pcrs: Record<string, string> = {};
    for (const [i, v] of Object.entries(this.bank.toJSON())) if (!/^0+$/.test(v)) pcrs[i] = v;
    return {
      mode: this.mode,
      ...(this.mode === 'dev'
        ? { note: `unsigned development measurement of the working tree (${this.devFiles} files of dist/src); no release key verified these components` }
        : { bundles: [...this.bundles.values()].map((b) => ({ name: b.manifest.name, version: b.manifest.version, digest: b.digest })) }),
      pcrs,
      events: this.bank.events().length,
    };
  }
}
