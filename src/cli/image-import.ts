// `nitride image import`: a raw or qcow2 disk into an EBS-backed image, the way AWS's own
// import tools do it — through the region's public API (a client of the region, so it lives
// in the CLI's layer, above the region it calls). Steps:
//   1. the format and size from `qemu-img info`; a qcow2 is converted to a sparse raw file in
//      a private temporary directory first (qemu-img convert);
//   2. the disk is inspected (DiskInspector); a refused disk is never uploaded;
//   3. StartSnapshot; every 512 KiB block that is not all zeros goes up with PutSnapshotBlock
//      (its SHA256 in x-amz-Checksum, a few requests in flight), with progress;
//   4. CompleteSnapshot with the LINEAR aggregated checksum;
//   5. RegisterImage: the snapshot as the root device /dev/xvda, BootMode as given.
// A failure after StartSnapshot deletes the pending snapshot: nothing half-made remains.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { linearAggregate, EBS_BLOCK_SIZE } from '../region/protocol/ebs-direct/checksum.js';
import type { RegionApiClient } from '../region/ebs-direct/client.js';
import { ImageError } from '../image/errors.js';
import type { DiskInspector } from '../image/import-inspector.js';

const run = promisify(execFile);
const GiB = 2 ** 30;

export interface ImportOptions {
  readonly file: string;
  readonly name: string;
  readonly description?: string | undefined;
  readonly bootMode?: 'legacy-bios' | 'uefi' | undefined;
  readonly encrypted?: boolean | undefined;
  readonly client: RegionApiClient;
  readonly inspect: DiskInspector;
  readonly say: (line: string) => void;
  /** PutSnapshotBlock requests in flight (default 8). */
  readonly concurrency?: number;
}

export interface ImportResult {
  readonly imageId: string;
  readonly snapshotId: string;
  readonly format: 'raw' | 'qcow2';
  readonly virtualSize: number;
  readonly volumeSize: number;
  readonly blocks: number;
  readonly skippedZeroBlocks: number;
  readonly inspection: 'passed' | 'skipped';
}

async function qemuImgInfo(file: string): Promise<{ format: string; virtualSize: number }> {
  let out: string;
  try {
    ({ stdout: out } = await run('qemu-img', ['info', '--output=json', file], { maxBuffer: 16 * 1024 * 1024 }));
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOENT') throw new ImageError('ImageToolMissing', 'unavailable', 'qemu-img is not installed (Debian package qemu-utils).', {}, { cause: e });
    throw new ImageError('ImageImportUnreadable', 'invalid', `qemu-img cannot read ${file}.`, { file }, { cause: e });
  }
  const j = JSON.parse(out) as { format?: unknown; 'virtual-size'?: unknown };
  if (typeof j.format !== 'string' || typeof j['virtual-size'] !== 'number') throw new ImageError('ImageImportUnreadable', 'invalid', `qemu-img could not tell the format and size of ${file}.`, { file });
  return { format: j.format, virtualSize: j['virtual-size'] };
}

const isZero = (b: Buffer, n: number): boolean => {
  for (let i = 0; i < n; i++) if (b[i] !== 0) return false;
  return true;
};

