// Attestation documents shaped like AWS Nitro's: a COSE_Sign1 (tag 18) signed with ES384 by
// the host identity key, over a CBOR payload of module_id, timestamp, digest "SHA384", pcrs,
// certificate (the host identity certificate, DER), cabundle (DER, root first) and optional
// public_key, user_data and nonce.
//
// Verification, in order, each with a stable code:
//   AttestationMalformed        not a COSE_Sign1 / payload not the expected map / alg not ES384
//   AttestationSignatureInvalid the signature does not verify with the certificate's key
//   AttestationCertUntrusted    the certificate does not chain to the given CA, or is expired
//   AttestationStale            the timestamp is older than maxAgeMs or in the future
//   AttestationNonceMismatch    the nonce is not the one the verifier chose
//   AttestationNonceReplayed    (with a NonceBook) the nonce was already used
//   AttestationPcrMismatch      context.mismatches: [{pcr, expected, actual}]
import { X509Certificate, createPrivateKey, createPublicKey, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { SecurityChipError } from './errors.js';
import type { NonceBook } from './nonce-book.js';
import { comparePcrs, type PcrValues } from './pcr.js';
import { decodeAttestationPayload, encodeAttestationPayload, type AttestationPayload } from './protocol/attestation-doc.js';
import { COSE_ALG_ES384, COSE_HEADER_ALG, ES384_SIGNATURE_BYTES, decodeSign1, encodeSign1, protectedHeaderBytes, sigStructure } from './protocol/cose.js';

export interface CreateAttestationOptions {
  /** The host identity key (P-384, PKCS#8 PEM). */
  readonly hostKeyPem: string;
  /** The host identity certificate issued by the region CA at enrolment (PEM). */
  readonly hostCertPem: string;
  /** The chain above the host certificate, root first (for Nitride: [region CA]). */
  readonly caChainPem: readonly string[];
  readonly moduleId: string;
  readonly pcrs: ReadonlyMap<number, Buffer> | PcrValues;
  readonly nonce?: Buffer;
  readonly userData?: Buffer;
  /** A public key to bind into the document, e.g. the EBS card's (DER SPKI or any bytes ≤ 1024). */
  readonly publicKey?: Buffer;
  /** Milliseconds since the epoch (default now). */
  readonly timestamp?: number;
}

export interface VerifyAttestationOptions {
  /** The trust anchor: the region CA certificate (PEM). */
  readonly caPem: string;
  /** Expected PCR values {"index": hex}; only the named registers are checked. */
  readonly expectedPcrs?: PcrValues;
  /** The nonce the verifier chose (Buffer or hex); the document must carry exactly it. */
  readonly nonce?: Buffer | string;
  /** Single-use check: the document's nonce must be outstanding in the book; it is consumed. */
  readonly nonceBook?: NonceBook;
  /** Oldest document accepted (default 300000 ms). */
  readonly maxAgeMs?: number;
  /** Tolerated clock skew into the future (default 60000 ms). */
  readonly maxSkewMs?: number;
  readonly now?: number;
}

export interface VerifiedAttestation {
  readonly payload: AttestationPayload;
  readonly moduleId: string;
  readonly timestamp: number;
  /** Every register the document carries, {"index": hex}. */
  readonly pcrs: Record<string, string>;
  readonly publicKey: Buffer | null;
  readonly userData: Buffer | null;
  readonly nonce: Buffer | null;
  /** The host identity certificate (PEM) and its subject CN (the host id as enrolled). */
  readonly certificatePem: string;
  readonly hostCommonName: string | undefined;
}

function fail(code: string, message: string, context: Record<string, unknown> = {}, cause?: unknown): SecurityChipError {
  return new SecurityChipError(code, code === 'AttestationMalformed' || code === 'AttestationInputInvalid' ? 'invalid' : 'denied', message, context, cause === undefined ? undefined : { cause });
}

function pcrMap(p: ReadonlyMap<number, Buffer> | PcrValues): Map<number, Buffer> {
  if (p instanceof Map) return new Map(p);
  return new Map(
    Object.entries(p as PcrValues).map(([i, h]) => {
      if (!/^\d{1,2}$/.test(i) || !/^[0-9a-fA-F]{96}$/.test(h)) throw fail('AttestationInputInvalid', `PCR ${i} is not an index with a 96-character hex value.`, { pcr: i });
      return [Number(i), Buffer.from(h, 'hex')];
    }),
  );
}

function p384(k: KeyObject, what: string): void {
  if (k.asymmetricKeyType !== 'ec' || k.asymmetricKeyDetails?.namedCurve !== 'secp384r1') {
    throw fail(what === 'host key' ? 'AttestationInputInvalid' : 'AttestationCertUntrusted', `The ${what} is not an ECDSA P-384 key.`, { what });
  }
}

/** Creates and signs an attestation document; returns the COSE_Sign1 bytes. */
export function createAttestationDocument(o: CreateAttestationOptions): Buffer {
  let key: KeyObject;
  let cert: X509Certificate;
  try {
    key = createPrivateKey(o.hostKeyPem);
    cert = new X509Certificate(o.hostCertPem);
  } catch (e) {
    throw fail('AttestationInputInvalid', 'The host key or certificate is not readable PEM.', {}, e);
  }
  p384(key, 'host key');
  const pub = createPublicKey(key).export({ type: 'spki', format: 'der' });
  if (!cert.publicKey.export({ type: 'spki', format: 'der' }).equals(pub)) throw fail('AttestationInputInvalid', 'The host certificate is not for the host key.', {});
  const cabundle = o.caChainPem.map((pem) => {
    try {
      return new X509Certificate(pem).raw;
    } catch (e) {
      throw fail('AttestationInputInvalid', 'A CA chain certificate is not readable PEM.', {}, e);
    }
  });
  const payload = encodeAttestationPayload({
    moduleId: o.moduleId,
    digest: 'SHA384',
    timestamp: o.timestamp ?? Date.now(),
    pcrs: pcrMap(o.pcrs),
    certificate: cert.raw,
    cabundle,
    publicKey: o.publicKey ?? null,
    userData: o.userData ?? null,
    nonce: o.nonce ?? null,
  });
  const protectedBytes = protectedHeaderBytes(COSE_ALG_ES384);
  const signature = sign('sha384', sigStructure(protectedBytes, payload), { key, dsaEncoding: 'ieee-p1363' });
  return encodeSign1({ protectedBytes, unprotected: new Map(), payload, signature });
}

function derToPem(der: Buffer): X509Certificate {
  return new X509Certificate(der);
}

function withinValidity(c: X509Certificate, now: number): boolean {
  return Date.parse(c.validFrom) <= now && now <= Date.parse(c.validTo);
}

/** Builds a path leaf → (cabundle intermediates) → anchor; throws AttestationCertUntrusted with the reason. */
function checkChain(leaf: X509Certificate, bundle: readonly X509Certificate[], anchor: X509Certificate, now: number): void {
  const untrusted = (reason: string): SecurityChipError => fail('AttestationCertUntrusted', `The host certificate is not trusted: ${reason}.`, { reason, subject: leaf.subject.replace(/\n/g, ', ') });
  if (!withinValidity(anchor, now)) throw untrusted('the CA certificate is outside its validity period');
  let cur = leaf;
  const used = new Set<X509Certificate>();
  for (let depth = 0; depth < 8; depth++) {
    if (!withinValidity(cur, now)) throw untrusted(`the certificate ${cur.subject.replace(/\n/g, ', ')} is outside its validity period`);
    if (cur.checkIssued(anchor) && cur.verify(anchor.publicKey)) return;
    const next = bundle.find((c) => !used.has(c) && c.ca && !c.raw.equals(cur.raw) && cur.checkIssued(c) && cur.verify(c.publicKey));
    if (!next) throw untrusted('no chain to the given CA');
    used.add(next);
    cur = next;
  }
  throw untrusted('the chain is longer than 8 certificates');
}

/** Verifies an attestation document; throws a SecurityChipError with one of the codes above. */
export function verifyAttestationDocument(doc: Uint8Array, o: VerifyAttestationOptions): VerifiedAttestation {
  const now = o.now ?? Date.now();
  // 1. Structure.
  let sign1;
  let payload: AttestationPayload;
  try {
    sign1 = decodeSign1(doc);
    payload = decodeAttestationPayload(sign1.payload);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw fail('AttestationMalformed', 'The attestation document is not a well-formed COSE_Sign1 attestation document.', { reason, ...(e instanceof SecurityChipError ? { detail: e.context } : {}) }, e);
  }
  const alg = sign1.protectedHeader.get(COSE_HEADER_ALG);
  if (alg !== COSE_ALG_ES384 || sign1.protectedHeader.size !== 1) throw fail('AttestationMalformed', 'The attestation document is not signed with ES384 (protected header {1: -35}).', { alg: String(alg) });
  if (sign1.signature.length !== ES384_SIGNATURE_BYTES) throw fail('AttestationMalformed', `The signature is ${sign1.signature.length} bytes, not ${ES384_SIGNATURE_BYTES}.`, {});
  let leaf: X509Certificate;
  let bundle: X509Certificate[];
  let anchor: X509Certificate;
  try {
    leaf = derToPem(payload.certificate);
    bundle = payload.cabundle.map(derToPem);
  } catch (e) {
    throw fail('AttestationMalformed', 'A certificate in the attestation document is not valid DER.', {}, e);
  }
  try {
    anchor = new X509Certificate(o.caPem);
  } catch (e) {
    throw fail('AttestationInputInvalid', 'The CA certificate is not readable PEM.', {}, e);
  }
  // 2. Signature with the certificate's key.
  let leafKey: KeyObject;
  try {
    leafKey = leaf.publicKey;
  } catch (e) {
    throw fail('AttestationMalformed', "The host certificate's public key is not readable.", {}, e);
  }
  p384(leafKey, 'host certificate key');
  let ok = false;
  try {
    ok = verify('sha384', sigStructure(sign1.protectedBytes, sign1.payload), { key: leafKey, dsaEncoding: 'ieee-p1363' }, sign1.signature);
  } catch (e) {
    throw fail('AttestationSignatureInvalid', 'The attestation document signature could not be checked with its certificate key.', {}, e);
  }
  if (!ok) throw fail('AttestationSignatureInvalid', 'The attestation document signature does not verify with its certificate key.', {});
  // 3. Certificate chain to the CA.
  try {
    checkChain(leaf, bundle, anchor, now);
  } catch (e) {
    if (e instanceof SecurityChipError) throw e;
    throw fail('AttestationCertUntrusted', 'The host certificate chain could not be checked.', { reason: e instanceof Error ? e.message : String(e) }, e);
  }
  // 4. Freshness.
  const maxAge = o.maxAgeMs ?? 300_000;
  const skew = o.maxSkewMs ?? 60_000;
  const age = now - payload.timestamp;
  if (age > maxAge) throw fail('AttestationStale', `The attestation document is ${age} ms old; at most ${maxAge} ms is accepted.`, { ageMs: age, maxAgeMs: maxAge, timestamp: payload.timestamp });
  if (-age > skew) throw fail('AttestationStale', `The attestation document is dated ${-age} ms in the future.`, { ageMs: age, maxSkewMs: skew, timestamp: payload.timestamp });
  // 5. Nonce.
  if (o.nonce !== undefined) {
    const want = typeof o.nonce === 'string' ? Buffer.from(o.nonce, 'hex') : o.nonce;
    const got = payload.nonce;
    if (got === null || got.length !== want.length || !timingSafeEqual(got, want)) {
      throw fail('AttestationNonceMismatch', got === null ? 'The attestation document carries no nonce, but the verifier chose one.' : 'The attestation document carries a nonce other than the one the verifier chose.', {
        expected: want.toString('hex'),
        actual: got?.toString('hex') ?? null,
      });
    }
  }
  o.nonceBook?.consume(payload.nonce);
  // 6. PCR policy.
  const pcrs = Object.fromEntries([...payload.pcrs].map(([i, v]) => [String(i), v.toString('hex')]));
  if (o.expectedPcrs !== undefined) {
    const mismatches = comparePcrs(o.expectedPcrs, payload.pcrs);
    if (mismatches.length > 0) {
      throw fail('AttestationPcrMismatch', `The attested values of PCR ${mismatches.map((m) => m.pcr).join(', ')} differ from the policy.`, { mismatches });
    }
  }
  const cn = leaf.subject.split('\n').find((l) => l.startsWith('CN='))?.slice(3);
  return {
    payload,
    moduleId: payload.moduleId,
    timestamp: payload.timestamp,
    pcrs,
    publicKey: payload.publicKey,
    userData: payload.userData,
    nonce: payload.nonce,
    certificatePem: leaf.toString(),
    hostCommonName: cn,
  };
}
