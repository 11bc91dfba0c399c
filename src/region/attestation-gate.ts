// "Attestation gates everything" (issue 6, item 4), the region's side.
//
// The region asks a host's controller for a fresh attestation (host.attest with a nonce from
// the region's NonceBook — a request the region initiates, like every controller command) at
// enrolment, before it places an instance on the host, and before a key release (the EBS path
// calls requireAttestedHost(hostId)). The reply is judged by gateHostAttestation against the
// region CA, the nonce, the host asked, and the host's policy:
//
//   - a release policy (ReleaseMeasurements, the latest measurement each of PCR 1–4 and 7
//     must carry) when the host is assigned a release (assignRelease) — for hosts running
//     signed bundles;
//   - for the local host that `nitride start` runs from the region's own tree, the
//     region's own dev-tree measurement (devTreeDigest) for PCR 1–4: the region checks that
//     the controller runs the very code the region runs;
//   - otherwise "trust on first attestation": the latest measurements of PCR 0–5 and 7 seen
//     at enrolment are recorded and every later attestation must match them. This detects a
//     change of the host's code, QEMU or configuration after enrolment; it does NOT prove
//     that what ran at enrolment was good.
//
// A refused host gets no instances (it is left out of placement, so RunInstances and
// StartInstances answer InsufficientInstanceCapacity when no other host fits) and no keys
// (requireAttestedHost throws). Every verdict is written to the region audit trail as a
// NitrideHostAttestation event, and the latest per host is in statusOf()/status() (shown
// by the fleet's host status and `nitride host status`).
//
// No gate uses a cached verdict. Each of these attests afresh, with a region nonce issued for
// it and not shared with an attestation already in flight:
//   - choosing hosts for RunInstances/StartInstances (placeable(), one attestation per host,
//     in parallel; reason 'placement');
//   - every instance.start sent to a host (Fleet.send; reason 'placement');
//   - every volume.attach sent to a host (Fleet.send; reason 'attach');
//   - every key release (requireAttestedHost(…, 'key-release')), whose card key is the one
//     that attestation binds.
// So a host whose measurements or card changed after its last ok verdict gets nothing placed,
// attached or released: the change is seen by the attestation made for that very step. The
// only verdict reused is "unreachable" (REFUSAL_RETRY_MS, 10 s), and only when choosing hosts:
// a host that did not answer may still be chosen (the instance stays pending), since the
// instance.start it needs is itself gated by a fresh attestation. The periodic re-attestation
// in the reconcile loop (verdict(), VERDICT_TTL_MS) only keeps the status current; it gates
// nothing.
import type { CommandSender } from './command-sender.js';
import { renameSync, writeFileSync } from 'node:fs';
import type { AuditTrail } from '../audit/trail.js';
import { devTreeDigest } from '../controller/host-security-chip.js';
import { createLogger } from '../lib/log.js';
import { describeError } from '../lib/errors.js';
import { gateHostAttestation, type GateVerdict } from '../security-chip/attestation-exchange.js';
import { NonceBook } from '../security-chip/nonce-book.js';
import { parseAttestReply } from '../security-chip/protocol/attest-wire.js';
import type { ReleaseMeasurements } from '../security-chip/policy.js';
import { Ec2Error } from './protocol/errors.js';
import type { Collection } from './repo.js';
import { REGION_NAME } from './ec2/model.js';

const log = createLogger('region.attestation');

/** How long the reconcile loop's status verdict stands before it re-attests (status only; no gate uses it). */
export const VERDICT_TTL_MS = 60_000;
/** How long a host that did not answer is not asked again when choosing hosts (it gets nothing without a fresh attestation). */
export const REFUSAL_RETRY_MS = 10_000;

/** Registers judged by trust on first attestation (6, guest images, grows with use). */
const TOFU_PCRS = [0, 1, 2, 3, 4, 5, 7];

/** One stored policy: a release's measurements, or one host's expectation. */
export interface AttestationPolicyRecord {
  /** `release:<name>` or `host:<hostId>`. */
  readonly id: string;
  readonly kind: 'release' | 'host-release' | 'tofu' | 'dev-local';
  /** kind release: the measurements; kind host-release: the release name in measurements.release. */
  readonly measurements: ReleaseMeasurements;
  readonly recordedAt: string;
  /** kind host-release: the release the host was held to before (a live update's rollback target). */
  readonly previous?: string;
}

