// The two ends of "attestation gates everything" (issue 6, item 4), as library calls:
//   answerAttestation  — the host side (the controller's host.attest handler): signs a fresh
//                        document over the current PCRs with the region's nonce, binding the
//                        EBS card's public key, and returns it with the event log.
//   gateHostAttestation — the region side: verifies the reply against the CA, its own
//                        single-use nonce, the host it meant to ask, and the release policy,
//                        and returns a verdict (never throws for a refusal) to record in the
//                        audit trail and in `nitride host status`.
import { X509Certificate } from 'node:crypto';
import { createAttestationDocument, verifyAttestationDocument, type VerifiedAttestation } from './attestation-document.js';
import { SecurityChipError } from './errors.js';
import { verifyEventLog } from './event-log.js';
import type { NonceBook } from './nonce-book.js';
import type { PcrBank, PcrMismatch } from './pcr.js';
import { checkLatestMeasurements, checkPolicy, type PcrPolicy, type ReleaseMeasurements } from './policy.js';
import { parseAttestParams, parseAttestReply, type AttestReply } from './protocol/attest-wire.js';

const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

export interface HostIdentityMaterial {
  readonly hostKeyPem: string;
  readonly hostCertPem: string;
  /** Root first; for Nitride, [region CA]. */
  readonly caChainPem: readonly string[];
  /** module_id: the host id. */
  readonly moduleId: string;
}

/** Host side: answers host.attest params ({nonce, userData?}) with {document, eventLog}. */
export function answerAttestation(id: HostIdentityMaterial, bank: PcrBank, params: unknown, opts: { publicKey?: Buffer; now?: number } = {}): AttestReply {
  const p = parseAttestParams(params);
  const document = createAttestationDocument({
    ...id,
    pcrs: bank.values(),
    nonce: Buffer.from(p.nonce, 'hex'),
    ...(p.userData !== undefined ? { userData: Buffer.from(p.userData, 'hex') } : {}),
    ...(opts.publicKey !== undefined ? { publicKey: opts.publicKey } : {}),
    ...(opts.now !== undefined ? { timestamp: opts.now } : {}),
  });
  return { document: document.toString('base64'), eventLog: bank.events() };
}

export interface GateOptions {
  readonly caPem: string;
  /** The book the region issued this request's nonce from; the nonce is consumed. */
  readonly nonceBook: NonceBook;
  /** The host the region asked: the document's module_id and certificate CN must be it. */
  readonly hostId: string;
  /** Exact register values (single start), or latest measurements (survives live updates), or both. */
  readonly policy?: PcrPolicy;
  readonly measurements?: ReleaseMeasurements;
  /** When given, the attested public_key must equal it (e.g. the EBS card's SPKI DER). */
  readonly expectPublicKey?: Buffer;
  readonly maxAgeMs?: number;
  readonly now?: number;
}

export type GateVerdict =
  | { readonly ok: true; readonly hostId: string; readonly release: string | undefined; readonly attestation: VerifiedAttestation; readonly checked: number[] }
  | { readonly ok: false; readonly hostId: string; readonly code: string; readonly message: string; readonly mismatches: PcrMismatch[]; readonly context: Record<string, unknown> };

/** Region side: verifies a host.attest reply. Refusals are verdicts (ok: false, code, mismatches), not exceptions. */
export function gateHostAttestation(reply: unknown, o: GateOptions): GateVerdict {
  const refuse = (e: SecurityChipError): GateVerdict => ({
    ok: false,
    hostId: o.hostId,
    code: e.code,
    message: e.message,
    mismatches: (e.context['mismatches'] as PcrMismatch[] | undefined) ?? [],
    context: e.context,
  });
  try {
    const { document, eventLog } = parseAttestReply(reply);
    const att = verifyAttestationDocument(document, {
      caPem: o.caPem,
      nonceBook: o.nonceBook,
      ...(o.maxAgeMs !== undefined ? { maxAgeMs: o.maxAgeMs } : {}),
      ...(o.now !== undefined ? { now: o.now } : {}),
    });
    if (att.moduleId !== o.hostId || att.hostCommonName !== o.hostId) {
      throw new SecurityChipError('AttestationHostMismatch', 'denied', `The attestation is from ${att.hostCommonName ?? '?'} (module ${att.moduleId}), not ${o.hostId}.`, { moduleId: att.moduleId, commonName: att.hostCommonName ?? null });
    }
    // Only host certificates (serverAuth, as enrolment issues them) may attest; the region's
    // and operators' client certificates from the same CA may not, whatever their CN.
    if (!(new X509Certificate(att.certificatePem).keyUsage ?? []).includes(OID_SERVER_AUTH)) {
      throw new SecurityChipError('AttestationHostMismatch', 'denied', 'The attestation is signed with a certificate that is not a host certificate (no serverAuth usage).', { commonName: att.hostCommonName ?? null });
    }
    if (o.expectPublicKey !== undefined && (att.publicKey === null || !att.publicKey.equals(o.expectPublicKey))) {
      throw new SecurityChipError('AttestationPublicKeyMismatch', 'denied', 'The attested public_key is not the expected key.', {});
    }
    verifyEventLog(eventLog, att.pcrs);
    const checked = new Set<number>();
    const mismatches: PcrMismatch[] = [];
    let release: string | undefined;
    if (o.policy !== undefined) {
      release = o.policy.release;
      const r = checkPolicy(att, o.policy);
      if (r.ok) r.checked.forEach((i) => checked.add(i));
      else mismatches.push(...r.mismatches);
    }
    if (o.measurements !== undefined) {
      release = o.measurements.release;
      const r = checkLatestMeasurements(eventLog, att.pcrs, o.measurements);
      if (r.ok) r.checked.forEach((i) => checked.add(i));
      else mismatches.push(...r.mismatches);
    }
    if (mismatches.length > 0) {
      throw new SecurityChipError('AttestationPcrMismatch', 'denied', `The host's PCR ${[...new Set(mismatches.map((m) => m.pcr))].join(', ')} differ from the policy for release ${release ?? '?'}.`, { release, mismatches });
    }
    return { ok: true, hostId: o.hostId, release, attestation: att, checked: [...checked].sort((a, b) => a - b) };
  } catch (e) {
    if (e instanceof SecurityChipError) return refuse(e);
    throw e;
  }
}