export async function importDisk(o: ImportOptions): Promise<ImportResult> {
  const info = await qemuImgInfo(o.file);
  if (info.format !== 'raw' && info.format !== 'qcow2') throw new ImageError('ImageImportFormat', 'invalid', `${o.file} is ${info.format}; raw and qcow2 can be imported.`, { format: info.format });
  if (info.virtualSize <= 0) throw new ImageError('ImageImportFormat', 'invalid', `${o.file} is empty.`);
  const tmp = await mkdtemp(join(tmpdir(), 'nitride-import-'));
  try {
    let raw = o.file;
    if (info.format === 'qcow2') {
      raw = join(tmp, 'disk.raw');
      o.say(`converting qcow2 to raw (${(info.virtualSize / GiB).toFixed(2)} GiB virtual)`);
      await run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', '-S', '4k', o.file, raw]);
    }
    const inspection = await o.inspect(raw, o.bootMode ? { bootMode: o.bootMode } : {});
    if (inspection.skipped !== undefined) o.say(`inspection skipped: ${inspection.skipped}`);
    if (!inspection.ok) {
      throw new ImageError('ImageImportRefused', 'invalid', `The disk was refused by the inspection: ${inspection.problems.map((p) => `${p.code}: ${p.message}`).join('; ')}`, { problems: inspection.problems });
    }
    const volumeSize = Math.max(1, Math.ceil(info.virtualSize / GiB));
    const { snapshotId } = await o.client.startSnapshot({ volumeSize, description: o.description ?? `nitride image import of ${o.name}`, ...(o.encrypted ? { encrypted: true } : {}) });
    o.say(`snapshot ${snapshotId} started (${volumeSize} GiB)`);
    try {
      const total = Math.ceil(info.virtualSize / EBS_BLOCK_SIZE);
      const sums: [number, string][] = [];
      let skipped = 0;
      let done = 0;
      let lastPct = -1;
      const fh = await open(raw, 'r');
      try {
        let next = 0;
        const worker = async (): Promise<void> => {
          const buf = Buffer.alloc(EBS_BLOCK_SIZE);
          for (;;) {
            const index = next++;
            if (index >= total) return;
            buf.fill(0);
            const { bytesRead } = await fh.read(buf, 0, EBS_BLOCK_SIZE, index * EBS_BLOCK_SIZE);
            if (isZero(buf, bytesRead)) skipped++;
            else {
              const checksum = createHash('sha256').update(buf).digest('base64');
              const pct = Math.floor(((index + 1) * 100) / total);
              await o.client.putSnapshotBlock(snapshotId, index, buf, checksum, Math.min(99, pct));
              sums.push([index, checksum]);
            }
            done++;
            const pct = Math.floor((done * 100) / total);
            if (pct !== lastPct && (pct % 5 === 0 || done === total)) {
              lastPct = pct;
              o.say(`progress ${pct}% (${done}/${total} blocks, ${sums.length} uploaded, ${skipped} all-zero skipped)`);
            }
          }
        };
        await Promise.all(Array.from({ length: Math.max(1, o.concurrency ?? 8) }, () => worker()));
      } finally {
        await fh.close();
      }
      const status = await o.client.completeSnapshot(snapshotId, sums.length, linearAggregate(sums));
      o.say(`snapshot ${snapshotId} ${status}: ${sums.length} blocks, ${skipped} all-zero blocks skipped`);
      const params: Record<string, string> = {
        Name: o.name,
        Architecture: 'x86_64',
        RootDeviceName: '/dev/xvda',
        VirtualizationType: 'hvm',
        EnaSupport: 'true',
        'BlockDeviceMapping.1.DeviceName': '/dev/xvda',
        'BlockDeviceMapping.1.Ebs.SnapshotId': snapshotId,
        'BlockDeviceMapping.1.Ebs.VolumeSize': String(volumeSize),
        'BlockDeviceMapping.1.Ebs.VolumeType': 'gp3',
        'BlockDeviceMapping.1.Ebs.DeleteOnTermination': 'true',
        ...(o.bootMode ? { BootMode: o.bootMode } : {}),
        ...(o.description ? { Description: o.description } : {}),
      };
      const xml = await o.client.ec2('RegisterImage', params);
      const imageId = /<imageId>(ami-[0-9a-f]+)<\/imageId>/.exec(xml)?.[1];
      if (!imageId) throw new ImageError('ImageImportFailed', 'internal', 'RegisterImage answered without an image id.');
      o.say(`registered ${imageId} (${o.name})`);
      return { imageId, snapshotId, format: info.format, virtualSize: info.virtualSize, volumeSize, blocks: sums.length, skippedZeroBlocks: skipped, inspection: inspection.skipped !== undefined ? 'skipped' : 'passed' };
    } catch (e) {
      o.say(`import failed; deleting snapshot ${snapshotId}`);
      await o.client.ec2('DeleteSnapshot', { SnapshotId: snapshotId }).catch((e2: unknown) => o.say(`could not delete snapshot ${snapshotId}: ${String(e2)}`));
      throw e;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
