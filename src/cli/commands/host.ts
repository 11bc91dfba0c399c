// `nitride host …`: what a local operator legitimately needs on a host — its status, and
// the enrolment step. There is deliberately no shell, exec, debug, SSH or memory command:
// every administrative action on a host is a signed, audited controller command sent by
// the region.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readChain } from '../../audit/chain.js';
import { verifyTrail } from '../../audit/trail.js';
import { ControllerClient } from '../../controller/client.js';
import { hostPaths, initHost, readRuntime } from '../../controller/host-state.js';
import { describeError } from '../../lib/errors.js';
import { nitrideHome } from '../../lib/paths.js';
import { fingerprint } from '../../lib/pki/pki.js';
import { addHostCli } from './host-add.js';
import { restartComponentCli, updateComponentCli } from './host-component.js';

export const summary = 'host status and enrolment (init, enroll-token, status)';

export const SUBCOMMANDS: Readonly<Record<string, string>> = {
  status: 'show the host id, enrolment, controller process and (with an operator credential) live status',
  init: 'create the host key, host id and enrolment token (idempotent)',
  'restart-component': 'replace the hypervisor or the EBS card (live update) through the region → controller path: restart-component <hypervisor|ebs>',
  update: 'live update of a component to a signed bundle, or back: update --component <hypervisor|ebs|vpc|controller> (--bundle DIR | --rollback)',
  add: 'enrol a host with the region (on the region\'s machine): add --address A --port P --token T (--fingerprint SHA256 | --trust-on-first-use)',
  'enroll-token': "print the enrolment token for the region operator (--json adds the host id and bootstrap fingerprint)",
  help: 'show this list',
};

function usage(): string {
  const lines = ['usage: nitride host <subcommand> [--home DIR] [--json]', ''];
  for (const [k, v] of Object.entries(SUBCOMMANDS)) lines.push(`  ${k.padEnd(14)} ${v}`);
  return `${lines.join('\n')}\n`;
}

function options(argv: readonly string[]): { home: string; json: boolean } {
  let home = nitrideHome();
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--home' && argv[i + 1] !== undefined) home = argv[++i] as string;
    else if (argv[i] === '--json') json = true;
    else throw new Error(`unknown option ${String(argv[i])}`);
  }
  return { home, json };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function regionVerdict(home: string, hostId: string): unknown {
  try {
    const all = JSON.parse(readFileSync(join(home, 'region', 'host-attestation.json'), 'utf8')) as Record<string, unknown>;
    return all[hostId] ?? null;
  } catch {
    return null;
  }
}

