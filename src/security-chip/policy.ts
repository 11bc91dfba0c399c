// The region's PCR policy: the expected register values for a release. A policy is JSON,
//   { "release": "2026.11.28-1", "pcrs": { "1": "<96 hex>", "2": "…", … }, "description"?: "…" }
// and names only the registers that are the same on every host running the release (the
// component bundles 1..4 and the release key 7); host configuration (0), QEMU (5) and guest
// images (6) differ per host and are judged from the event log instead. Pure.
import { SecurityChipError } from './errors.js';
import type { VerifiedAttestation } from './attestation-document.js';
import type { VerifiedBundle } from './bundle.js';
import { verifyEventLog } from './event-log.js';
import { COMPONENT_PCR, PCR, comparePcrs, singleExtension, type PcrMismatch, type PcrValues } from './pcr.js';

export interface PcrPolicy {
  readonly release: string;
  readonly pcrs: PcrValues;
  readonly description?: string;
}

export type PolicyResult = { readonly ok: true; readonly release: string; readonly checked: number[] } | { readonly ok: false; readonly release: string; readonly mismatches: PcrMismatch[] };

function invalid(reason: string): SecurityChipError {
  return new SecurityChipError('PolicyInvalid', 'invalid', `The PCR policy is invalid: ${reason}.`, { reason });
}

/** Validates a policy read from JSON. */
export function parsePcrPolicy(raw: unknown): PcrPolicy {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid('it is not a JSON object');
  const o = raw as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => !['release', 'pcrs', 'description'].includes(k));
  if (extra.length > 0) throw invalid(`it has unknown fields ${extra.join(', ')}`);
  if (typeof o['release'] !== 'string' || o['release'].length === 0 || o['release'].length > 128) throw invalid('release must be a non-empty string');
  const p = o['pcrs'];
  if (typeof p !== 'object' || p === null || Array.isArray(p)) throw invalid('pcrs must be an object of index to hex');
  const pcrs: Record<string, string> = {};
  for (const [i, v] of Object.entries(p as Record<string, unknown>)) {
    if (!/^(0|[1-9]\d?)$/.test(i) || Number(i) >= 32) throw invalid(`'${i.slice(0, 16)}' is not a PCR index 0..31`);
    if (typeof v !== 'string' || !/^[0-9a-fA-F]{96}$/.test(v)) throw invalid(`PCR ${i} is not 96 hex characters`);
    pcrs[i] = v.toLowerCase();
  }
  if (Object.keys(pcrs).length === 0) throw invalid('it names no PCR');
  const d = o['description'];
  if (d !== undefined && typeof d !== 'string') throw invalid('description must be a string');
  return { release: o['release'], pcrs, ...(typeof d === 'string' ? { description: d } : {}) };
}

/** Compares a verified attestation's registers with a policy. */
export function checkPolicy(att: Pick<VerifiedAttestation, 'pcrs'>, policy: PcrPolicy): PolicyResult {
  const mismatches = comparePcrs(policy.pcrs, att.pcrs);
  if (mismatches.length > 0) return { ok: false, release: policy.release, mismatches };
  return { ok: true, release: policy.release, checked: Object.keys(policy.pcrs).map(Number).sort((a, b) => a - b) };
}

/** Like checkPolicy, but throws AttestationPcrMismatch (context.mismatches, context.release). */
export function assertPolicy(att: Pick<VerifiedAttestation, 'pcrs'>, policy: PcrPolicy): void {
  const r = checkPolicy(att, policy);
  if (!r.ok) {
    throw new SecurityChipError('AttestationPcrMismatch', 'denied', `The attested values of PCR ${r.mismatches.map((m) => m.pcr).join(', ')} differ from the policy for release ${policy.release}.`, {
      release: policy.release,
      mismatches: r.mismatches,
    });
  }
}

/**
 * The policy a release's bundles imply: each bundle's register after its one extension from
 * zero, and PCR 7 after the release key's. Holds when measured start extends each of these
 * registers exactly once (see docs/SECURITY-CHIP.md).
 */
export function policyFromBundles(release: string, bundles: readonly VerifiedBundle[], description?: string): PcrPolicy {
  if (bundles.length === 0) throw invalid('no bundle was given');
  const pcrs: Record<string, string> = {};
  const keys = new Set(bundles.map((b) => b.releaseKeyDigest));
  if (keys.size > 1) throw invalid('the bundles were verified with different release keys');
  for (const b of bundles) {
    const i = String(COMPONENT_PCR[b.manifest.name]);
    if (pcrs[i] !== undefined) throw invalid(`two bundles are the ${b.manifest.name} component`);
    pcrs[i] = singleExtension(b.digest);
  }
  const [key] = keys;
  if (key !== undefined) pcrs[String(PCR.RELEASE_KEY)] = singleExtension(key);
  return parsePcrPolicy({ release, pcrs, ...(description !== undefined ? { description } : {}) });
}

/**
 * Release measurements: the sha384 each register's LATEST event must carry for a host to run
 * the release. Unlike PcrPolicy (exact register values, which hold only when each register
 * was extended once), this survives live updates: an updated component extends its register
 * again, the value changes, but the log's last event for the register names what runs now.
 */
export interface ReleaseMeasurements {
  readonly release: string;
  /** PCR index → sha384 of the measurement its latest event must carry, hex. */
  readonly measurements: PcrValues;
}

export function releaseMeasurements(release: string, bundles: readonly VerifiedBundle[]): ReleaseMeasurements {
  const p = policyFromBundles(release, bundles); // the same checks (one key, one bundle per component)
  const measurements: Record<string, string> = {};
  for (const b of bundles) measurements[String(COMPONENT_PCR[b.manifest.name])] = b.digest;
  measurements[String(PCR.RELEASE_KEY)] = (bundles[0] as VerifiedBundle).releaseKeyDigest;
  return { release: p.release, measurements };
}

/**
 * Checks that the event log replays to the attested PCRs (EventLogMismatch otherwise), then
 * that each register's latest event carries the release's measurement. A mismatch's actual
 * is the latest digest logged for that register (null when none).
 */
export function checkLatestMeasurements(log: unknown, attestedPcrs: PcrValues | ReadonlyMap<number, Buffer>, rm: ReleaseMeasurements): PolicyResult {
  const events = verifyEventLog(log, attestedPcrs);
  const latest = new Map<number, string>();
  for (const e of events) latest.set(e.pcrIndex, e.digest);
  const mismatches: PcrMismatch[] = [];
  const checked: number[] = [];
  for (const [i, want] of Object.entries(rm.measurements).sort(([a], [b]) => Number(a) - Number(b))) {
    const got = latest.get(Number(i)) ?? null;
    checked.push(Number(i));
    if (got !== want.toLowerCase()) mismatches.push({ pcr: Number(i), expected: want.toLowerCase(), actual: got });
  }
  return mismatches.length > 0 ? { ok: false, release: rm.release, mismatches } : { ok: true, release: rm.release, checked };
}
