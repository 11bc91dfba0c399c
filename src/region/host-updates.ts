// Live updates of host components as region API calls (Nitride's own actions in the EC2 Query
// namespace, so they are SigV4-authenticated, IAM-authorized and in the region's audit trail
// before they take effect, like every other administrative action):
//   NitrideSetHostRelease     — stores a release's measurements (the output of `nitride release
//                               policy --measurements`) and holds a host to it;
//   NitrideUpdateHostComponent — moves one component of a host to a signed bundle (or back):
//     1. the region reads the bundle's manifest on its own machine (the operator puts the
//        bundle at the same path on the region node and on the host) and computes the
//        measurement the host must report: sha384 of manifest.json;
//     2. it sends host.update to the controller, which verifies the signature with its release
//        key, measures, hands over and retires the old version (src/controller);
//     3. the host must report exactly that measurement; the region then holds the host to a
//        release derived from the one it was on, with that component's register replaced,
//        remembers the previous release (for a rollback), and attests the host again at once.
//   A rollback sends host.update {rollback} and expects the previous release's measurement.
// Only the region operator's account may call them (hosts belong to the region, not to a
// tenant), and IAM must allow ec2:<Action> to a user of that account.
import type { EnrollTrust } from './fleet.js';
import type { HostRecord } from './ec2/model.js';
import type { HostUpdateParams, HostUpdateResult as HostUpdateReply } from '../controller/protocol/commands.js';
import type { CommandSender } from './command-sender.js';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReleaseMeasurements } from '../security-chip/policy.js';
import { COMPONENT_PCR } from '../security-chip/pcr.js';
import type { RegionAttestation } from './attestation-gate.js';
import { Ec2Error } from './protocol/errors.js';
import { isNitrideError } from '../lib/errors.js';

export type UpdatableComponent = 'hypervisor' | 'ebs' | 'vpc' | 'controller';
export const UPDATABLE: readonly UpdatableComponent[] = ['hypervisor', 'ebs', 'vpc', 'controller'];

const BUNDLE_NAME: Readonly<Record<UpdatableComponent, keyof typeof COMPONENT_PCR>> = { hypervisor: 'hypervisor', ebs: 'ebs-card', vpc: 'vpc-card', controller: 'controller' };

export interface HostUpdateFleet extends CommandSender {
  hosts(): readonly { readonly id: string }[];
  enroll(address: string, port: number, token: string, trust: EnrollTrust): Promise<HostRecord>;
}

export interface HostUpdateResult {
  readonly hostId: string;
  readonly component: UpdatableComponent;
  readonly version: string;
  readonly digest: string;
  readonly previousVersion: string | undefined;
  readonly release: string;
  readonly attested: boolean;
}

export interface HostReleaseResult {
  readonly hostId: string;
  readonly release: string;
  readonly attested: boolean;
}

interface Caller {
  readonly accountId: string;
}

const HEX96 = /^[0-9a-f]{96}$/;
const RELEASE_NAME = /^[A-Za-z0-9._+@:~-]{1,128}$/;

/** Validates the JSON of `nitride release policy --measurements`. */
export function parseReleaseMeasurements(text: string): ReleaseMeasurements {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Ec2Error('InvalidParameterValue', 'PolicyDocument is not JSON.');
  }
  const o = v as { release?: unknown; measurements?: unknown };
  if (typeof o !== 'object' || o === null || typeof o.release !== 'string' || !RELEASE_NAME.test(o.release)) {
    throw new Ec2Error('InvalidParameterValue', 'PolicyDocument needs a release name (letters, digits and ._+@:~-, at most 128).');
  }
  if (typeof o.measurements !== 'object' || o.measurements === null || Array.isArray(o.measurements)) throw new Ec2Error('InvalidParameterValue', 'PolicyDocument needs measurements: {"<pcr>": "<sha384 hex>"}.');
  const m: Record<string, string> = {};
  for (const [k, x] of Object.entries(o.measurements as Record<string, unknown>)) {
    if (!/^(?:[0-9]|1[0-5])$/.test(k)) throw new Ec2Error('InvalidParameterValue', `PolicyDocument names register ${k}; registers are 0-15.`);
    if (typeof x !== 'string' || !HEX96.test(x.toLowerCase())) throw new Ec2Error('InvalidParameterValue', `The measurement of register ${k} is not a sha384 in hex.`);
    m[k] = x.toLowerCase();
  }
  if (Object.keys(m).length === 0) throw new Ec2Error('InvalidParameterValue', 'PolicyDocument has no measurement.');
  return { release: o.release, measurements: m };
}

export class HostUpdateService {
  private busy = new Set<string>();

  constructor(
    private readonly o: {
      readonly fleet: HostUpdateFleet;
      readonly attestation: RegionAttestation;
      /** The region operator's account: the only one that administers hosts. */
      readonly operatorAccountId: string;
      readonly now?: () => number;
    },
  ) {}

  private operator(c: Caller): void {
    if (c.accountId !== this.o.operatorAccountId) throw new Ec2Error('UnauthorizedOperation', 'You are not authorized to perform this operation.');
  }

