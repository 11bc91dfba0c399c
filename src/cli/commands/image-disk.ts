// `nitride image build debian-12` and `nitride image check FILE`: the Debian cloud disk and
// the inspection of any disk image without booting it. Routed from ./image.ts.
import { buildDebianImage, findDebianImage, type DebianImage } from '../../image/debian/build-debian.js';
import { inspectDisk } from '../../image/inspect/inspect-disk.js';
import { formatReport } from '../../image/inspect/report.js';
import { imageCacheDir, nitrideHome } from '../../lib/paths.js';
import { defaultDiskInspector } from '../../image/import-inspector.js';
import { endpointFromHome, RegionApiClient } from '../../region/ebs-direct/client.js';
import { importDisk, type ImportResult } from '../image-import.js';

export const diskUsage = `       nitride image build debian-12 [--force] [--force-base] [--register [--home DIR] [--profile P]]
                                       build the Debian 12 cloud disk (debootstrap, cloud-init, GRUB for
                                       BIOS and UEFI) into the image cache; prints the disk's path; with
                                       --register, imports it through the running region's EBS direct
                                       APIs as debian-12-nitride-VERSION (once: a second run finds it)
       nitride image show debian-12    print its manifest (packages, partitions, sha256), verified
       nitride image check FILE [--json]
                                       inspect a raw or qcow2 disk without booting it: partitions, root
                                       file system, kernels, modules, initramfs; exit 0 when it can boot
                                       from NVMe with virtio-net, 1 with the reasons when it cannot`;

/** The value after a flag, or undefined. */
function flagValue(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

export async function runBuildDebian(argv: readonly string[]): Promise<number> {
  const valued = new Set(['--home', '--profile']);
  const unknown = argv.filter((a, i) => !['--force', '--force-base', '--register', ...valued].includes(a) && !valued.has(argv[i - 1] ?? ''));
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
  if (!argv.includes('--register')) {
    process.stdout.write(`${img.path}\n`);
    return 0;
  }
  const say = (l: string): void => void process.stderr.write(`[image debian-12 ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${l}\n`);
  const client = new RegionApiClient(endpointFromHome(flagValue(argv, '--home') ?? nitrideHome(), flagValue(argv, '--profile') ?? 'nitride'));
  const r = await registerDebianImage(img, client, say);
  process.stdout.write(`${JSON.stringify(r)}\n`);
  return 0;
}

/**
 * The debian-12 disk registered as debian-12-nitride-VERSION through the region's own API
 * (EBS direct + RegisterImage), as any user would import it; once: an image of that name is
 * found and answered (registered: false). Used by `image build --register` and `start --register-debian`.
 */
export async function registerDebianImage(
  img: DebianImage,
  client: RegionApiClient,
  say: (line: string) => void,
): Promise<{ imageId: string; name: string; registered: boolean } & Partial<ImportResult>> {
  const name = `debian-12-nitride-${img.manifest.version}`;
  const found = /<imageId>(ami-[0-9a-f]+)<\/imageId>/.exec(await client.ec2('DescribeImages', { 'Owner.1': 'self', 'Filter.1.Name': 'name', 'Filter.1.Value.1': name }))?.[1];
  if (found !== undefined) {
    say(`already registered as ${found} (${name})`);
    return { imageId: found, name, registered: false };
  }
  const r = await importDisk({
    file: img.path,
    name,
    description: `Debian 12 with cloud-init and openssh-server (nitride image build debian-12, ${img.manifest.version})`,
    bootMode: 'legacy-bios',
    client,
    inspect: defaultDiskInspector,
    say,
  });
  return { ...r, name, registered: true };
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
