// `nitride attest verify`: checks an attestation document against the region CA and,
// optionally, a PCR policy and the nonce the verifier chose.
//   nitride attest verify --doc FILE --ca CA.pem [--policy POLICY.json] [--nonce HEX]
//                         [--max-age-ms N] [--event-log LOG.json] [--json]
// FILE holds the COSE_Sign1 bytes (raw CBOR, or base64 text). Exit 0 when it verifies and
// matches the policy; exit 1 printing the error code and precisely what differs.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { verifyAttestationDocument, type VerifiedAttestation } from '../../security-chip/attestation-document.js';
import { SecurityChipError } from '../../security-chip/errors.js';
import { verifyEventLog } from '../../security-chip/event-log.js';
import type { PcrMismatch } from '../../security-chip/pcr.js';
import { parsePcrPolicy, type PcrPolicy } from '../../security-chip/policy.js';

export const summary = 'verify a host attestation document against the region CA and a PCR policy';

const USAGE = `usage: nitride attest verify --doc FILE --ca CA.pem [--policy POLICY.json] [--nonce HEX] [--max-age-ms N] [--event-log LOG.json] [--json]`;

const FLAGS = ['--doc', '--ca', '--policy', '--nonce', '--max-age-ms', '--event-log'] as const;

function usageError(msg: string): number {
  process.stderr.write(`nitride attest: ${msg}\n${USAGE}\n`);
  return 2;
}

/** Raw CBOR, or base64 of it (as the controller's JSON replies carry it). */
function readDoc(path: string): Buffer {
  const raw = readFileSync(path);
  const text = raw.toString('latin1').trim();
  if (text.length > 0 && /^[A-Za-z0-9+/=\s]+$/.test(text)) return Buffer.from(text, 'base64');
  return raw;
}

function printMismatches(ms: readonly PcrMismatch[], out: (s: string) => void): void {
  for (const m of ms) out(`  PCR ${m.pcr}: expected ${m.expected}\n  ${' '.repeat(String(m.pcr).length + 5)}actual   ${m.actual ?? '(absent)'}\n`);
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === 'help' || sub === '--help') {
    process.stdout.write(`${USAGE}\n`);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'verify') return usageError(`unknown subcommand '${sub}'`);
  const v = new Map<string, string>();
  let json = false;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] ?? '';
    if (arg === '--json') {
      json = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    if (!(FLAGS as readonly string[]).includes(name)) return usageError(`unknown argument '${arg}'`);
    const val = eq >= 0 ? arg.slice(eq + 1) : rest[++i];
    if (val === undefined || val === '') return usageError(`${name} needs a value`);
    v.set(name, val);
  }
  const docPath = v.get('--doc');
  const caPath = v.get('--ca');
  if (docPath === undefined || caPath === undefined) return usageError('verify needs --doc and --ca');
  const nonce = v.get('--nonce');
  if (nonce !== undefined && !/^([0-9a-fA-F]{2}){1,512}$/.test(nonce)) return usageError('--nonce must be hex');
  const maxAge = v.get('--max-age-ms');
  if (maxAge !== undefined && !/^\d{1,12}$/.test(maxAge)) return usageError('--max-age-ms must be a number');
  const out = (s: string): void => void process.stdout.write(s);
  let policy: PcrPolicy | undefined;
  let att: VerifiedAttestation;
  try {
    const policyPath = v.get('--policy');
    if (policyPath !== undefined) policy = parsePcrPolicy(JSON.parse(readFileSync(resolve(policyPath), 'utf8')));
    att = verifyAttestationDocument(readDoc(resolve(docPath)), {
      caPem: readFileSync(resolve(caPath), 'utf8'),
      ...(policy !== undefined ? { expectedPcrs: policy.pcrs } : {}),
      ...(nonce !== undefined ? { nonce: nonce.toLowerCase() } : {}),
      ...(maxAge !== undefined ? { maxAgeMs: Number(maxAge) } : {}),
    });
    const logPath = v.get('--event-log');
    if (logPath !== undefined) verifyEventLog(JSON.parse(readFileSync(resolve(logPath), 'utf8')), att.pcrs);
  } catch (e) {
    if (!(e instanceof SecurityChipError)) throw e;
    const mismatches = (e.context['mismatches'] as PcrMismatch[] | undefined) ?? [];
    if (json) out(`${JSON.stringify({ ok: false, code: e.code, message: e.message, ...(policy ? { release: policy.release } : {}), mismatches, context: e.context })}\n`);
    else {
      out(`REFUSED ${e.code}: ${e.message}\n`);
      if (policy !== undefined && e.code === 'AttestationPcrMismatch') out(`policy: release ${policy.release}\n`);
      if (typeof e.context['reason'] === 'string') out(`  reason: ${e.context['reason']}\n`);
      printMismatches(mismatches, out);
    }
    return 1;
  }
  if (json) {
    out(
      `${JSON.stringify({
        ok: true,
        moduleId: att.moduleId,
        host: att.hostCommonName ?? null,
        timestamp: att.timestamp,
        pcrs: att.pcrs,
        ...(policy ? { release: policy.release } : {}),
        publicKey: att.publicKey?.toString('hex') ?? null,
        userData: att.userData?.toString('hex') ?? null,
        nonce: att.nonce?.toString('hex') ?? null,
      })}\n`,
    );
    return 0;
  }
  out(`OK attestation of ${att.moduleId} (certificate CN ${att.hostCommonName ?? '?'}), ${new Date(att.timestamp).toISOString()}, ${Date.now() - att.timestamp} ms old\n`);
  if (policy !== undefined) out(`policy: release ${policy.release}, PCR ${Object.keys(policy.pcrs).join(', ')} match\n`);
  if (nonce !== undefined) out('nonce: matches\n');
  if (v.get('--event-log') !== undefined) out('event log: replays to the attested PCRs\n');
  for (const [i, val] of Object.entries(att.pcrs)) if (!/^0+$/.test(val)) out(`  PCR ${i.padStart(2)} ${val}\n`);
  if (att.publicKey) out(`public_key: ${att.publicKey.length} bytes\n`);
  if (att.userData) out(`user_data: ${att.userData.toString('hex')}\n`);
  return 0;
}