  /**
   * NitrideAddHost: enrols the controller at address:port (Fleet.enroll). The caller gives the
   * host's bootstrap fingerprint, or names trust on first use; the parser refuses neither.
   */
  async addHost(c: Caller, address: string, port: number, token: string, trust: EnrollTrust): Promise<{ hostId: string; certFingerprint: string; trust: string }> {
    this.operator(c);
    const h = await this.o.fleet.enroll(address, port, token, trust);
    return { hostId: h.id, certFingerprint: h.certFingerprint, trust: 'fingerprint' in trust ? 'pinned' : 'trust-on-first-use' };
  }

  private host(hostId: string | undefined): string {
    const hosts = this.o.fleet.hosts();
    if (hostId === undefined) {
      if (hosts.length === 1) return hosts[0]!.id;
      throw new Ec2Error('MissingParameter', `The request must contain the parameter HostId (the region has ${hosts.length} hosts).`);
    }
    if (!hosts.some((h) => h.id === hostId)) throw new Ec2Error('InvalidHostID.NotFound', `The host ID '${hostId}' does not exist`);
    return hostId;
  }

  async setRelease(c: Caller, hostId: string | undefined, policyDocument: string): Promise<HostReleaseResult> {
    this.operator(c);
    const id = this.host(hostId);
    const m = parseReleaseMeasurements(policyDocument);
    await this.o.attestation.setReleasePolicy(m);
    await this.o.attestation.assignRelease(id, m.release);
    const v = await this.o.attestation.attest(id, 'release-assigned');
    return { hostId: id, release: m.release, attested: v.ok };
  }

  async update(c: Caller, hostId: string | undefined, component: UpdatableComponent, target: { bundle: string } | { rollback: true }): Promise<HostUpdateResult> {
    this.operator(c);
    const id = this.host(hostId);
    const pcr = String(COMPONENT_PCR[BUNDLE_NAME[component]]);
    const base = this.o.attestation.policyOf(id);
    const record = this.o.attestation.hostRecord(id);
    if (!base || record?.kind !== 'host-release') {
      throw new Ec2Error('IncorrectState', `Host ${id} is not held to a release: load one first with NitrideSetHostRelease (nitride release policy --measurements).`);
    }
    let expected: string;
    let next: ReleaseMeasurements;
    let previous: string | undefined;
    if ('bundle' in target) {
      let manifest: Buffer;
      try {
        manifest = readFileSync(join(target.bundle, 'manifest.json'));
      } catch {
        throw new Ec2Error('InvalidParameterValue', `No bundle manifest at ${join(target.bundle, 'manifest.json')} on the region node.`);
      }
      let name: unknown;
      try {
        name = (JSON.parse(manifest.toString('utf8')) as { name?: unknown }).name;
      } catch {
        throw new Ec2Error('InvalidParameterValue', 'The bundle manifest is not JSON.');
      }
      if (name !== BUNDLE_NAME[component]) throw new Ec2Error('InvalidParameterValue', `The bundle is ${String(name)}, not ${BUNDLE_NAME[component]}.`);
      expected = createHash('sha384').update(manifest).digest('hex');
      next = { release: `${id}~${component}~${(this.o.now ?? Date.now)()}`, measurements: { ...base.measurements, [pcr]: expected } };
      previous = base.release;
    } else {
      const prev = record.previous !== undefined ? this.o.attestation.releasePolicy(record.previous) : undefined;
      if (!prev) throw new Ec2Error('IncorrectState', `Host ${id} has no previous release to go back to.`);
      const want = prev.measurements[pcr];
      if (want === undefined) throw new Ec2Error('IncorrectState', `The previous release of host ${id} does not measure ${component}.`);
      expected = want;
      next = prev;
      previous = undefined;
    }
    if (this.busy.has(id)) throw new Ec2Error('IncorrectState', `An update of host ${id} is in progress.`);
    this.busy.add(id);
    try {
      const params: HostUpdateParams = 'bundle' in target ? { component, bundle: target.bundle } : { component, rollback: true };
      let r: HostUpdateReply;
      try {
        r = await this.o.fleet.send(id, 'host.update', params, { id: `host-update:${id}:${component}:${Date.now()}`, timeoutMs: 600_000 });
      } catch (e) {
        // The host refused (a bad signature, a tampered file, dev mode, …) and kept running
        // its version: its code and message reach the caller as they are.
        if (isNitrideError(e) && e.kind !== 'internal' && e.kind !== 'unavailable') throw new Ec2Error(e.code, e.message);
        throw e;
      }
      const got = r.current?.digest;
      if (got !== expected) {
        throw new Ec2Error('InternalError', `Host ${id} reports ${component} measured as ${String(got)}, not the expected ${expected}; it stays refused until its release is set again.`);
      }
      if ('bundle' in target) await this.o.attestation.setReleasePolicy(next);
      await this.o.attestation.assignRelease(id, next.release, previous);
      let v = await this.o.attestation.attest(id, 'host-update');
      // A controller answers its update before it hands its listening socket to the successor:
      // the first attestation may find nobody listening for a moment.
      for (let i = 0; !v.ok && v.unreachable && i < 10; i++) {
        await new Promise((r) => setTimeout(r, 1_000));
        v = await this.o.attestation.attest(id, 'host-update');
      }
      return { hostId: id, component, version: r.current?.version ?? '', digest: expected, previousVersion: r.previous?.version ?? undefined, release: next.release, attested: v.ok };
    } finally {
      this.busy.delete(id);
    }
  }
}
