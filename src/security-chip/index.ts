// The security chip's public API: signed component bundles, measured start (PCRs and the
// event log), attestation documents, the region's PCR policy and single-use nonces.
// See docs/SECURITY-CHIP.md.
export { SecurityChipError, SECURITY_CHIP_CODES, type SecurityChipCode } from './errors.js';
export * from './pcr.js';
export * from './event-log.js';
export * from './bundle.js';
export * from './measure.js';
export * from './attestation-document.js';
export * from './policy.js';
export * from './nonce-book.js';
export { decodeAttestationPayload, encodeAttestationPayload, type AttestationPayload } from './protocol/attestation-doc.js';
export * from './attestation-exchange.js';
export { parseAttestParams, parseAttestReply, type AttestParams, type AttestReply } from './protocol/attest-wire.js';