export interface HostVerdict {
  readonly hostId: string;
  readonly ok: boolean;
  /** Refused only because the host did not answer (no document to judge). */
  readonly unreachable: boolean;
  readonly at: string;
  /** Why the region asked: enrolment, placement, key-release, status. */
  readonly reason: string;
  readonly policy: string | null;
  readonly code: string | null;
  readonly message: string | null;
  readonly mismatches: readonly { pcr: number; expected: string; actual: string | null }[];
  /** base64 of the EBS card public key the document binds (public_key), when any. */
  readonly ebsCardPublicKey: string | null;
}

/** What requireAttestedHost returns: the card key to seal data keys to (from the attested document). */
export interface AttestedHost {
  readonly hostId: string;
  readonly ebsCardPublicKey: Buffer | null;
  readonly verdict: HostVerdict;
}

export type AttestationFleet = CommandSender;

export interface RegionAttestationOptions {
  readonly fleet: AttestationFleet;
  readonly policies: Collection<AttestationPolicyRecord>;
  readonly caPem: string;
  readonly trail?: AuditTrail;
  /** Where the latest verdict per host is written as JSON (for `nitride host status` on the region's machine). */
  readonly statusFile?: string;
  readonly now?: () => number;
}

export class RegionAttestation {
  private readonly book = new NonceBook();
  private readonly verdicts = new Map<string, { v: HostVerdict; t: number; publicKey: Buffer | null }>();
  private readonly inflight = new Map<string, Promise<HostVerdict>>();
  private readonly now: () => number;

  constructor(private readonly o: RegionAttestationOptions) {
    this.now = o.now ?? Date.now;
  }

  // ---- policy store --------------------------------------------------------------

  /** Stores (or replaces) a release's measurements, e.g. from releaseMeasurements(release, bundles). */
  async setReleasePolicy(m: ReleaseMeasurements): Promise<void> {
    await this.o.policies.put({ id: `release:${m.release}`, kind: 'release', measurements: m, recordedAt: new Date(this.now()).toISOString() });
  }

  /** Assigns a host to a release: from now on it must attest that release's measurements. */
  async assignRelease(hostId: string, release: string, previous?: string): Promise<void> {
    if (!this.o.policies.get(`release:${release}`)) throw new Ec2Error('InvalidParameterValue', `No policy is stored for release ${release}.`);
    await this.o.policies.put({
      id: `host:${hostId}`,
      kind: 'host-release',
      measurements: { release, measurements: {} },
      recordedAt: new Date(this.now()).toISOString(),
      ...(previous !== undefined ? { previous } : {}),
    });
    this.verdicts.delete(hostId);
  }

  /** The host's own policy record (which kind of policy holds it), if any. */
  hostRecord(hostId: string): AttestationPolicyRecord | undefined {
    return this.o.policies.get(`host:${hostId}`);
  }

  /** A stored release's measurements. */
  releasePolicy(release: string): ReleaseMeasurements | undefined {
    return this.o.policies.get(`release:${release}`)?.measurements;
  }

  /** The local host started from this region's own tree: PCR 1–4 must be this tree's dev measurement. */
  async expectLocalDevTree(hostId: string): Promise<void> {
    const d = devTreeDigest().digest;
    await this.o.policies.put({
      id: `host:${hostId}`,
      kind: 'dev-local',
      measurements: { release: 'dev-local', measurements: { '1': d, '2': d, '3': d, '4': d } },
      recordedAt: new Date(this.now()).toISOString(),
    });
    this.verdicts.delete(hostId);
  }

  /** The measurements a host is held to, or undefined (no policy yet: trust on first attestation). */
  policyOf(hostId: string): ReleaseMeasurements | undefined {
    const h = this.o.policies.get(`host:${hostId}`);
    if (!h) return undefined;
    if (h.kind === 'host-release') {
      const r = this.o.policies.get(`release:${h.measurements.release}`);
      // An assigned release whose policy was removed: an empty policy would pass anything.
      return r?.measurements ?? { release: h.measurements.release, measurements: { '1': 'f'.repeat(96) } };
    }
    return h.measurements;
  }

  // ---- attestation ---------------------------------------------------------------

  /**
   * At enrolment: attests, and records trust-on-first-attestation measurements when the host
   * has no policy. (A host enrolled before the region had attestation gets its TOFU record at
   * its first attestation, whatever the reason.)
   */
  async enrolled(hostId: string): Promise<HostVerdict> {
    this.verdicts.delete(hostId);
    return this.attest(hostId, 'enrolment');
  }

