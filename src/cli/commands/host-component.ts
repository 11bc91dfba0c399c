// `nitride host restart-component <hypervisor|ebs|vpc> [--home DIR] [--json]`: replaces a host
// component through the region → controller path. It runs on the region's machine: it signs
// the controller command with the region's own client credential ($NITRIDE_HOME/region/pki,
// OU nitride-region) and sends it to the local controller, which audits it like every
// command. For ebs this is the live update (the old card seals its keys to the new one).
import type { HostUpdateParams } from '../../controller/protocol/commands.js';
import { existsSync, readFileSync } from 'node:fs';
import { regionRequest } from '../../lib/region-request.js';
import { isAbsolute, join, resolve } from 'node:path';
import { signRequest } from '../../iam/sigv4/index.js';
import { ControllerClient } from '../../controller/client.js';
import { hostPaths, readRuntime } from '../../controller/host-state.js';
import { describeError } from '../../lib/errors.js';
import { nitrideHome } from '../../lib/paths.js';
import { readAwsProfile } from '../../lib/aws-profile.js';

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

const UPDATE_USAGE = 'usage: nitride host update --component <hypervisor|ebs|vpc|controller> (--bundle DIR | --rollback) [--host-id ID] [--home DIR] [--json] [--direct]\n';

/** The region API endpoint and the operator's key from $NITRIDE_HOME/aws (the profile `nitride` the region writes), if any. */
export function regionApi(home: string): { endpoint: string; accessKeyId: string; secretAccessKey: string; caBundle?: string } | undefined {
  const p = readAwsProfile(home, 'nitride');
  return p?.endpointUrl !== undefined ? { endpoint: p.endpointUrl, accessKeyId: p.accessKeyId, secretAccessKey: p.secretAccessKey, ...(p.caBundle !== undefined ? { caBundle: p.caBundle } : {}) } : undefined;
}

/** One signed Query API call to the region; the response's leaf elements, or the EC2 error. */
export async function callRegion(api: { endpoint: string; accessKeyId: string; secretAccessKey: string; caBundle?: string }, params: Record<string, string>, timeoutMs = 900_000): Promise<Record<string, string>> {
  const form = new URLSearchParams({ ...params, Version: '2016-11-15' }).toString();
  const url = new URL(api.endpoint);
  const signed = signRequest(
    { method: 'POST', path: '/', query: '', headers: { host: url.host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: form },
    { accessKeyId: api.accessKeyId, secretAccessKey: api.secretAccessKey },
    { region: 'local-1', service: 'ec2' },
  );
  const { status, body } = await new Promise<{ status: number; body: string }>((res, rej) => {
    const req = regionRequest(url, api.caBundle, { method: 'POST', path: '/', headers: { ...signed.headers, 'content-length': String(Buffer.byteLength(form)) }, timeout: timeoutMs }, (r) => {
      let b = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => (b += d));
      r.on('end', () => res({ status: r.statusCode ?? 0, body: b }));
      r.on('error', rej);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from the region within ${timeoutMs} ms`)));
    req.on('error', rej);
    req.end(form);
  });
  const unescape = (x: string): string => x.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
  if (status !== 200) {
    const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1] ?? `HTTP${status}`;
    const message = unescape(/<Message>([^<]*)<\/Message>/.exec(body)?.[1] ?? body.slice(0, 200));
    throw new Error(`${code}: ${message}`);
  }
  const out: Record<string, string> = {};
  for (const m of body.matchAll(/<([A-Za-z]+)>([^<]*)<\/\1>/g)) out[m[1]!] = unescape(m[2]!);
  return out;
}

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
  let direct = false;
  let hostId: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if ((a === '--home' || a === '--component' || a === '--bundle' || a === '--host-id') && v === undefined) {
      process.stderr.write(`nitride host update: ${a} needs a value\n${UPDATE_USAGE}`);
      return 2;
    }
    if (a === '--home') home = argv[++i] as string;
    else if (a === '--component') component = argv[++i];
    else if (a === '--bundle') bundle = argv[++i];
    else if (a === '--rollback') rollback = true;
    else if (a === '--json') json = true;
    else if (a === '--direct') direct = true;
    else if (a === '--host-id') hostId = argv[++i];
    else {
      process.stderr.write(`nitride host update: unknown option ${String(a)}\n${UPDATE_USAGE}`);
      return 2;
    }
  }
  if ((component !== 'hypervisor' && component !== 'ebs' && component !== 'vpc' && component !== 'controller') || (bundle === undefined) === !rollback) {
    process.stderr.write(UPDATE_USAGE);
    return 2;
  }
  // Through the region's API (SigV4, IAM, the region's audit trail, the host's release policy
  // kept in step) when a region runs in this home; --direct sends host.update to the local
  // controller with the region's credential (no region process needed; the region's policy is
  // then the operator's to update).
  const api = direct ? undefined : regionApi(home);
  if (api) {
    try {
      const r = await callRegion(api, {
        Action: 'NitrideUpdateHostComponent',
        Component: component,
        ...(hostId !== undefined ? { HostId: hostId } : {}),
        ...(rollback ? { Rollback: 'true' } : { Bundle: isAbsolute(bundle as string) ? (bundle as string) : resolve(bundle as string) }),
      });
      if (json) process.stdout.write(`${JSON.stringify({ ...r, attested: r['attested'] === 'true' })}\n`);
      else {
        process.stdout.write(
          `${component} on ${r['hostId']} ${rollback ? 'rolled back' : 'updated'}: ${r['previousVersion'] ?? '?'} -> ${r['version']} (sha384 ${(r['digest'] ?? '').slice(0, 16)}…); held to release ${r['release']}; attestation ${r['attested'] === 'true' ? 'ok' : 'REFUSED'}\n`,
        );
      }
      return r['attested'] === 'true' ? 0 : 1;
    } catch (e) {
      process.stderr.write(`nitride host update: ${describeError(e)}\n`);
      return 1;
    }
  }
  if (hostId !== undefined) {
    process.stderr.write('nitride host update: --host-id needs the region (no region in this home); --direct reaches the local controller only\n');
    return 2;
  }
  const client = regionClient(home, 'update');
  if (typeof client === 'string') {
    process.stderr.write(`${client}\n`);
    return 1;
  }
  try {
    // The component name goes as the operator typed it: the controller's parser is the one check.
    const name = component as HostUpdateParams['component'];
    const params: HostUpdateParams = rollback ? { component: name, rollback: true } : { component: name, bundle: isAbsolute(bundle as string) ? (bundle as string) : resolve(bundle as string) };
    const r = await client.send('host.update', params, { timeoutMs: 300_000 });
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
  const client = regionClient(home, 'restart-component');
  if (typeof client === 'string') {
    process.stderr.write(`${client}\n`);
    return 1;
  }
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
