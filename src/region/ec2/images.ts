// Machine images. Nitride's images are a kernel plus an initramfs (with a command
// line), each pinned by sha256. The built-in `nitride-minimal` is public, owned by the
// region; RegisterImage adds private images from a local directory.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { extractVmlinux, hasPvhNote } from '../../image/kernel.js';
import type { Collection } from '../repo.js';
import { Ec2Error } from '../protocol/errors.js';
import { newId } from '../ids.js';
import { compileFilterTable, opt, type Filter, type FilterTable } from './filters.js';
import type { ImageBlockDeviceMapping, ImageRecord } from './model.js';
import type { Caller } from './instances.js';
import type { BlockDeviceMappingRequest } from '../protocol/ec2/requests/index.js';
import type { SnapshotRecord } from './ebs/records.js';

/** Resolves a snapshot id the caller owns (throws EC2's InvalidSnapshot.NotFound / .Malformed). */
export type SnapshotOf = (snapshotId: string) => SnapshotRecord;

/** RegisterImage's EBS part (BlockDeviceMappings, RootDeviceName, BootMode, EnaSupport, TpmSupport). */
export interface EbsImageRequest {
  readonly name: string;
  readonly description: string | undefined;
  readonly architecture: string | undefined;
  readonly rootDeviceName: string | undefined;
  readonly blockDeviceMappings: readonly BlockDeviceMappingRequest[];
  readonly bootMode: string | undefined;
  readonly enaSupport: boolean | undefined;
  readonly tpmSupport: string | undefined;
}

const DEVICE_NAME_RE = /^\/dev\/(sd[a-z]{1,2}[0-9]{0,2}|xvd[a-z]{1,2}[0-9]{0,2}|nvme[0-9]{1,2}n[0-9]{1,2})$/;
const EBS_VOLUME_TYPES = new Set(['standard', 'gp2', 'gp3', 'io1', 'io2', 'st1', 'sc1']);

/** The account that owns public built-in images (shown with the owner alias "amazon"). */
export const BUILTIN_OWNER = '000000000000';
export const BUILTIN_IMAGE_NAME = 'nitride-minimal';

export interface BuiltinImage {
  readonly kernel: { readonly path: string; readonly sha256: string };
  readonly initrd: { readonly path: string; readonly sha256: string };
  readonly cmdline: string;
  readonly kernelVersion: string;
  readonly version: string;
}

const IMAGE_FILTERS: FilterTable<ImageRecord> = {
  'image-id': (i) => [i.id],
  name: (i) => [i.name],
  'owner-id': (i) => [i.ownerId],
  state: (i) => [i.state],
  architecture: (i) => [i.architecture],
  'is-public': (i) => [String(i.public)],
  'image-type': () => ['machine'],
  'owner-alias': (i) => (i.ownerId === BUILTIN_OWNER ? ['amazon'] : []),
  description: (i) => [i.description],
  'tpm-support': (i) => opt(i.tpmSupport),
  'root-device-type': (i) => [i.rootDeviceType ?? 'instance-store'],
  'root-device-name': (i) => opt(i.rootDeviceName),
  'boot-mode': (i) => opt(i.bootMode),
  'block-device-mapping.snapshot-id': (i) => (i.blockDeviceMappings ?? []).flatMap((m) => opt(m.ebs?.snapshotId)),
  'block-device-mapping.device-name': (i) => (i.blockDeviceMappings ?? []).map((m) => m.deviceName),
  'block-device-mapping.encrypted': (i) => (i.blockDeviceMappings ?? []).flatMap((m) => (m.ebs ? [String(m.ebs.encrypted)] : [])),
  'ena-support': (i) => [String(i.enaSupport ?? false)],
};

/**
 * The mappings of an EBS-backed image, checked as EC2 checks them: device names, one mapping
 * per device, the root device mapped to a completed snapshot the caller owns, sizes no smaller
 * than the snapshot, ephemeral virtual names. Encryption and the KMS key come from the snapshot.
 */
