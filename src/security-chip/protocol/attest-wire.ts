// The attestation request and reply as they cross the control channel (JSON), for the
// controller's `host.attest` command and the region that sends it. Pure.
//   request params: { nonce: hex (16..512 bytes, chosen by the region), userData?: hex (≤ 512 bytes) }
//   reply result:   { document: base64 COSE_Sign1, eventLog: [{pcrIndex, digest, description}] }
import { SecurityChipError } from '../errors.js';
import { parseEventLog } from '../event-log.js';
import type { PcrEvent } from '../pcr.js';
import { MAX_NONCE, MAX_USER_DATA } from './attestation-doc.js';

export interface AttestParams {
  readonly nonce: string;
  readonly userData?: string;
}

export interface AttestReply {
  readonly document: string;
  readonly eventLog: readonly PcrEvent[];
}

const HEX = /^(?:[0-9a-f]{2})*$/;
const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

function bad(code: string, msg: string, field: string): SecurityChipError {
  return new SecurityChipError(code, 'invalid', msg, { field });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates host.attest params (the controller's command layer calls this). */
export function parseAttestParams(v: unknown): AttestParams {
  if (!isObject(v)) throw bad('AttestationInputInvalid', 'params must be an object.', 'params');
  const extra = Object.keys(v).filter((k) => k !== 'nonce' && k !== 'userData');
  if (extra.length > 0) throw bad('AttestationInputInvalid', `params has unknown fields: ${extra.join(', ')}.`, extra[0] as string);
  const nonce = v['nonce'];
  if (typeof nonce !== 'string' || !HEX.test(nonce) || nonce.length < 32 || nonce.length > MAX_NONCE * 2) {
    throw bad('AttestationInputInvalid', `params.nonce must be 16..${MAX_NONCE} bytes of lowercase hex.`, 'nonce');
  }
  const userData = v['userData'];
  if (userData !== undefined && (typeof userData !== 'string' || !HEX.test(userData) || userData.length > MAX_USER_DATA * 2)) {
    throw bad('AttestationInputInvalid', `params.userData must be at most ${MAX_USER_DATA} bytes of lowercase hex.`, 'userData');
  }
  return { nonce, ...(typeof userData === 'string' ? { userData } : {}) };
}

/** Validates a host.attest reply (the region calls this); returns the document bytes and the log. */
export function parseAttestReply(v: unknown): { document: Buffer; eventLog: PcrEvent[] } {
  if (!isObject(v)) throw bad('AttestationMalformed', 'The attestation reply is not an object.', 'result');
  const doc = v['document'];
  if (typeof doc !== 'string' || doc.length === 0 || doc.length > 96 * 1024 || !B64.test(doc)) throw bad('AttestationMalformed', 'The attestation reply has no base64 document.', 'document');
  let eventLog: PcrEvent[];
  try {
    eventLog = parseEventLog(v['eventLog']);
  } catch (e) {
    throw new SecurityChipError('AttestationMalformed', 'invalid', 'The attestation reply has no valid event log.', { field: 'eventLog' }, { cause: e });
  }
  return { document: Buffer.from(doc, 'base64'), eventLog };
}