async function status(home: string, json: boolean): Promise<number> {
  const p = hostPaths(home);
  if (!existsSync(p.key)) {
    process.stderr.write(`nitride host: no host state in ${p.dir}; run \`nitride host init\` or start the controller\n`);
    return 1;
  }
  const hostId = readFileSync(p.hostId, 'utf8').trim();
  const enrolled = existsSync(p.cert) && existsSync(p.ca);
  const rt = readRuntime(home);
  const running = rt !== undefined && pidAlive(rt.pid);
  const audit = verifyTrail(p.audit);
  const local: Record<string, unknown> = {
    hostId,
    enrolled,
    certificateFingerprint: fingerprint(readFileSync(enrolled ? p.cert : p.bootstrapCert, 'utf8')),
    controller: running ? { pid: rt.pid, address: rt.address, port: rt.port } : null,
    audit: audit.ok ? { ok: true, records: audit.records } : { ok: false, badLine: audit.badLine, reason: audit.reason },
    lastAudit: readChain(p.audit).slice(-1)[0]?.time ?? null,
    // The region's latest attestation verdict for this host, when the region runs on this
    // machine with the same NITRIDE_HOME (src/region/attestation-gate.ts writes it).
    regionAttestation: regionVerdict(home, hostId),
  };
  const cred = { cert: join(p.operatorDir, 'cert.pem'), key: join(p.operatorDir, 'key.pem') };
  let live: unknown = null;
  if (running && enrolled && existsSync(cred.cert) && existsSync(cred.key)) {
    const client = new ControllerClient({
      address: rt.address,
      port: rt.port,
      caPem: readFileSync(p.ca, 'utf8'),
      certPem: readFileSync(cred.cert, 'utf8'),
      keyPem: readFileSync(cred.key, 'utf8'),
      hostId,
      retries: 0,
    });
    try {
      live = await client.send('host.status', {});
    } catch (e) {
      live = { error: describeError(e) };
    } finally {
      client.close();
    }
  }
  if (json) {
    process.stdout.write(`${JSON.stringify({ ...local, live })}\n`);
    return 0;
  }
  const out = [
    `host id      ${hostId}`,
    `enrolled     ${enrolled ? 'yes' : 'no (give the region `nitride host enroll-token`)'}`,
    `certificate  sha256 ${String(local['certificateFingerprint'])}`,
    `controller   ${running ? `running, pid ${rt.pid}, listening on ${rt.address}:${rt.port}` : 'not running'}`,
    `audit log    ${audit.ok ? `${audit.records} records, chain verifies` : `BROKEN at line ${audit.badLine}: ${audit.reason}`}`,
  ];
  const ra = local['regionAttestation'] as { ok?: boolean; code?: string | null; at?: string; policy?: string | null } | null;
  if (ra) out.push(`attestation  ${ra.ok ? 'attested' : `REFUSED (${String(ra.code)}): this host gets no instances and no keys`} by the region at ${String(ra.at)} (policy ${String(ra.policy)})`);
  const chip = (live as { securityChip?: { mode?: string; note?: string } } | null)?.securityChip;
  if (chip) out.push(`measured     ${chip.mode === 'signed' ? 'signed bundles' : `dev: ${String(chip.note)}`}`);
  if (live !== null) out.push(`live status  ${JSON.stringify(live)}`);
  else if (running && enrolled) out.push(`live status  (no operator credential in ${p.operatorDir})`);
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    process.stdout.write(usage());
    return sub === undefined ? 2 : 0;
  }
  if (!(sub in SUBCOMMANDS)) {
    process.stderr.write(`nitride host: unknown subcommand '${sub}'\n${usage()}`);
    return 2;
  }
  if (sub === 'restart-component') return restartComponentCli(rest);
  if (sub === 'update') return updateComponentCli(rest);
  if (sub === 'add') return addHostCli(rest);
  let o: { home: string; json: boolean };
  try {
    o = options(rest);
  } catch (e) {
    process.stderr.write(`nitride host: ${(e as Error).message}\n${usage()}`);
    return 2;
  }
  switch (sub) {
    case 'status':
      return status(o.home, o.json);
    case 'init': {
      const id = await initHost(o.home);
      const fp = fingerprint(id.bootstrapCertPem);
      if (o.json) process.stdout.write(`${JSON.stringify({ hostId: id.hostId, enrolled: id.enrolment !== undefined, bootstrapFingerprint: fp })}\n`);
      else process.stdout.write(`host ${id.hostId} ${id.enrolment ? 'is enrolled' : `is ready to enrol; token in ${hostPaths(o.home).token}`}\nbootstrap certificate sha256 ${fp}\n`);
      return 0;
    }
    case 'enroll-token': {
      const id = await initHost(o.home);
      if (id.token === undefined) {
        process.stderr.write(`nitride host: host ${id.hostId} is already enrolled; there is no token\n`);
        return 1;
      }
      if (o.json) process.stdout.write(`${JSON.stringify({ hostId: id.hostId, token: id.token, bootstrapFingerprint: fingerprint(id.bootstrapCertPem) })}\n`);
      else process.stdout.write(`${id.token}\n`);
      return 0;
    }
    default:
      process.stdout.write(usage());
      return 0;
  }
}