  /** A fresh attestation, always (no cache). Never throws: a failure is a refused verdict. */
  attest(hostId: string, reason: string): Promise<HostVerdict> {
    const running = this.inflight.get(hostId);
    if (running) return running;
    const p = this.attestNow(hostId, reason).finally(() => this.inflight.delete(hostId));
    this.inflight.set(hostId, p);
    return p;
  }

  private async attestNow(hostId: string, reason: string): Promise<HostVerdict> {
    const nonce = this.book.issue().toString('hex');
    let verdict: HostVerdict;
    let publicKey: Buffer | null = null;
    try {
      const reply = await this.o.fleet.send(hostId, 'host.attest', { nonce }, { id: `attest:${hostId}:${nonce.slice(0, 32)}`, timeoutMs: 15_000 });
      let policy = this.policyOf(hostId);
      let tofuRecorded = false;
      if (policy === undefined) {
        // Trust on first attestation: the latest measurement of each register, as reported.
        // gateHostAttestation below still checks the signature, nonce, host and that the log
        // replays to the signed PCRs, so what is recorded is what the host signed.
        const { eventLog } = parseAttestReply(reply);
        const latest: Record<string, string> = {};
        for (const e of eventLog) if (TOFU_PCRS.includes(e.pcrIndex)) latest[String(e.pcrIndex)] = e.digest;
        policy = { release: `tofu:${hostId}`, measurements: latest };
        tofuRecorded = true;
      }
      const g: GateVerdict = gateHostAttestation(reply, { caPem: this.o.caPem, nonceBook: this.book, hostId, ...(policy !== undefined && Object.keys(policy.measurements).length > 0 ? { measurements: policy } : {}) });
      if (g.ok) {
        publicKey = g.attestation.publicKey;
        if (tofuRecorded && policy !== undefined) {
          await this.o.policies.put({ id: `host:${hostId}`, kind: 'tofu', measurements: policy, recordedAt: new Date(this.now()).toISOString() });
        }
      }
      verdict = {
        hostId,
        ok: g.ok && policy !== undefined,
        unreachable: false,
        at: new Date(this.now()).toISOString(),
        reason,
        policy: policy?.release ?? null,
        code: g.ok ? (policy === undefined ? 'AttestationNoPolicy' : null) : g.code,
        message: g.ok ? (policy === undefined ? `The region holds no PCR policy for host ${hostId}; it is attested at enrolment.` : null) : g.message,
        mismatches: g.ok ? [] : g.mismatches,
        ebsCardPublicKey: publicKey ? publicKey.toString('base64') : null,
      };
    } catch (e) {
      verdict = {
        hostId,
        ok: false,
        unreachable: true,
        at: new Date(this.now()).toISOString(),
        reason,
        policy: this.policyOf(hostId)?.release ?? null,
        code: (e as { code?: unknown }).code !== undefined ? String((e as { code?: unknown }).code) : 'AttestationUnavailable',
        message: `The host did not answer host.attest: ${describeError(e)}`.slice(0, 500),
        mismatches: [],
        ebsCardPublicKey: null,
      };
    }
    const prev = this.verdicts.get(hostId)?.v;
    this.verdicts.set(hostId, { v: verdict, t: this.now(), publicKey });
    if (!verdict.ok) log.warn('host attestation refused', { hostId, code: verdict.code, reason });
    // Every refusal and every change is audited; a periodic re-attestation that stays ok is not
    // (it would add a record per host per minute and say nothing new).
    if (!(reason === 'periodic' && verdict.ok && prev?.ok === true)) await this.audit(verdict);
    this.writeStatus();
    return verdict;
  }

  private writeStatus(): void {
    const f = this.o.statusFile;
    if (f === undefined) return;
    try {
      const all = Object.fromEntries([...this.verdicts].map(([id, c]) => [id, c.v]));
      writeFileSync(`${f}.tmp`, `${JSON.stringify(all)}\n`, { mode: 0o600 });
      renameSync(`${f}.tmp`, f);
    } catch (e) {
      log.warn('the attestation status file could not be written', { error: describeError(e) });
    }
  }