export function ebsImageMappings(rootDeviceName: string, req: readonly BlockDeviceMappingRequest[], snapshotOf: SnapshotOf): ImageBlockDeviceMapping[] {
  const seen = new Set<string>();
  const out: ImageBlockDeviceMapping[] = [];
  for (const m of req) {
    if (!DEVICE_NAME_RE.test(m.deviceName)) throw new Ec2Error('InvalidBlockDeviceMapping', `Invalid device name ${m.deviceName}.`, { context: { deviceName: m.deviceName } });
    if (seen.has(m.deviceName)) throw new Ec2Error('InvalidBlockDeviceMapping', `The device ${m.deviceName} is mapped more than once.`, { context: { deviceName: m.deviceName } });
    seen.add(m.deviceName);
    if (m.noDevice) {
      out.push({ deviceName: m.deviceName, noDevice: true });
      continue;
    }
    if (m.virtualName !== undefined) {
      if (!/^ephemeral([0-9]|1[0-9]|2[0-3])$/.test(m.virtualName)) throw new Ec2Error('InvalidBlockDeviceMapping', `Invalid virtual name ${m.virtualName} (ephemeral0 … ephemeral23).`);
      if (m.deviceName === rootDeviceName) throw new Ec2Error('InvalidBlockDeviceMapping', `The root device ${rootDeviceName} must be an EBS volume.`);
      out.push({ deviceName: m.deviceName, virtualName: m.virtualName });
      continue;
    }
    const e = m.ebs;
    if (!e) throw new Ec2Error('InvalidBlockDeviceMapping', `The mapping for ${m.deviceName} needs Ebs, VirtualName or NoDevice.`);
    const snap = e.snapshotId !== undefined ? snapshotOf(e.snapshotId) : undefined;
    if (snap && snap.state !== 'completed') throw new Ec2Error('IncorrectState', `Snapshot '${snap.id}' is ${snap.state}; an image needs completed snapshots.`, { context: { snapshotId: snap.id, state: snap.state } });
    const volumeType = e.volumeType ?? 'gp2';
    if (!EBS_VOLUME_TYPES.has(volumeType)) throw new Ec2Error('InvalidParameterValue', `Invalid volume type: ${volumeType}`);
    const volumeSize = e.volumeSize ?? snap?.volumeSize;
    if (volumeSize === undefined) throw new Ec2Error('InvalidBlockDeviceMapping', `The mapping for ${m.deviceName} needs a SnapshotId or a VolumeSize.`);
    if (snap && volumeSize < snap.volumeSize) {
      throw new Ec2Error('InvalidBlockDeviceMapping', `Volume of ${volumeSize}GiB is smaller than snapshot '${snap.id}', expect size >= ${snap.volumeSize}GiB`, { context: { deviceName: m.deviceName } });
    }
    if ((volumeType === 'io1' || volumeType === 'io2') && e.iops === undefined) throw new Ec2Error('InvalidBlockDeviceMapping', `The parameter iops must be specified for ${volumeType} volumes.`);
    if (snap && e.encrypted === false && snap.encrypted) throw new Ec2Error('InvalidBlockDeviceMapping', `Snapshot '${snap.id}' is encrypted; its mapping cannot be unencrypted.`);
    const encrypted = snap ? snap.encrypted : e.encrypted === true;
    const kmsKeyId = snap ? snap.kmsKeyArn : e.kmsKeyId;
    out.push({
      deviceName: m.deviceName,
      ebs: {
        snapshotId: snap?.id,
        volumeSize,
        volumeType,
        deleteOnTermination: e.deleteOnTermination ?? true,
        encrypted,
        ...(kmsKeyId !== undefined ? { kmsKeyId } : {}),
        ...(e.iops !== undefined ? { iops: e.iops } : volumeType === 'gp3' ? { iops: 3000 } : {}),
        ...(e.throughput !== undefined ? { throughput: e.throughput } : volumeType === 'gp3' ? { throughput: 125 } : {}),
      },
    });
  }
  const root = out.find((m) => m.deviceName === rootDeviceName);
  if (!root?.ebs?.snapshotId) throw new Ec2Error('InvalidBlockDeviceMapping', `The root device ${rootDeviceName} must be mapped to an EBS snapshot.`, { context: { rootDeviceName } });
  return out;
}

const sha256File = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/**
 * The kernel a NitroTPM image boots. A TPM guest must boot the bzImage through the firmware:
 * with the PVH direct boot of an uncompressed vmlinux the guest's ACPI tables come out garbled
 * once a TPM device is present and the kernel finds no TPM (docs/NITROTPM.md). So for a
 * nitride image whose kernel is the PVH vmlinux, this is the bzImage it was extracted from
 * (/boot/vmlinuz-<kernelVersion>), accepted only when extracting it again gives exactly the
 * registered vmlinux; any other PVH ELF kernel is refused.
 */
