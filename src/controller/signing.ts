// Signing and verifying controller commands. The signature covers the canonical JSON of
// {v, id, type, params, issuedAt}; it is ECDSA P-384 over SHA-384, DER-encoded, base64.
import { randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from '../audit/chain.js';
import { CONTROLLER_PROTOCOL_VERSION, signedFields } from './protocol/commands.js';

export interface CommandEnvelope {
  readonly v: number;
  readonly id: string;
  readonly type: string;
  readonly params: unknown;
  readonly issuedAt: string;
  readonly sig: string;
}

/** The bytes a command signature covers. */
export function signingInput(raw: { v: unknown; id: unknown; type: unknown; params: unknown; issuedAt: unknown }): Buffer {
  return Buffer.from(canonicalJson(signedFields(raw)), 'utf8');
}

/** Builds and signs a command envelope with the caller's private key (PKCS#8 PEM or KeyObject). */
export function buildCommand(type: string, params: unknown, keyPem: string | KeyObject, opts: { id?: string; issuedAt?: Date | string; v?: number } = {}): CommandEnvelope {
  const issuedAt = typeof opts.issuedAt === 'string' ? opts.issuedAt : (opts.issuedAt ?? new Date()).toISOString();
  const unsigned = { v: opts.v ?? CONTROLLER_PROTOCOL_VERSION, id: opts.id ?? randomUUID(), type, params, issuedAt };
  const sig = sign('sha384', signingInput(unsigned), keyPem).toString('base64');
  return { ...unsigned, sig };
}

/** True when sig is a valid signature of the envelope by publicKey. */
export function verifyCommandSignature(raw: CommandEnvelope, publicKey: string | KeyObject): boolean {
  try {
    return verify('sha384', signingInput(raw), publicKey, Buffer.from(raw.sig, 'base64'));
  } catch {
    return false;
  }
}
