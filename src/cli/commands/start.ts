// `nitride start` (what `npm start` runs after setup): the region with one local host, in
// the foreground. Ctrl-C stops the region and the controller; guests keep running and
// are re-adopted by the next start.
import { join } from 'node:path';
import { ensureImage } from '../../image/build.js';
import { findDebianImage } from '../../image/debian/build-debian.js';
import { endpointFromHome, RegionApiClient } from '../../region/ebs-direct/client.js';
import { registerDebianImage } from './image-disk.js';
import { describeError } from '../../lib/errors.js';
import { apiPort, imageCacheDir, nitrideHome } from '../../lib/paths.js';
import { Region } from '../../region/region.js';

export const summary = 'run the region with one local host in the foreground (Ctrl-C stops; guests keep running)';

/**
 * The local host's public side unless the operator named one (NITRIDE_PUBLIC_IFACE, or "none"):
 * a host-only network — the TAP device nitride-pub0 with 198.51.100.1/24 (TEST-NET-2, routed
 * nowhere) on the host's side and forwarding off for what arrives on it, so a user of this
 * machine reaches the instances' public IPs and nothing leaves the host (docs/VPC.md).
 */
export function hostOnlyPublicSide(env: NodeJS.ProcessEnv): Record<string, string> {
  if (env['NITRIDE_PUBLIC_IFACE']) return {};
  return { NITRIDE_PUBLIC_IFACE: 'nitride-pub0', NITRIDE_PUBLIC_CIDR: '198.51.100.0/24', NITRIDE_PUBLIC_GATEWAY: '198.51.100.1', NITRIDE_PUBLIC_HOST_ADDRESS: '198.51.100.1/24' };
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(
      'usage: nitride start [--tls] [--register-debian] [--public-iface NAME|none]   (NITRIDE_HOME, NITRIDE_API_PORT, NITRIDE_API_HOST, NITRIDE_API_TLS* and the front door limits NITRIDE_API_* of docs/API-PROTOCOL.md from the environment)\n' +
        '  --tls               serve the API over HTTPS (also NITRIDE_API_TLS=1): a certificate from the region CA,\n' +
        '                      or NITRIDE_API_TLS_CERT/NITRIDE_API_TLS_KEY (and NITRIDE_API_TLS_CA) files; the profile gets ca_bundle\n' +
        '  --register-debian   once the region is up, register the debian-12 disk when it is built\n' +
        '                      (`nitride image build debian-12`), as `image build debian-12 --register` does\n' +
        '  --public-iface NAME the VPC edge\'s public side (also NITRIDE_PUBLIC_IFACE, with NITRIDE_PUBLIC_CIDR and\n' +
        '                      NITRIDE_PUBLIC_GATEWAY); default: the host-only network nitride-pub0, 198.51.100.1/24 on\n' +
        '                      this host, nothing forwarded (docs/VPC.md); none: no public side\n',
    );
    return 0;
  }
  const pi = argv.indexOf('--public-iface');
  if (pi >= 0) {
    const name = argv[pi + 1];
    if (name === undefined || name.startsWith('--')) {
      process.stderr.write('nitride start: --public-iface needs a name (or none)\n');
      return 2;
    }
    process.env['NITRIDE_PUBLIC_IFACE'] = name;
    argv = argv.filter((_, i) => i !== pi && i !== pi + 1);
  }
  // The local controller (started with this environment) attaches the public side.
  Object.assign(process.env, hostOnlyPublicSide(process.env));
  const unknown = argv.filter((a) => a !== '--register-debian' && a !== '--tls');
  if (unknown.length > 0) {
    process.stderr.write(`nitride start: unknown argument ${unknown.join(' ')}\n`);
    return 2;
  }
  const home = nitrideHome();
  const port = apiPort();
  const say = (l: string): void => void process.stderr.write(`[start] ${l}\n`);
  const manifest = await ensureImage({ cacheDir: imageCacheDir(), say });
  say(`opening the region in ${home} …`);
  const region = await Region.open({
    home,
    port,
    ...apiListen(process.env, argv.includes('--tls')),
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
      ...(region.caBundle ? [`# HTTPS: the profiles trust the region CA through ca_bundle = ${region.caBundle}`] : []),
    ].join('\n') + '\n',
  );
  // `npm start`: the Debian image a user can run right away, when its disk is built (it is
  // not built here: that takes minutes). In the background: the API answers meanwhile.
  if (argv.includes('--register-debian')) void registerBuiltDebian(home, say);
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

/** The API's listen address and TLS from the environment (NITRIDE_API_HOST, NITRIDE_API_TLS, NITRIDE_API_TLS_CERT/KEY/CA) and --tls. */
export function apiListen(env: NodeJS.ProcessEnv, tlsFlag: boolean): { apiHost?: string; tls?: { certFile?: string; keyFile?: string; caFile?: string } } {
  const host = env['NITRIDE_API_HOST'];
  const [certFile, keyFile, caFile] = [env['NITRIDE_API_TLS_CERT'], env['NITRIDE_API_TLS_KEY'], env['NITRIDE_API_TLS_CA']].map((v) => (v === '' ? undefined : v));
  const on = tlsFlag || env['NITRIDE_API_TLS'] === '1' || certFile !== undefined;
  return {
    ...(host ? { apiHost: host } : {}),
    ...(on ? { tls: { ...(certFile ? { certFile } : {}), ...(keyFile ? { keyFile } : {}), ...(caFile ? { caFile } : {}) } } : {}),
  };
}

/** Finds the built debian-12 disk (verified) and registers it once; says so on stdout, never fails the start. */
async function registerBuiltDebian(home: string, say: (line: string) => void): Promise<void> {
  try {
    const img = await findDebianImage({ cacheDir: imageCacheDir() });
    if (!img) {
      say('debian-12 is not built (`nitride image build debian-12` builds it in about 5 minutes); not registering it');
      return;
    }
    const r = await registerDebianImage(img, new RegionApiClient(endpointFromHome(home)), (l) => say(`debian-12: ${l}`));
    process.stdout.write(`debian-12 is ${r.registered ? 'registered' : 'available'} as ${r.imageId} (${r.name}): aws --profile nitride ec2 run-instances --image-id ${r.imageId} --instance-type t3.small\n`);
  } catch (e) {
    say(`debian-12 could not be registered: ${describeError(e)}`);
  }
}