function tpmKernel(kernelPath: string, manifestKernelVersion: string | undefined, loc: string): string {
  const head = readFileSync(kernelPath).subarray(0, 4);
  if (head.toString('latin1') !== '\x7fELF') return kernelPath; // already a bzImage
  const bz = manifestKernelVersion !== undefined && /^[A-Za-z0-9._+-]+$/.test(manifestKernelVersion) ? join('/boot', `vmlinuz-${manifestKernelVersion}`) : undefined;
  const refuse = (why: string): Ec2Error =>
    new Ec2Error('InvalidParameterValue', `Invalid value '${loc}' for ImageLocation: TpmSupport v2.0 needs a bzImage kernel (${why}).`, { context: { imageLocation: loc, kernel: kernelPath } });
  if (bz === undefined || !existsSync(bz)) throw refuse('the kernel is a PVH vmlinux and the bzImage it came from is not installed');
  let same = false;
  try {
    const vmlinux = extractVmlinux(readFileSync(bz));
    same = hasPvhNote(vmlinux) && createHash('sha256').update(vmlinux).digest('hex') === sha256File(kernelPath);
  } catch (e) {
    throw new Ec2Error('InvalidParameterValue', `Invalid value '${loc}' for ImageLocation: the bzImage ${bz} could not be checked against the image's vmlinux.`, { context: { imageLocation: loc, bzImage: bz }, cause: e });
  }
  if (!same) throw refuse(`${bz} is not the bzImage the image's vmlinux was extracted from`);
  return bz;
}

export class ImageService {
  constructor(
    private readonly images: Collection<ImageRecord>,
    private readonly now: () => Date = () => new Date(),
    private readonly o: {
      /**
       * The operator's account: the only one that may register an image from an ImageLocation,
       * a path on the region's own machine. Absent (unit tests): every caller may.
       */
      readonly operatorAccountId?: string;
    } = {},
  ) {}

  /** The id of the built-in image is stable across restarts and homes. */
  static builtinId(): string {
    return `ami-${createHash('sha256').update(BUILTIN_IMAGE_NAME).digest('hex').slice(0, 17)}`;
  }

  /** Registers (or refreshes, when the image was rebuilt) the built-in image. */
  async ensureBuiltin(img: BuiltinImage): Promise<ImageRecord> {
    const id = ImageService.builtinId();
    const cur = this.images.get(id);
    if (cur && cur.kernel?.sha256 === img.kernel.sha256 && cur.initrd?.sha256 === img.initrd.sha256 && cur.cmdline === img.cmdline && cur.kernel.path === img.kernel.path) return cur;
    const rec: ImageRecord = {
      id,
      name: BUILTIN_IMAGE_NAME,
      description: `Nitride minimal guest: Debian cloud kernel ${img.kernelVersion}, busybox userland (image ${img.version})`,
      ownerId: BUILTIN_OWNER,
      public: true,
      state: 'available',
      creationDate: cur?.creationDate ?? this.now().toISOString(),
      architecture: 'x86_64',
      kernel: img.kernel,
      initrd: img.initrd,
      cmdline: img.cmdline,
      tpmSupport: undefined,
      bootMode: undefined,
      tags: cur?.tags ?? {},
      rootDeviceType: 'instance-store',
      blockDeviceMappings: [],
      enaSupport: false,
    };
    await this.images.put(rec);
    return rec;
  }

  visibleTo(caller: Caller, i: ImageRecord): boolean {
    return i.state !== 'deregistered' && (i.public || i.ownerId === caller.accountId);
  }

  describe(caller: Caller, q: { imageIds: readonly string[]; owners: readonly string[]; filters: readonly Filter[] }): ImageRecord[] {
    const match = compileFilterTable(q.filters, IMAGE_FILTERS, (i) => i.tags);
    let base: ImageRecord[];
    if (q.imageIds.length > 0) {
      const missing = q.imageIds.filter((id) => {
        const i = this.images.get(id);
        return !i || !this.visibleTo(caller, i);
      });
      if (missing.length > 0) {
        throw new Ec2Error('InvalidAMIID.NotFound', `The image id '[${missing.join(', ')}]' does not exist`, { context: { imageIds: missing } });
      }
      base = q.imageIds.map((id) => this.images.get(id)!);
    } else {
      base = this.images.all().filter((i) => this.visibleTo(caller, i));
    }
    if (q.owners.length > 0) {
      base = base.filter((i) =>
        q.owners.some((o) => (o === 'self' ? i.ownerId === caller.accountId : o === 'amazon' ? i.ownerId === BUILTIN_OWNER : o === i.ownerId)),
      );
    }
    return base.filter(match);
  }

