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
//            instance.start uses it in this controller's life; for an instance that boots
//            from its EBS root volume, the firmware file QEMU loads (SeaBIOS or OVMF code),
//            once per file: the volume's content is ciphertext to the host and is not
//            measured here (docs/NITROTPM.md "Root-volume instances")
//
// The bank and its event log live in this process's memory for the controller's life. They
// are NOT persisted: a restarted controller measures again from zero (see docs/NITROTPM.md
// "Attestation"), since a log file the host can write proves nothing a fresh measurement
// does not. Guests that kept running across the restart are measured into PCR 6 again only
// when an image is next started.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { canonicalJson } from '../audit/chain.js';
import { distEntry, projectRoot } from '../lib/paths.js';
import { answerAttestation } from '../security-chip/attestation-exchange.js';
import type { AttestReply } from '../security-chip/protocol/attest-wire.js';
import { measureBundle, measureGuestImageDigests, measureHostConfig, measureQemu, measureReleaseKey, sha384File } from '../security-chip/measure.js';
import { COMPONENT_NAMES, COMPONENT_PCR, PcrBank, type ComponentName } from '../security-chip/pcr.js';
import { verifyBundle, type VerifiedBundle } from '../security-chip/bundle.js';
import { isTestFile } from '../security-chip/bundle-sources.js';
import { ControllerError } from './errors.js';
import type { ComponentVersion, SecurityChipStatus } from './protocol/commands.js';
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
  /**
   * Signed mode: the file recording which bundle each component runs after live updates
   * ($NITRIDE_HOME/host/components.json). When it was written for the same --bundles DIR, each
   * component starts from its recorded current bundle (verified again), so a restarted
   * controller keeps the updated versions; for another DIR it starts afresh from DIR.
   */
  readonly recordPath?: string;
}

/** One bundle a component ran or runs. */
export interface BundleRef {
  readonly dir: string;
  readonly version: string;
  readonly digest: string;
  readonly since: string;
}

/** $NITRIDE_HOME/host/components.json: the current bundle of each component and the ones it ran before (newest last). */
export interface ComponentRecord {
  readonly v: 1;
  readonly bundlesDir: string;
  readonly components: Partial<Record<ComponentName, { readonly current: BundleRef; readonly history: readonly BundleRef[] }>>;
}

/** At most this many earlier bundles are remembered per component. */
const HISTORY_MAX = 8;

export function readComponentRecord(path: string): ComponentRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(path, 'utf8')) as ComponentRecord;
    return r && r.v === 1 && typeof r.bundlesDir === 'string' && typeof r.components === 'object' && r.components !== null ? r : undefined;
  } catch {
    return undefined;
  }
}

