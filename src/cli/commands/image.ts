// `nitride image`: build, show and check the guest image nitride-minimal.
import { ensureImage, loadImage, cachedVersions } from '../../image/build.js';
import { checkImage } from '../../image/boot-check.js';
import { ImageError } from '../../image/errors.js';
import { imageCacheDir } from '../../lib/paths.js';
import { diskUsage, runBuildDebian, runCheckDisk, runShowDebian } from './image-disk.js';

export const summary = 'guest images: nitride-minimal (build | show | check), build debian-12, check FILE';

const usage = `usage: nitride image build [--force]   build it into the image cache (does nothing when present and verified)
       nitride image show              print the manifest of the image for the current inputs
       nitride image check [--kernel PATH] [--runs N]
                                       boot it under QEMU (TCG) N times, to the ready marker and
                                       through an ACPI power-down; print the median boot time
${diskUsage}
The cache is ${imageCacheDir()} (NITRIDE_IMAGE_CACHE overrides it).`;

function flagValue(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new ImageError('CliBadArgument', 'invalid', `${name} needs a value.`, { flag: name });
  return v;
}

function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const say = (line: string): void => {
    process.stderr.write(`[image] ${line}\n`);
  };
  switch (sub) {
    case 'build': {
      if (rest[0] === 'debian-12') return runBuildDebian(rest.slice(1));
      const unknown = rest.filter((a) => a !== '--force');
      if (unknown.length > 0) {
        process.stderr.write(`nitride image build: unknown argument ${unknown.join(' ')}\n${usage}\n`);
        return 2;
      }
      const m = await ensureImage({ cacheDir: imageCacheDir(), say, force: rest.includes('--force') });
      process.stdout.write(`${m.dir}\n`);
      return 0;
    }
    case 'show': {
      if (rest[0] === 'debian-12') return runShowDebian();
      try {
        const m = loadImage(imageCacheDir());
        process.stdout.write(`${JSON.stringify(m, null, 2)}\n`);
        return 0;
      } catch (e) {
        if (e instanceof ImageError && e.code === 'ImageNotFound') {
          const others = cachedVersions();
          process.stderr.write(`nitride image show: ${e.message}${others.length ? ` (other versions in the cache: ${others.join(', ')})` : ''}\n`);
          return 1;
        }
        throw e;
      }
    }
    case 'check': {
      if (rest[0] !== undefined && !rest[0].startsWith('--')) return runCheckDisk(rest);
      const kernelPath = flagValue(rest, '--kernel');
      const runs = Number(flagValue(rest, '--runs') ?? '1');
      if (!Number.isInteger(runs) || runs < 1 || runs > 50) {
        process.stderr.write(`nitride image check: --runs must be an integer from 1 to 50\n`);
        return 2;
      }
      const m = loadImage(imageCacheDir());
      const times: number[] = [];
      const cpu: number[] = [];
      for (let i = 0; i < runs; i++) {
        const r = await checkImage(m, kernelPath === undefined ? {} : { kernelPath });
        times.push(r.readyMs);
        if (r.readyCpuMs !== undefined) cpu.push(r.readyCpuMs);
        say(`run ${i + 1}/${runs}: ready after ${r.readyMs} ms (QEMU CPU ${r.readyCpuMs ?? '?'} ms), powered off ${r.powerdownMs} ms after system_powerdown`);
        if (i === 0) process.stderr.write(r.console.replace(/^/gm, '  | '));
      }
      process.stdout.write(
        `${JSON.stringify({ image: m.version, kernel: kernelPath ?? m.kernel.path, runs, readyMs: times, medianMs: median(times), readyCpuMs: cpu, medianCpuMs: median(cpu) })}\n`,
      );
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(`${usage}\n`);
      return sub === undefined ? 2 : 0;
    default:
      process.stderr.write(`nitride image: unknown subcommand '${sub}'\n${usage}\n`);
      return 2;
  }
}
