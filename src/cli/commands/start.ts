// `nitride start` (what `npm start` runs after setup): the region with one local host, in
// the foreground. Ctrl-C stops the region and the controller; guests keep running and
// are re-adopted by the next start.
import { join } from 'node:path';
import { ensureImage } from '../../image/build.js';
import { describeError } from '../../lib/errors.js';
import { apiPort, imageCacheDir, nitrideHome } from '../../lib/paths.js';
import { Region } from '../../region/region.js';

export const summary = 'run the region with one local host in the foreground (Ctrl-C stops; guests keep running)';

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write('usage: nitride start   (NITRIDE_HOME, NITRIDE_API_PORT and the front door limits NITRIDE_API_* of docs/API-PROTOCOL.md from the environment)\n');
    return 0;
  }
  const home = nitrideHome();
  const port = apiPort();
  const say = (l: string): void => void process.stderr.write(`[start] ${l}\n`);
  const manifest = await ensureImage({ cacheDir: imageCacheDir(), say });
  say(`opening the region in ${home} …`);
  const region = await Region.open({
    home,
    port,
    localHost: true,
    builtinImage: {
      kernel: { path: manifest.kernel.path, sha256: manifest.kernel.sha256 },
      initrd: { path: manifest.initrd.path, sha256: manifest.initrd.sha256 },
      cmdline: manifest.cmdline,
      kernelVersion: manifest.kernelVersion,
      version: manifest.version,
    },
  });
  const host = region.fleet.hosts()[0];
  const aws = join(home, 'aws');
  process.stdout.write(
    [
      `Nitride region local-1 is up at ${region.endpoint} with host ${host?.id ?? '(none)'}; Ctrl-C stops it (guests keep running).`,
      `export AWS_CONFIG_FILE=${aws}/config AWS_SHARED_CREDENTIALS_FILE=${aws}/credentials`,
      `aws --profile nitride ec2 run-instances --image-id ${(await import('../../region/ec2/images.js')).ImageService.builtinId()} --instance-type t3.micro   # Debian's aws 2.9: add --endpoint-url ${region.endpoint}`,
      `nitride account create NAME   # an account (tenant) of its own, written as the profile NAME`,
    ].join('\n') + '\n',
  );
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (sig: string): void => {
      if (stopping) return;
      stopping = true;
      say(`${sig}: stopping the region and the local controller; guests keep running`);
      region.close().then(
        () => resolve(0),
        (e: unknown) => {
          say(`stop failed: ${describeError(e)}`);
          resolve(1);
        },
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