function writeComponentRecord(path: string, r: ComponentRecord): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(r, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

const refOf = (b: VerifiedBundle): BundleRef => ({ dir: b.dir, version: b.manifest.version, digest: b.digest, since: new Date().toISOString() });

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

/** The entry point inside a verified bundle of a forked component. */
export function bundleEntry(b: VerifiedBundle): string {
  const name = b.manifest.name;
  if (name === 'controller') return join(b.dir, 'dist', 'src', 'controller', 'main.js');
  return join(b.dir, 'dist', 'src', COMPONENT_ENTRY[name]);
}

/** A non-controller bundle must hold its component's entry point (BundleEntryMissing otherwise). */
function checkEntry(b: VerifiedBundle): void {
  const name = b.manifest.name;
  if (name === 'controller') return;
  if (!b.manifest.files.some((f) => f.path === `dist/src/${COMPONENT_ENTRY[name]}`)) {
    throw new ControllerError('BundleEntryMissing', 'invalid', `The ${name} bundle has no entry point dist/src/${COMPONENT_ENTRY[name]}.`, { bundle: b.dir, file: `dist/src/${COMPONENT_ENTRY[name]}` });
  }
}

export class HostSecurityChip {
  readonly bank = new PcrBank();
  private readonly bundles = new Map<ComponentName, VerifiedBundle>();
  private readonly measuredImages = new Set<string>();
  private devFiles = 0;
  /** Dev mode: the working-tree digest each component's register last measured. */
  private readonly devMeasured = new Map<ComponentName, string>();
  /** Signed mode: components whose bundle failed its check before a fork (a marker is in their register). */
  private readonly failedCheck = new Set<ComponentName>();
  private releasePubKeyPem: string | undefined;
  private recordPath: string | undefined;
  private record: ComponentRecord | undefined;

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
      chip.releasePubKeyPem = o.releasePubKeyPem;
      const base = resolve(o.bundlesDir);
      const prior = o.recordPath !== undefined ? readComponentRecord(o.recordPath) : undefined;
      const same = prior !== undefined && prior.bundlesDir === base ? prior : undefined;
      for (const name of COMPONENT_NAMES) {
        const dir = same?.components[name]?.current.dir ?? join(base, name);
        const b = await verifyBundle(dir, o.releasePubKeyPem, { expectName: name });
        checkEntry(b);
        verified.push(b);
      }
      const components: Record<string, { current: BundleRef; history: readonly BundleRef[] }> = {};
      for (const b of verified) components[b.manifest.name] = { current: refOf(b), history: same?.components[b.manifest.name]?.history ?? [] };
      chip.record = { v: 1, bundlesDir: base, components };
      if (o.recordPath !== undefined) {
        chip.recordPath = o.recordPath;
        writeComponentRecord(o.recordPath, chip.record);
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
      for (const name of COMPONENT_NAMES) {
        chip.bank.extend(COMPONENT_PCR[name], dev.digest, `dev (unsigned) ${name}: working tree dist/src, ${dev.files} files`);
        chip.devMeasured.set(name, dev.digest);
      }
    }
    if (o.qemuPath !== undefined && existsSync(o.qemuPath) && statSync(o.qemuPath).isFile()) await measureQemu(chip.bank, o.qemuPath);
    return chip;
  }

  /**
   * Live update, step 1: verifies the bundle in `dir` with the host's release key as the
   * `name` component (BundleWrongComponent for another one; BundleFileMismatch {file} for an
   * edited file; BundleSignatureInvalid for another key). Nothing is measured or changed.
   * Dev mode has no release key: UpdateNeedsSignedMode.
   */
  async verifyUpdate(name: ComponentName, dir: string): Promise<VerifiedBundle> {
    const key = this.requireSignedMode();
    const b = await verifyBundle(dir, key, { expectName: name });
    checkEntry(b);
    return b;
  }

  /** The release key, or UpdateNeedsSignedMode in dev mode. */
  requireSignedMode(): string {
    if (this.mode !== 'signed' || this.releasePubKeyPem === undefined) {
      throw new ControllerError(
        'UpdateNeedsSignedMode',
        'conflict',
        'This controller runs in dev mode (no --bundles/--release-pubkey): no release key can verify a bundle, so components cannot be updated. Start the controller in signed mode.',
        { mode: this.mode },
      );
    }
    return this.releasePubKeyPem;
  }

  /** The bundle a component runs now (signed mode). */
  currentBundle(name: ComponentName): VerifiedBundle | undefined {
    return this.bundles.get(name);
  }

  /** The bundle a component ran before its last update (what a rollback goes back to). */
  previousBundle(name: ComponentName): BundleRef | undefined {
    const h = this.record?.components[name]?.history ?? [];
    return h[h.length - 1];
  }

  /**
   * Live update, step 2 (before the new version starts): extends the component's register
   * with the new bundle's measurement; the event names the version. Returns the event.
   */
  measureUpdate(b: VerifiedBundle, kind: 'update' | 'rollback'): { pcrIndex: number; digest: string; description: string } {
    const description = `bundle ${b.manifest.name} ${b.manifest.version} (live ${kind})`;
    this.bank.extend(COMPONENT_PCR[b.manifest.name], b.digest, description);
    return { pcrIndex: COMPONENT_PCR[b.manifest.name], digest: b.digest, description };
  }

  /**
   * A measured update whose start failed: the old version keeps running, so its measurement
   * is extended again and the register's latest event names what runs.
   */
  measureStillRunning(name: ComponentName): void {
    const cur = this.bundles.get(name);
    if (cur) this.bank.extend(COMPONENT_PCR[name], cur.digest, `bundle ${name} ${cur.manifest.version} (update failed; still running)`);
  }

  /** Live update, step 3 (the new version runs): records it; an update pushes the old one on the history, a rollback pops it. */
  commitUpdate(b: VerifiedBundle, kind: 'update' | 'rollback'): void {
    const name = b.manifest.name;
    const old = this.bundles.get(name);
    this.bundles.set(name, b);
    if (this.record === undefined) return;
    const entry = this.record.components[name];
    let history = [...(entry?.history ?? [])];
    if (kind === 'rollback') history = history.slice(0, -1);
    else if (old) history = [...history, entry?.current ?? refOf(old)].slice(-HISTORY_MAX);
    this.record = { ...this.record, components: { ...this.record.components, [name]: { current: refOf(b), history } } };
    if (this.recordPath !== undefined) writeComponentRecord(this.recordPath, this.record);
  }

  /** The component record as it is now (to restore after a failed controller update). */
  recordSnapshot(): ComponentRecord | undefined {
    return this.record;
  }

  /** Puts a snapshot back (file too) and the bundle that runs for its component. */
  restoreRecord(r: ComponentRecord | undefined, running: VerifiedBundle | undefined): void {
    this.record = r;
    if (running) this.bundles.set(running.manifest.name, running);
    if (r !== undefined && this.recordPath !== undefined) writeComponentRecord(this.recordPath, r);
  }

  /** For host.status: per component, the bundle it runs and the one a rollback would return to. */
  versions(): Record<string, ComponentVersion> {
    const out: Record<string, ComponentVersion> = {};
    for (const name of COMPONENT_NAMES) {
      const b = this.bundles.get(name);
      const prev = this.previousBundle(name);
      out[name] = b
        ? { version: b.manifest.version, digest: b.digest, dir: b.dir, since: this.record?.components[name]?.current.since ?? null, previous: prev ? { version: prev.version, digest: prev.digest, dir: prev.dir } : null }
        : { version: 'dev', digest: null, dir: null, since: null, previous: null };
    }
    return out;
  }

  /**
   * Before every fork of a component by its supervisor (first start, crash restart, operator
   * restart): the code about to run is measured again, so a file changed on disk after the
   * measured start cannot run under the old measurement (a root-on-host edit followed by a
   * kill of the component, which the supervisor restarts).
   *   - dev mode: the working tree's digest; when it differs from the component's latest
   *     measurement it is extended into the component's register (the region's next fresh
   *     attestation sees the change: AttestationPcrMismatch under trust on first attestation
   *     or a dev-local policy).
   *   - signed mode: when `entry` is the current bundle's entry point, every file of that
   *     bundle is checked against its signed manifest (size and sha384). A file that differs
   *     extends the register with a marker naming it and throws BundleFileMismatch: the
   *     component is not forked. When the bundle verifies again, its digest is extended again
   *     so the latest measurement is what runs. Another entry is a live update's next bundle,
   *     which the update verified and measured just before (verifyUpdate, measureUpdate).
   * Synchronous (the supervisor forks synchronously); a few tens of ms for this tree.
   */
  measureBeforeFork(name: Exclude<ComponentName, 'controller'>, entry: string = this.entryFor(name)): void {
    const pcr = COMPONENT_PCR[name];
    if (this.mode === 'dev') {
      const dev = devTreeDigest();
      if (this.devMeasured.get(name) === dev.digest) return;
      this.bank.extend(pcr, dev.digest, `dev (unsigned) ${name} restarted: working tree dist/src changed, ${dev.files} files`);
      this.devMeasured.set(name, dev.digest);
      return;
    }
    const b = this.bundles.get(name);
    if (b === undefined || resolve(entry) !== resolve(bundleEntry(b))) return;
    for (const f of b.manifest.files) {
      let data: Buffer | undefined;
      try {
        data = readFileSync(join(b.dir, f.path));
      } catch {
        data = undefined;
      }
      if (data !== undefined && data.length === f.size && createHash('sha384').update(data).digest('hex') === f.sha384) continue;
      if (!this.failedCheck.has(name)) {
        this.bank.extend(pcr, createHash('sha384').update(`nitride-bundle-check-failed:${b.digest}:${f.path}`).digest('hex'), `bundle ${name} ${b.manifest.version} failed its check before a restart: ${f.path} differs; not started`);
        this.failedCheck.add(name);
      }
      throw new ControllerError('BundleFileMismatch', 'invalid', `The ${name} bundle's file ${f.path} no longer matches its signed manifest; the component is not started.`, { bundle: b.dir, file: f.path });
    }
    if (this.failedCheck.delete(name)) this.bank.extend(pcr, b.digest, `bundle ${name} ${b.manifest.version} (verified again before a restart)`);
  }

  /** The entry point to fork for a component: inside its verified bundle (signed mode) or the working tree's dist. */
  entryFor(name: Exclude<ComponentName, 'controller'>): string {
    const b = this.bundles.get(name);
    return b ? join(b.dir, 'dist', 'src', COMPONENT_ENTRY[name]) : distEntry(COMPONENT_ENTRY[name]);
  }

  /**
   * PCR 6 ← a guest image, once per (kernel, initrd, cmdline) in this controller's life. The
   * files' sha384 digests come from `digests` (the hypervisor's image.digest: the same single
   * read that checks their sha256), so a start reads each file once.
   */
  async measureGuestImage(image: { cmdline: string; kernelSha256: string; initrdSha256: string }, digests: () => Promise<{ kernel: { sha384: string }; initrd: { sha384: string } }>): Promise<void> {
    const key = `${image.kernelSha256}:${image.initrdSha256}:${createHash('sha256').update(image.cmdline).digest('hex')}`;
    if (this.measuredImages.has(key)) return;
    this.measuredImages.add(key);
    try {
      const d = await digests();
      measureGuestImageDigests(this.bank, { imageId: `kernel-sha256:${image.kernelSha256.slice(0, 16)}`, cmdline: image.cmdline, files: { kernel: d.kernel.sha384, initrd: d.initrd.sha384 } });
    } catch (e) {
      this.measuredImages.delete(key); // unreadable now: the hypervisor refuses it anyway; measure on a later try
      throw e;
    }
  }

  /**
   * PCR 6 ← the firmware a root-volume instance boots through (SeaBIOS, or OVMF's code),
   * once per file (path, size, mtime) in this controller's life: the host reads this file and
   * QEMU loads exactly it (`-bios` / the read-only pflash). The event is a guest image whose one
   * file is the firmware, `firmware:<legacy-bios|uefi>`, so a verifier replays it as any other.
   */
  async measureBootFirmware(firmware: 'legacy-bios' | 'uefi', path: string): Promise<void> {
    const st = statSync(path);
    const key = `firmware:${firmware}:${path}:${st.size}:${st.mtimeMs}`;
    if (this.measuredImages.has(key)) return;
    this.measuredImages.add(key);
    try {
      measureGuestImageDigests(this.bank, { imageId: `firmware:${firmware}`, files: { firmware: await sha384File(path) } });
    } catch (e) {
      this.measuredImages.delete(key);
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
  status(): SecurityChipStatus {
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
