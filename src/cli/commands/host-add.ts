// `nitride host add --address A --port P --token T (--fingerprint FP | --trust-on-first-use)`:
// the region operator enrols a host through the region's API (NitrideAddHost: SigV4, IAM, the
// region's audit trail). FP is what `nitride host init` / `nitride host enroll-token --json`
// printed on the host; the region refuses a controller whose certificate does not match it.
// Trust on first use is available only when the operator names it.
import { describeError } from '../../lib/errors.js';
import { nitrideHome } from '../../lib/paths.js';
import { callRegion, regionApi } from './host-component.js';

const ADD_USAGE = 'usage: nitride host add --address ADDR --port PORT --token TOKEN (--fingerprint SHA256 | --trust-on-first-use) [--home DIR] [--json]\n';

export async function addHostCli(argv: readonly string[]): Promise<number> {
  let home = nitrideHome();
  let json = false;
  let tofu = false;
  const v: Record<string, string | undefined> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = String(argv[i]);
    if (a === '--json') json = true;
    else if (a === '--trust-on-first-use') tofu = true;
    else if (['--home', '--address', '--port', '--token', '--fingerprint'].includes(a) && argv[i + 1] !== undefined) v[a] = argv[++i];
    else {
      process.stderr.write(`nitride host add: unknown option or missing value ${a}\n${ADD_USAGE}`);
      return 2;
    }
  }
  if (v['--home'] !== undefined) home = v['--home'];
  const fp = v['--fingerprint'];
  if (v['--address'] === undefined || v['--port'] === undefined || v['--token'] === undefined || (fp === undefined) === !tofu) {
    process.stderr.write(
      `${fp === undefined && !tofu ? "nitride host add: give the host's bootstrap fingerprint (--fingerprint, as `nitride host init` prints it), or name --trust-on-first-use\n" : ''}${ADD_USAGE}`,
    );
    return 2;
  }
  const api = regionApi(home);
  if (!api) {
    process.stderr.write(`nitride host add: no region in ${home} (no profile nitride in its aws/config)\n`);
    return 1;
  }
  try {
    const r = await callRegion(api, {
      Action: 'NitrideAddHost',
      Address: v['--address'],
      Port: v['--port'],
      Token: v['--token'],
      ...(fp !== undefined ? { BootstrapFingerprint: fp } : { TrustOnFirstUse: 'true' }),
    });
    if (json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else process.stdout.write(`host ${r['hostId']} enrolled (${r['trust']}); host certificate sha256 ${r['certFingerprint']}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`nitride host add: ${describeError(e)}\n`);
    return 1;
  }
}
