// `nitride setup`: brings a Debian 12 machine to the point where Nitride runs and its
// tests pass. Idempotent: each step checks first and says "present" when there is
// nothing to do. The same step runs first in `npm start` and `npm test`.
import { DEBIAN_PACKAGES, installPackages, missingPackages } from './packages.js';
import { NitrideError } from '../lib/errors.js';
import { ensureCodeReachable, ensureComponentUsers, ensureQemuUser } from './qemu-user.js';
import { ensureImage } from '../image/build.js';
import { buildNativeXts, nativeXtsDir, nativeXtsPath } from '../ebs/xts/native.js';
import { addonFresh } from '../lib/native-addon.js';
import { buildNativeGcm, nativeGcmDir, nativeGcmPath } from '../vpc/underlay/native.js';
import { imageCacheDir, projectRoot } from '../lib/paths.js';
import { dirname } from 'node:path';
import { buildDebianImage, DEBIAN_BUILD_HOST_PACKAGES } from '../image/debian/build-debian.js';

/** Optional images `nitride setup --with NAME` (or NITRIDE_SETUP_WITH=NAME,…) builds. */
export const OPTIONAL_IMAGES: readonly string[] = ['debian-12'];

export interface SetupOptions {
  readonly say?: (line: string) => void;
  /** Skip the steps that need root (package install, system user); used by unprivileged runs. */
  readonly skipSystem?: boolean;
  /** Optional images to build as well (OPTIONAL_IMAGES), e.g. ['debian-12'] for the real-guest tests. */
  readonly withImages?: readonly string[];
}

export async function runSetup(opts: SetupOptions = {}): Promise<void> {
  const say = opts.say ?? ((l: string) => process.stderr.write(`${l}\n`));
  const withDebian = opts.withImages?.includes('debian-12') === true;
  const steps = withDebian ? 6 : 5;
  let n = 0;
  const step = (title: string): ((line: string) => void) => {
    n += 1;
    say(`[setup ${n}/${steps}] ${title}`);
    return (line: string) => say(`[setup ${n}/${steps}] ${line}`);
  };

  const pkgSay = step('Debian packages');
  const missing = missingPackages(DEBIAN_PACKAGES);
  if (missing.length === 0) pkgSay(`present (${DEBIAN_PACKAGES.length} packages)`);
  else if (opts.skipSystem) pkgSay(`missing, not installed (unprivileged): ${missing.map((p) => p.name).join(' ')}`);
  else {
    for (const p of missing) pkgSay(`will install ${p.name}: ${p.why}`);
    await installPackages(missing, pkgSay);
  }

  const userSay = step('unprivileged users: QEMU\'s, and one per host component (src/lib/privileges.ts)');
  if (opts.skipSystem) userSay('skipped (unprivileged)');
  else {
    userSay(ensureQemuUser());
    userSay(ensureComponentUsers());
    userSay(ensureCodeReachable([projectRoot(), dirname(process.execPath)]));
  }

  const xtsSay = step('native AES-XTS addon (native/xts)');
  if (addonFresh(nativeXtsDir(), nativeXtsPath())) xtsSay('present');
  else {
    xtsSay('building with node-gyp against this Node and its OpenSSL …');
    xtsSay(`built ${buildNativeXts({ force: true, log: xtsSay })}`);
  }

  const gcmSay = step('native addon for the VPC card and underlay (native/gcm: AES-256-GCM, batched UDP, switch fast path)');
  if (addonFresh(nativeGcmDir(), nativeGcmPath())) gcmSay('present');
  else gcmSay(`built ${buildNativeGcm({ force: true, log: gcmSay })}`);

  const imgSay = step('guest image nitride-minimal');
  const manifest = await ensureImage({ cacheDir: imageCacheDir(), say: imgSay });
  imgSay(`ready: kernel ${manifest.kernelVersion} in ${manifest.dir}`);

  if (withDebian) {
    const debSay = step('guest image debian-12 (debootstrap; cold 3–8 min, from the cached tree under 1 min, present in seconds)');
    const hostMissing = missingPackages(DEBIAN_BUILD_HOST_PACKAGES);
    if (hostMissing.length > 0) {
      if (opts.skipSystem) throw new NitrideError('SetupNeedsRoot', 'unavailable', `Building debian-12 needs these packages: ${hostMissing.map((p) => p.name).join(' ')}.`, {});
      for (const p of hostMissing) debSay(`will install ${p.name}: ${p.why}`);
      await installPackages(hostMissing, debSay);
    }
    const t0 = Date.now();
    const img = await buildDebianImage({ cacheDir: imageCacheDir(), say: debSay });
    debSay(`ready in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${img.path} (sha256 ${img.sha256})`);
  }
}
