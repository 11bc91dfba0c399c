// The measured-start event log and its replay. The log is the list of extensions in the
// order they happened; replaying it from zeroed registers must give exactly the PCR values
// the host attests. A verifier that trusts the attested PCRs (signed) can then trust the
// log's descriptions: a log edited in any way replays to different values. Pure.
import { SecurityChipError } from './errors.js';
import { PCR_BANK_SIZE, PcrBank, comparePcrs, type PcrEvent, type PcrMismatch, type PcrValues } from './pcr.js';

const MAX_EVENTS = 10_000;

function invalid(reason: string, context: Record<string, unknown> = {}): SecurityChipError {
  return new SecurityChipError('EventLogInvalid', 'invalid', `The event log is invalid: ${reason}.`, { reason, ...context });
}

/** Validates an event log read from JSON (an array of {pcrIndex, digest, description}). */
export function parseEventLog(raw: unknown, size = PCR_BANK_SIZE): PcrEvent[] {
  if (!Array.isArray(raw)) throw invalid('it is not an array');
  if (raw.length > MAX_EVENTS) throw invalid(`it has more than ${MAX_EVENTS} events`);
  return raw.map((e: unknown, n) => {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) throw invalid(`event ${n} is not an object`, { event: n });
    const o = e as Record<string, unknown>;
    const extra = Object.keys(o).filter((k) => k !== 'pcrIndex' && k !== 'digest' && k !== 'description');
    if (extra.length > 0) throw invalid(`event ${n} has unknown fields ${extra.join(', ')}`, { event: n });
    const { pcrIndex, digest, description } = o;
    if (typeof pcrIndex !== 'number' || !Number.isInteger(pcrIndex) || pcrIndex < 0 || pcrIndex >= size) throw invalid(`event ${n} has a pcrIndex outside 0..${size - 1}`, { event: n });
    if (typeof digest !== 'string' || !/^[0-9a-f]{96}$/.test(digest)) throw invalid(`event ${n} has a digest that is not 96 lowercase hex characters`, { event: n });
    if (typeof description !== 'string' || description.length > 1024) throw invalid(`event ${n} has no description of at most 1024 characters`, { event: n });
    return { pcrIndex, digest, description };
  });
}

/** Replays a log from zeroed registers; returns every register as {"index": hex}. */
export function replayEventLog(log: unknown, size = PCR_BANK_SIZE): Record<string, string> {
  const bank = new PcrBank(size);
  for (const e of parseEventLog(log, size)) bank.extend(e.pcrIndex, e.digest, e.description);
  return bank.toJSON();
}

/** The registers where the replayed log and the given values differ (expected = replayed). */
export function compareEventLog(log: unknown, pcrs: PcrValues | ReadonlyMap<number, Buffer>): PcrMismatch[] {
  const replayed = replayEventLog(log);
  // Compare only registers the attestation carries.
  const carried = pcrs instanceof Map ? [...pcrs.keys()].map(String) : Object.keys(pcrs as PcrValues);
  const want = Object.fromEntries(carried.filter((i) => replayed[i] !== undefined).map((i) => [i, replayed[i] as string]));
  return comparePcrs(want, pcrs);
}

/** Throws EventLogMismatch (context.mismatches) when the log does not replay to pcrs. */
export function verifyEventLog(log: unknown, pcrs: PcrValues | ReadonlyMap<number, Buffer>): PcrEvent[] {
  const events = parseEventLog(log);
  const mismatches = compareEventLog(events, pcrs);
  if (mismatches.length > 0) {
    throw new SecurityChipError('EventLogMismatch', 'denied', `The event log does not replay to the attested values of PCR ${mismatches.map((m) => m.pcr).join(', ')}.`, { mismatches });
  }
  return events;
}