  /**
   * RegisterImage from a local directory (ImageLocation) holding a kernel (vmlinux or
   * vmlinuz) and an initramfs (initrd.img), or a manifest.json written by `nitride image`.
   */
  async register(
    caller: Caller,
    req: { name: string; description: string | undefined; imageLocation: string | undefined; tpmSupport: string | undefined; bootMode: string | undefined; cmdline?: string | undefined },
    defaultCmdline: string,
  ): Promise<ImageRecord> {
    if (!/^[a-zA-Z0-9().\-/_ ]{3,128}$/.test(req.name)) {
      throw new Ec2Error('InvalidAMIName.Malformed', `AMI names must be between 3 and 128 characters long, and may contain letters, numbers, '(', ')', '.', '-', '/' and '_'`, { context: { name: req.name } });
    }
    const dup = this.images.all().find((i) => i.ownerId === caller.accountId && i.name === req.name && i.state !== 'deregistered');
    if (dup) {
      throw new Ec2Error('InvalidAMIName.Duplicate', `AMI name ${req.name} is already in use by AMI ${dup.id}`, { context: { name: req.name } });
    }
    if (req.tpmSupport !== undefined && req.tpmSupport !== 'v2.0') {
      throw new Ec2Error('InvalidParameterValue', `Invalid value '${req.tpmSupport}' for TpmSupport.`);
    }
    const loc = req.imageLocation;
    if (loc === undefined || loc === '') {
      throw new Ec2Error('MissingParameter', 'The request must contain the parameter ImageLocation (a directory with a kernel and an initrd.img).');
    }
    // Before the path is looked at: a tenant must learn nothing about the region's files.
    if (this.o.operatorAccountId !== undefined && caller.accountId !== this.o.operatorAccountId) {
      throw new Ec2Error(
        'UnauthorizedOperation',
        "You are not authorized to perform this operation. ImageLocation names a directory on the region's machine; only the operator's account registers images from it. Register an EBS-backed image (nitride image import) instead.",
      );
    }
    const dir = loc.startsWith('file://') ? loc.slice('file://'.length) : loc;
    let kernelPath: string | undefined;
    let initrdPath: string | undefined;
    let cmdline = req.cmdline ?? defaultCmdline;
    let kernelVersion: string | undefined;
    const manifestPath = dir.endsWith('.json') ? dir : join(dir, 'manifest.json');
    if (existsSync(manifestPath)) {
      try {
        const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as { kernel?: { path?: string }; initrd?: { path?: string }; cmdline?: string; kernelVersion?: unknown };
        kernelPath = m.kernel?.path;
        if (typeof m.kernelVersion === 'string') kernelVersion = m.kernelVersion;
        initrdPath = m.initrd?.path;
        if (typeof m.cmdline === 'string') cmdline = m.cmdline;
      } catch (e) {
        throw new Ec2Error('InvalidParameterValue', `The image manifest ${manifestPath} is not valid JSON.`, { cause: e });
      }
    } else {
      // A NitroTPM image prefers the bzImage (see tpmKernel).
      const names = req.tpmSupport === 'v2.0' ? ['vmlinuz', 'kernel', 'vmlinux'] : ['vmlinux', 'vmlinuz', 'kernel'];
      kernelPath = names.map((f) => join(dir, f)).find((p) => existsSync(p));
      initrdPath = ['initrd.img', 'initrd', 'initramfs.img'].map((f) => join(dir, f)).find((p) => existsSync(p));
    }
    for (const [what, p] of [
      ['kernel', kernelPath],
      ['initrd', initrdPath],
    ] as const) {
      if (p === undefined || !existsSync(p) || !statSync(p).isFile()) {
        throw new Ec2Error('InvalidParameterValue', `Invalid value '${loc}' for ImageLocation: no ${what} file found there.`, { context: { imageLocation: loc } });
      }
    }
    if (req.tpmSupport === 'v2.0') kernelPath = tpmKernel(kernelPath!, kernelVersion, loc);
    const rec: ImageRecord = {
      id: newId('ami'),
      name: req.name,
      description: req.description ?? '',
      ownerId: caller.accountId,
      public: false,
      state: 'available',
      creationDate: this.now().toISOString(),
      architecture: 'x86_64',
      kernel: { path: kernelPath!, sha256: sha256File(kernelPath!) },
      initrd: { path: initrdPath!, sha256: sha256File(initrdPath!) },
      cmdline,
      tpmSupport: req.tpmSupport === 'v2.0' ? 'v2.0' : undefined,
      bootMode: req.bootMode === 'uefi' || req.bootMode === 'legacy-bios' ? req.bootMode : undefined,
      tags: {},
      rootDeviceType: 'instance-store',
      blockDeviceMappings: [],
      enaSupport: false,
    };
    await this.images.put(rec);
    return rec;
  }

