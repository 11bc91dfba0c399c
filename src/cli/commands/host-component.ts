// `nitride host restart-component <hypervisor|ebs|vpc> [--home DIR] [--json]`: replaces a host
// component through the region → controller path. It runs on the region's machine: it signs
// the controller command with the region's own client credential ($NITRIDE_HOME/region/pki,
// OU nitride-region) and sends it to the local controller, which audits it like every
// command. For ebs this is the live update (the old card seals its keys to the new one).
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { ControllerClient } from '../../controller/client.js';
import { hostPaths, readRuntime } from '../../controller/host-state.js';
import { describeError } from '../../lib/errors.js';
import { nitrideHome } from '../../lib/paths.js';

/** The region's client for the local controller, or an error line for the operator. */
function regionClient(home: string, cmd: string): ControllerClient | string {
  const pki = join(home, 'region', 'pki');
  const p = hostPaths(home);
  const rt = readRuntime(home);
  if (!existsSync(join(pki, 'region.crt')) || !existsSync(join(pki, 'region.key')) || !existsSync(p.ca)) {
    return `nitride host ${cmd}: no region credential in ${pki} or the host is not enrolled; run it on the region's machine with its NITRIDE_HOME`;
  }
  if (!rt) return `nitride host ${cmd}: the controller is not running`;
  return new ControllerClient({
    address: rt.address,
    port: rt.port,
    caPem: readFileSync(join(pki, 'ca.crt'), 'utf8'),
    certPem: readFileSync(join(pki, 'region.crt'), 'utf8'),
    keyPem: readFileSync(join(pki, 'region.key'), 'utf8'),
    hostId: rt.hostId,
    retries: 0,
  });
}

const UPDATE_USAGE = 'usage: nitride host update --component <hypervisor|ebs|vpc|controller> (--bundle DIR | --rollback) [--home DIR] [--json]\n';

/**
 * `nitride host update --component NAME --bundle DIR | --rollback [--home DIR] [--json]`: a live
 * update of one host component to the signed bundle in DIR (a directory on the host), or back
 * to the bundle it ran before (host.update, signed by the region's credential and audited by
 * the controller before it takes effect). Exit 1 with the controller's error, which names the
 * file of a bundle that does not verify; the running version then stays.
 */
export async function updateComponentCli(argv: readonly string[]): Promise<number> {
  let home = nitrideHome();
  let json = false;
  let component: string | undefined;
  let bundle: string | undefined;
  let rollback = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if ((a === '--home' || a === '--component' || a === '--bundle') && v === undefined) {
      process.stderr.write(`nitride host update: ${a} needs a value\n${UPDATE_USAGE}`);
      return 2;
    }
    if (a === '--home') home = argv[++i] as string;
    else if (a === '--component') component = argv[++i];
    else if (a === '--bundle') bundle = argv[++i];
    else if (a === '--rollback') rollback = true;
    else if (a === '--json') json = true;
    else {
      process.stderr.write(`nitride host update: unknown option ${String(a)}\n${UPDATE_USAGE}`);
      return 2;
    }
  }
  if ((component !== 'hypervisor' && component !== 'ebs' && component !== 'vpc' && component !== 'controller') || (bundle === undefined) === !rollback) {
    process.stderr.write(UPDATE_USAGE);
    return 2;
  }
  const client = regionClient(home, 'update');
  if (typeof client === 'string') {
    process.stderr.write(`${client}\n`);
    return 1;
  }
  try {
    const params = rollback ? { component, rollback: true } : { component, bundle: isAbsolute(bundle as string) ? (bundle as string) : resolve(bundle as string) };
    const r = (await client.send('host.update', params, { timeoutMs: 300_000 })) as {
      kind: string;
      previous: { version: string } | null;
      current: { version: string; digest: string };
      measurement: { pcrIndex: number };
      totalMs: number;
    };
    if (json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else {
      process.stdout.write(
        `${component} ${r.kind === 'rollback' ? 'rolled back' : 'updated'}: ${r.previous?.version ?? '?'} -> ${r.current.version} (sha384 ${r.current.digest.slice(0, 16)}…, PCR ${r.measurement.pcrIndex} extended) in ${r.totalMs} ms\n`,
      );
    }
    return 0;
  } catch (e) {
    process.stderr.write(`nitride host update: ${describeError(e)}\n`);
    return 1;
  } finally {
    client.close();
  }
}

export async function restartComponentCli(argv: readonly string[]): Promise<number> {
  let home = nitrideHome();
  let json = false;
  let component: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--home' && argv[i + 1] !== undefined) home = argv[++i] as string;
    else if (argv[i] === '--json') json = true;
    else if (component === undefined && !String(argv[i]).startsWith('-')) component = argv[i];
    else {
      process.stderr.write(`nitride host restart-component: unknown option ${String(argv[i])}\n`);
      return 2;
    }
  }
  if (component !== 'hypervisor' && component !== 'ebs' && component !== 'vpc') {
    process.stderr.write('usage: nitride host restart-component <hypervisor|ebs|vpc> [--home DIR] [--json]\n');
    return 2;
  }
  const pki = join(home, 'region', 'pki');
  const p = hostPaths(home);
  const rt = readRuntime(home);
  if (!existsSync(join(pki, 'region.crt')) || !existsSync(join(pki, 'region.key')) || !existsSync(p.ca)) {
    process.stderr.write(`nitride host restart-component: no region credential in ${pki} or the host is not enrolled; run it on the region's machine with its NITRIDE_HOME\n`);
    return 1;
  }
  if (!rt) {
    process.stderr.write('nitride host restart-component: the controller is not running\n');
    return 1;
  }
  const client = new ControllerClient({
    address: rt.address,
    port: rt.port,
    caPem: readFileSync(join(pki, 'ca.crt'), 'utf8'),
    certPem: readFileSync(join(pki, 'region.crt'), 'utf8'),
    keyPem: readFileSync(join(pki, 'region.key'), 'utf8'),
    hostId: rt.hostId,
    retries: 0,
  });
  try {
    const r = await client.send('host.restart-component', { component }, { timeoutMs: 180_000 });
    if (json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else {
      const x = r as { volumes?: number; outageMs?: number; totalMs?: number; current?: { pid?: number } };
      process.stdout.write(
        component === 'ebs'
          ? `ebs card replaced (pid ${String(x.current?.pid)}): ${String(x.volumes)} volume(s) handed over; exports closed for ${String(x.outageMs)} ms; ${String(x.totalMs)} ms in all\n`
          : component === 'vpc'
            ? `vpc card replaced live: ${JSON.stringify((r as { liveUpdate?: unknown }).liveUpdate)}\n`
            : `${component} restarted: ${JSON.stringify(r)}\n`,
      );
    }
    return 0;
  } catch (e) {
    process.stderr.write(`nitride host restart-component: ${describeError(e)}\n`);
    return 1;
  } finally {
    client.close();
  }
}
