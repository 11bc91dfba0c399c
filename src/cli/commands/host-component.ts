// `nitride host restart-component <hypervisor|ebs|vpc> [--home DIR] [--json]`: replaces a host
// component through the region → controller path. It runs on the region's machine: it signs
// the controller command with the region's own client credential ($NITRIDE_HOME/region/pki,
// OU nitride-region) and sends it to the local controller, which audits it like every
// command. For ebs this is the live update (the old card seals its keys to the new one).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ControllerClient } from '../../controller/client.js';
import { hostPaths, readRuntime } from '../../controller/host-state.js';
import { describeError } from '../../lib/errors.js';
import { nitrideHome } from '../../lib/paths.js';

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