  /**
   * RegisterImage of an EBS-backed image: a root snapshot plus mappings (no ImageLocation).
   * BootMode legacy-bios or uefi; TpmSupport v2.0 needs uefi, as in EC2.
   */
  async registerEbs(caller: Caller, req: EbsImageRequest, snapshotOf: SnapshotOf, opts: { id?: string } = {}): Promise<ImageRecord> {
    this.checkName(caller, req.name);
    if (req.architecture !== undefined && req.architecture !== 'x86_64') throw new Ec2Error('InvalidParameterValue', `Invalid value '${req.architecture}' for Architecture: this region runs x86_64 only.`);
    const root = req.rootDeviceName;
    if (root === undefined || root === '') throw new Ec2Error('MissingParameter', 'The request must contain the parameter RootDeviceName.');
    if (req.bootMode !== undefined && req.bootMode !== 'legacy-bios' && req.bootMode !== 'uefi') {
      throw new Ec2Error('InvalidParameterValue', `Invalid value '${req.bootMode}' for BootMode: legacy-bios or uefi.`);
    }
    if (req.tpmSupport !== undefined && req.tpmSupport !== 'v2.0') throw new Ec2Error('InvalidParameterValue', `Invalid value '${req.tpmSupport}' for TpmSupport.`);
    if (req.tpmSupport === 'v2.0' && req.bootMode !== 'uefi') throw new Ec2Error('InvalidParameterCombination', 'TpmSupport v2.0 requires BootMode uefi.');
    const mappings = ebsImageMappings(root, req.blockDeviceMappings, snapshotOf);
    const rec: ImageRecord = {
      id: opts.id ?? newId('ami'),
      name: req.name,
      description: req.description ?? '',
      ownerId: caller.accountId,
      public: false,
      state: 'available',
      creationDate: this.now().toISOString(),
      architecture: 'x86_64',
      cmdline: '',
      tpmSupport: req.tpmSupport === 'v2.0' ? 'v2.0' : undefined,
      bootMode: req.bootMode === 'uefi' || req.bootMode === 'legacy-bios' ? req.bootMode : undefined,
      tags: {},
      rootDeviceType: 'ebs',
      rootDeviceName: root,
      blockDeviceMappings: mappings,
      enaSupport: req.enaSupport ?? false,
    };
    await this.images.put(rec);
    return rec;
  }

  /** An image the caller may launch or copy (its own or a public one); EC2's NotFound otherwise. */
  visible(caller: Caller, imageId: string): ImageRecord {
    const i = this.images.get(imageId);
    if (!i || !this.visibleTo(caller, i)) throw new Ec2Error('InvalidAMIID.NotFound', `The image id '[${imageId}]' does not exist`, { context: { imageId } });
    return i;
  }

  /** A fresh image id (CreateImage and CopyImage name the new snapshots after it before it exists). */
  static newImageId(): string {
    return newId('ami');
  }

  /** CopyImage of an instance-store image: the same kernel and initramfs under a new id and name. */
  async copyRecord(caller: Caller, src: ImageRecord, name: string, description: string | undefined, id: string): Promise<ImageRecord> {
    this.checkName(caller, name);
    const rec: ImageRecord = { ...src, id, name, description: description ?? src.description, ownerId: caller.accountId, public: false, creationDate: this.now().toISOString(), tags: {} };
    await this.images.put(rec);
    return rec;
  }

  private checkName(caller: Caller, name: string): void {
    if (!/^[a-zA-Z0-9().\-/_ ]{3,128}$/.test(name)) {
      throw new Ec2Error('InvalidAMIName.Malformed', `AMI names must be between 3 and 128 characters long, and may contain letters, numbers, '(', ')', '.', '-', '/' and '_'`, { context: { name } });
    }
    const dup = this.images.all().find((i) => i.ownerId === caller.accountId && i.name === name && i.state !== 'deregistered');
    if (dup) throw new Ec2Error('InvalidAMIName.Duplicate', `AMI name ${name} is already in use by AMI ${dup.id}`, { context: { name } });
  }

  async deregister(caller: Caller, imageId: string): Promise<void> {
    const i = this.images.get(imageId);
    if (!i || i.state === 'deregistered' || !this.visibleTo(caller, i)) {
      throw new Ec2Error('InvalidAMIID.NotFound', `The image id '[${imageId}]' does not exist`, { context: { imageId } });
    }
    if (i.ownerId !== caller.accountId) {
      throw new Ec2Error('AuthFailure', `Not authorized for image:${imageId}`, { context: { imageId } });
    }
    await this.images.delete(imageId);
  }

  async setTags(id: string, tags: Readonly<Record<string, string>>): Promise<void> {
    await this.images.update(id, (r) => ({ ...r, tags }));
  }
}