  private async audit(v: HostVerdict): Promise<void> {
    if (!this.o.trail) return;
    try {
      await this.o.trail.record({
        eventSource: 'nitride.region',
        eventName: 'NitrideHostAttestation',
        awsRegion: REGION_NAME,
        sourceIPAddress: 'nitride.region',
        userIdentity: { type: 'Unknown', principalId: 'nitride-region' },
        requestParameters: { hostId: v.hostId, reason: v.reason },
        responseElements: { verdict: v.ok ? 'attested' : 'refused', policy: v.policy, mismatches: v.mismatches.map((m) => ({ pcr: m.pcr, expected: m.expected, actual: m.actual })) },
        ...(v.ok ? {} : { errorCode: v.code ?? 'AttestationRefused', errorMessage: v.message ?? '' }),
        requestID: `attest-${v.hostId}-${Date.parse(v.at)}`,
        readOnly: true,
      });
    } catch (e) {
      log.error('the attestation verdict could not be audited', { hostId: v.hostId, error: describeError(e) });
    }
  }

  /** The latest verdict, however old. */
  statusOf(hostId: string): HostVerdict | undefined {
    return this.verdicts.get(hostId)?.v;
  }

  /**
   * For the reconcile loop's status only (it gates nothing): the latest verdict when it is no
   * older than the TTL (ok: 60 s; refusal: 10 s), else a fresh attestation.
   */
  async verdict(hostId: string, reason: string): Promise<HostVerdict> {
    const c = this.verdicts.get(hostId);
    if (c && this.now() - c.t < (c.v.ok ? VERDICT_TTL_MS : REFUSAL_RETRY_MS)) return c.v;
    return this.attest(hostId, reason);
  }

  /**
   * THE HOOK for every step that gives a host an instance, a volume or a key: a fresh
   * attestation made for this call (its own region nonce; never a cached verdict, never one
   * already in flight). Resolves with the EBS card public key that attestation bound (seal data
   * keys to THIS key, not to one read elsewhere); throws an Ec2Error otherwise
   * (InsufficientInstanceCapacity, since to EC2's callers a host that may not run guests is
   * missing capacity; the message names the refusal code, context.attestation has the verdict).
   * reason: 'placement' (instance.start), 'attach' (volume.attach), 'key-release'.
   */
  async requireAttestedHost(hostId: string, reason = 'key-release'): Promise<AttestedHost> {
    const v = await this.attestNow(hostId, reason);
    if (!v.ok) {
      throw new Ec2Error('InsufficientInstanceCapacity', `Host ${hostId} failed attestation (${v.code ?? 'refused'}); it gets no instances, no volumes and no keys.`, {
        context: { hostId, attestation: { code: v.code, policy: v.policy, mismatches: v.mismatches } },
        httpStatus: 500,
      });
    }
    return { hostId, ebsCardPublicKey: v.ebsCardPublicKey !== null ? Buffer.from(v.ebsCardPublicKey, 'base64') : null, verdict: v };
  }

  /**
   * Records a refusal found outside the attestation document itself (the EBS card names a key
   * other than the one the host's fresh attestation bound): the host's verdict becomes this
   * refusal — audited, in the status file, and it gets no instances or keys until it attests
   * again after the retry interval.
   */
  async refuse(hostId: string, reason: string, code: string, message: string): Promise<HostVerdict> {
    const prev = this.verdicts.get(hostId)?.v;
    const verdict: HostVerdict = { hostId, ok: false, unreachable: false, at: new Date(this.now()).toISOString(), reason, policy: prev?.policy ?? this.policyOf(hostId)?.release ?? null, code, message, mismatches: [], ebsCardPublicKey: prev?.ebsCardPublicKey ?? null };
    this.verdicts.set(hostId, { v: verdict, t: this.now(), publicKey: null });
    log.warn('host refused', { hostId, code, reason });
    await this.audit(verdict);
    this.writeStatus();
    return verdict;
  }

  /**
   * The hosts among ids that may be chosen for an instance, each attested afresh (in
   * parallel): those that attested now, and those that could not be asked (unreachable now, or
   * within the last REFUSAL_RETRY_MS: a host that is down is not asked again on every call) —
   * an instance placed on an unreachable host stays pending, and its instance.start is sent
   * only after a fresh attestation passes (Fleet.send). A host whose document was judged and
   * refused is never chosen.
   */
  async placeable(ids: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    await Promise.all(
      ids.map(async (id) => {
        const c = this.verdicts.get(id);
        if (c?.v.unreachable && this.now() - c.t < REFUSAL_RETRY_MS) {
          out.add(id);
          return;
        }
        const v = await this.attestNow(id, 'placement');
        if (v.ok || v.unreachable) out.add(id);
      }),
    );
    return out;
  }
}
