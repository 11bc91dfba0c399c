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
import type { ImageRecord } from './model.js';
import type { EbsImageFields } from './register-ebs-image.js'; // STOP-GAP RegisterImage, see there
import type { Caller } from './instances.js';

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
};

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
    req: { name: string; description: string | undefined; imageLocation: string | undefined; tpmSupport: string | undefined; bootMode: string | undefined; cmdline?: string | undefined; ebs?: EbsImageFields | undefined },
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
    if (req.ebs) {
      // STOP-GAP RegisterImage of an EBS-backed image (./register-ebs-image.ts; wt-ebsdirect's
      // RegisterImage replaces this branch): a root snapshot, no kernel files
      const rec: ImageRecord = {
        id: newId('ami'),
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
        ...req.ebs,
        tags: {},
      };
      await this.images.put(rec);
      return rec;
    }
    const loc = req.imageLocation;
    if (loc === undefined || loc === '') {
      throw new Ec2Error('MissingParameter', 'The request must contain the parameter ImageLocation (a directory with a kernel and an initrd.img).');
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
    };
    await this.images.put(rec);
    return rec;
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
