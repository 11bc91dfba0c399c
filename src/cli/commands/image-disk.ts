// `nitride image build debian-12` and `nitride image check FILE`: the Debian cloud disk and
// the inspection of any disk image without booting it. Routed from ./image.ts.
import { buildDebianImage, findDebianImage } from '../../image/debian/build-debian.js';
import { inspectDisk } from '../../image/inspect/inspect-disk.js';
import { formatReport } from '../../image/inspect/report.js';
import { imageCacheDir } from '../../lib/paths.js';

export const diskUsage = `       nitride image build debian-12 [--force] [--force-base]
                                       build the Debian 12 cloud disk (debootstrap, cloud-init, GRUB for
                                       BIOS and UEFI) into the image cache; prints the disk's path
       nitride image show debian-12    print its manifest (packages, partitions, sha256), verified
       nitride image check FILE [--json]
                                       inspect a raw or qcow2 disk without booting it: partitions, root
                                       file system, kernels, modules, initramfs; exit 0 when it can boot
                                       from NVMe with virtio-net, 1 with the reasons when it cannot`;

export async function runBuildDebian(argv: readonly string[]): Promise<number> {
  const unknown = argv.filter((a) => a !== '--force' && a !== '--force-base');
  if (unknown.length > 0) {
    process.stderr.write(`nitride image build debian-12: unknown argument ${unknown.join(' ')}\n`);
    return 2;
  }
  const t0 = Date.now();
  const img = await buildDebianImage({
    cacheDir: imageCacheDir(),
    force: argv.includes('--force'),
    forceBase: argv.includes('--force-base'),
    say: (l) => process.stderr.write(`[image debian-12 ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${l}\n`),
  });
  process.stdout.write(`${img.path}\n`);
  return 0;
}

export async function runCheckDisk(argv: readonly string[]): Promise<number> {
  const files = argv.filter((a) => !a.startsWith('--'));
  const unknown = argv.filter((a) => a.startsWith('--') && a !== '--json');
  if (files.length !== 1 || unknown.length > 0) {
    process.stderr.write(`usage: nitride image check FILE [--json]\n`);
    return 2;
  }
  const report = await inspectDisk(files[0] ?? '');
  if (argv.includes('--json')) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(formatReport(report));
  return report.verdict.ok ? 0 : 1;
}

export async function runShowDebian(): Promise<number> {
  const img = await findDebianImage({ cacheDir: imageCacheDir() });
  if (!img) {
    process.stderr.write('nitride image show debian-12: not built for the current inputs; run `nitride image build debian-12`\n');
    return 1;
  }
  process.stdout.write(`${JSON.stringify(img.manifest, null, 2)}\n`);
  return 0;
}
