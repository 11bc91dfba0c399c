import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { Decoder } from 'cbor-x';
import { createSelfSigned, generateKeyPair } from '../lib/pki/pki.js';
import { createAttestationDocument, verifyAttestationDocument, type CreateAttestationOptions } from './attestation-document.js';
import { SECURITY_CHIP_CODES, SecurityChipError } from './errors.js';
import { NonceBook } from './nonce-book.js';
import { PcrBank, sha384 } from './pcr.js';
import { decodeAttestationPayload, encodeAttestationPayload } from './protocol/attestation-doc.js';
import { CborTagged, decodeCbor, encodeCbor } from './protocol/cbor.js';
import { decodeSign1, encodeSign1, sigStructure } from './protocol/cose.js';
import { makeHostIdentity, type HostIdentity } from './testing/host-identity.js';

let id: HostIdentity;
let other: HostIdentity;
let bank: PcrBank;

function opts(extra: Partial<CreateAttestationOptions> = {}): CreateAttestationOptions {
  return { hostKeyPem: id.hostKeyPem, hostCertPem: id.hostCertPem, caChainPem: [id.ca.certPem], moduleId: 'h-0123456789abcdef0', pcrs: bank.values(), ...extra };
}

function code(c: string, check?: (e: SecurityChipError) => void): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof SecurityChipError, `expected a SecurityChipError, got ${String(e)}`);
    assert.equal(e.code, c, e.message);
    check?.(e);
    return true;
  };
}

/** Re-encodes a document with its payload replaced (signature kept). */
function withPayload(doc: Buffer, edit: (p: ReturnType<typeof decodeAttestationPayload>) => ReturnType<typeof decodeAttestationPayload>): Buffer {
  const s = decodeSign1(doc);
  return encodeSign1({ protectedBytes: s.protectedBytes, unprotected: s.unprotected, payload: encodeAttestationPayload(edit(decodeAttestationPayload(s.payload))), signature: s.signature });
}

before(async () => {
  id = await makeHostIdentity();
  other = await makeHostIdentity('h-0fedcba9876543210');
  bank = new PcrBank();
  bank.extend(0, sha384('host config'), 'host configuration');
  bank.extend(1, sha384('controller'), 'bundle controller 1.0.0');
  bank.extend(2, sha384('hypervisor'), 'bundle hypervisor 1.0.0');
});

describe('attestation documents', () => {
  it('has the Nitro shape: tag 18, [bstr {1: -35}, {}, payload, 96-byte r||s], payload keys in AWS order', () => {
    const nonce = Buffer.from('00112233', 'hex');
    const doc = createAttestationDocument(opts({ nonce, userData: Buffer.from('hello'), publicKey: Buffer.from('card-key') }));
    const top = decodeCbor(doc);
    assert.ok(top instanceof CborTagged && top.tag === 18);
    const arr = top.value as unknown[];
    assert.equal(arr.length, 4);
    assert.equal((arr[0] as Buffer).toString('hex'), 'a1013822');
    assert.deepEqual(arr[1], new Map());
    assert.equal((arr[3] as Buffer).length, 96);
    const payload = decodeCbor(arr[2] as Buffer) as Map<string, unknown>;
    assert.deepEqual([...payload.keys()], ['module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle', 'public_key', 'user_data', 'nonce']);
    assert.equal(payload.get('digest'), 'SHA384');
    const pcrs = payload.get('pcrs') as Map<number, Buffer>;
    assert.deepEqual([...pcrs.keys()], Array.from({ length: 16 }, (_, i) => i));
    assert.ok([...pcrs.values()].every((v) => v.length === 48));
    assert.ok(new X509Certificate(payload.get('certificate') as Buffer).checkIssued(new X509Certificate(id.ca.certPem)));
    assert.deepEqual(payload.get('nonce'), nonce);
  });

  it('verifies, returning PCRs, public key, user data, nonce and the host CN', () => {
    const nonce = Buffer.from('aa'.repeat(32), 'hex');
    const doc = createAttestationDocument(opts({ nonce, userData: Buffer.from('hello'), publicKey: Buffer.from('card-key') }));
    const r = verifyAttestationDocument(doc, { caPem: id.ca.certPem, nonce: nonce.toString('hex'), expectedPcrs: { '1': bank.value(1).toString('hex') } });
    assert.equal(r.moduleId, 'h-0123456789abcdef0');
    assert.equal(r.hostCommonName, 'h-0123456789abcdef0');
    assert.deepEqual(r.pcrs, bank.toJSON());
    assert.deepEqual(r.publicKey, Buffer.from('card-key'));
    assert.deepEqual(r.userData, Buffer.from('hello'));
    assert.deepEqual(r.nonce, nonce);
    // Optional fields absent: null in the document, null in the result.
    const bare = verifyAttestationDocument(createAttestationDocument(opts()), { caPem: id.ca.certPem });
    assert.equal(bare.nonce, null);
    assert.equal(bare.publicKey, null);
  });

  it('refuses a tampered payload, a tampered signature and a swapped certificate', () => {
    const doc = createAttestationDocument(opts());
    const ca = { caPem: id.ca.certPem };
    const forged = withPayload(doc, (p) => ({ ...p, pcrs: new Map([...p.pcrs].map(([i, v]) => [i, i === 1 ? Buffer.alloc(48, 7) : v])) }));
    assert.throws(() => verifyAttestationDocument(forged, ca), code('AttestationSignatureInvalid'));
    const s = decodeSign1(doc);
    const sig = Buffer.from(s.signature);
    sig[10] = (sig[10] ?? 0) ^ 1;
    assert.throws(() => verifyAttestationDocument(encodeSign1({ ...s, signature: sig }), ca), code('AttestationSignatureInvalid'));
    const swapped = withPayload(doc, (p) => ({ ...p, certificate: new X509Certificate(other.hostCertPem).raw }));
    assert.throws(() => verifyAttestationDocument(swapped, ca), code('AttestationSignatureInvalid'));
  });

  it('refuses a host certificate from another CA, a self-signed one, and an expired one', async () => {
    // Signed correctly by a host of another region.
    const foreign = createAttestationDocument({ ...opts(), hostKeyPem: other.hostKeyPem, hostCertPem: other.hostCertPem, caChainPem: [other.ca.certPem] });
    assert.throws(() => verifyAttestationDocument(foreign, { caPem: id.ca.certPem }), code('AttestationCertUntrusted', (e) => assert.match(String(e.context['reason']), /no chain/)));
    // The foreign host claims our CA in its bundle: still no chain.
    const claims = createAttestationDocument({ ...opts(), hostKeyPem: other.hostKeyPem, hostCertPem: other.hostCertPem, caChainPem: [id.ca.certPem, other.ca.certPem] });
    assert.throws(() => verifyAttestationDocument(claims, { caPem: id.ca.certPem }), code('AttestationCertUntrusted'));
    // Self-signed identity.
    const kp = generateKeyPair();
    const self = createAttestationDocument({ ...opts(), hostKeyPem: kp.keyPem, hostCertPem: await createSelfSigned(kp.keyPem, 'h-0123456789abcdef0'), caChainPem: [id.ca.certPem] });
    assert.throws(() => verifyAttestationDocument(self, { caPem: id.ca.certPem }), code('AttestationCertUntrusted'));
    // Our own document judged 60 days on (the host certificate lasts 30): expired.
    const later = Date.now() + 60 * 86_400_000;
    const doc = createAttestationDocument(opts({ timestamp: later }));
    assert.throws(() => verifyAttestationDocument(doc, { caPem: id.ca.certPem, now: later }), code('AttestationCertUntrusted', (e) => assert.match(String(e.context['reason']), /validity/)));
  });

  it('refuses stale and future-dated documents', () => {
    const t = Date.now();
    const doc = createAttestationDocument(opts({ timestamp: t }));
    assert.equal(verifyAttestationDocument(doc, { caPem: id.ca.certPem, now: t + 299_000 }).timestamp, t);
    assert.throws(() => verifyAttestationDocument(doc, { caPem: id.ca.certPem, now: t + 301_000 }), code('AttestationStale', (e) => assert.equal(e.context['ageMs'], 301_000)));
    assert.throws(() => verifyAttestationDocument(doc, { caPem: id.ca.certPem, now: t + 20_000, maxAgeMs: 10_000 }), code('AttestationStale'));
    assert.throws(() => verifyAttestationDocument(doc, { caPem: id.ca.certPem, now: t - 120_000 }), code('AttestationStale', (e) => assert.match(e.message, /future/)));
  });

  it('refuses a nonce other than the one chosen, a missing nonce, and a replay through the NonceBook', () => {
    const doc = createAttestationDocument(opts({ nonce: Buffer.from('01'.repeat(32), 'hex') }));
    assert.throws(() => verifyAttestationDocument(doc, { caPem: id.ca.certPem, nonce: '02'.repeat(32) }), code('AttestationNonceMismatch', (e) => assert.equal(e.context['actual'], '01'.repeat(32))));
    assert.throws(() => verifyAttestationDocument(createAttestationDocument(opts()), { caPem: id.ca.certPem, nonce: '02'.repeat(32) }), code('AttestationNonceMismatch'));

    let now = 1_000_000;
    const book = new NonceBook({ ttlMs: 60_000, now: () => now });
    const n1 = book.issue();
    assert.equal(n1.length, 32);
    const answer = createAttestationDocument(opts({ nonce: n1 }));
    verifyAttestationDocument(answer, { caPem: id.ca.certPem, nonceBook: book });
    assert.throws(() => verifyAttestationDocument(answer, { caPem: id.ca.certPem, nonceBook: book }), code('AttestationNonceReplayed'));
    assert.throws(() => verifyAttestationDocument(doc, { caPem: id.ca.certPem, nonceBook: book }), code('AttestationNonceMismatch'));
    const n2 = book.issue();
    now += 61_000;
    assert.throws(() => verifyAttestationDocument(createAttestationDocument(opts({ nonce: n2 })), { caPem: id.ca.certPem, nonceBook: book }), code('AttestationNonceMismatch'));
    assert.equal(book.size, 0);
  });

  it('reports precisely which PCRs differ from the policy', () => {
    const doc = createAttestationDocument(opts());
    const expected = { '0': bank.value(0).toString('hex'), '1': 'ab'.repeat(48), '2': 'cd'.repeat(48), '20': 'ef'.repeat(48) };
    assert.throws(
      () => verifyAttestationDocument(doc, { caPem: id.ca.certPem, expectedPcrs: expected }),
      code('AttestationPcrMismatch', (e) => {
        assert.deepEqual(e.context['mismatches'], [
          { pcr: 1, expected: 'ab'.repeat(48), actual: bank.value(1).toString('hex') },
          { pcr: 2, expected: 'cd'.repeat(48), actual: bank.value(2).toString('hex') },
          { pcr: 20, expected: 'ef'.repeat(48), actual: null },
        ]);
        assert.match(e.message, /PCR 1, 2, 20/);
      }),
    );
  });

  it('refuses malformed documents with AttestationMalformed', () => {
    const doc = createAttestationDocument(opts());
    const ca = { caPem: id.ca.certPem };
    const s = decodeSign1(doc);
    const cases: [string, Buffer][] = [
      ['garbage', Buffer.from('not cbor at all')],
      ['truncated', doc.subarray(0, doc.length - 1)],
      ['trailing byte', Buffer.concat([doc, Buffer.from([0])])],
      ['alg ES256', encodeSign1({ ...s, protectedBytes: encodeCbor(new Map([[1, -7]])) })],
      ['64-byte signature', encodeSign1({ ...s, signature: s.signature.subarray(0, 64) })],
      ['payload not a map', encodeSign1({ ...s, payload: encodeCbor([1]) })],
      ['unknown payload key', encodeSign1({ ...s, payload: encodeCbor(new Map([...(decodeCbor(s.payload) as Map<string, unknown>), ['extra', 1]]) as never) })],
      ['three items', encodeCbor(new CborTagged(18, [s.protectedBytes, new Map(), s.payload]))],
    ];
    for (const [what, bytes] of cases) assert.throws(() => verifyAttestationDocument(bytes, ca), code('AttestationMalformed'), what);
    // An untagged COSE_Sign1 is accepted (the structure is the same).
    verifyAttestationDocument(encodeSign1(s, false), ca);
  });

  it('fuzz: mutated documents are refused with a stable code or verify to the very same payload', () => {
    const doc = createAttestationDocument(opts({ nonce: Buffer.alloc(32, 1) }));
    const payload = decodeSign1(doc).payload;
    let seed = 0x1234567;
    const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
    const codes = new Set<string>();
    for (let n = 0; n < 1500; n++) {
      const m = Buffer.from(doc);
      const at = Math.floor(rnd() * m.length);
      m[at] = (m[at] ?? 0) ^ (1 + Math.floor(rnd() * 255));
      const input = rnd() < 0.2 ? m.subarray(0, Math.floor(rnd() * m.length)) : m;
      try {
        const r = verifyAttestationDocument(input, { caPem: id.ca.certPem });
        assert.deepEqual(encodeAttestationPayload(r.payload), payload, `mutation at ${at} verified with a different payload`);
      } catch (e) {
        assert.ok(e instanceof SecurityChipError, `a non-SecurityChipError escaped: ${String(e)}`);
        assert.ok((SECURITY_CHIP_CODES as readonly string[]).includes(e.code), e.code);
        codes.add(e.code);
      }
    }
    assert.ok(codes.has('AttestationMalformed') && codes.has('AttestationSignatureInvalid'), [...codes].join(','));
  });
});

describe('attestation interop', () => {
  it('cbor-x (an independent decoder) reads the same COSE_Sign1 and payload', () => {
    const doc = createAttestationDocument(opts({ nonce: Buffer.from('beef', 'hex') }));
    const d = new Decoder({ mapsAsObjects: false });
    const top = d.decode(doc) as { tag: number; value: [Uint8Array, Map<unknown, unknown>, Uint8Array, Uint8Array] };
    assert.equal(top.tag, 18);
    const [prot, unprot, payload, sig] = top.value;
    assert.deepEqual(d.decode(prot), new Map([[1, -35]]));
    assert.equal(unprot.size, 0);
    assert.equal(sig.length, 96);
    const p = d.decode(payload) as Map<string, unknown>;
    assert.equal(p.get('module_id'), 'h-0123456789abcdef0');
    assert.equal(p.get('digest'), 'SHA384');
    assert.ok(Math.abs(Number(p.get('timestamp')) - Date.now()) < 60_000, 'timestamp is ms since the epoch');
    assert.deepEqual(Buffer.from(p.get('nonce') as Uint8Array).toString('hex'), 'beef');
    const pcrs = p.get('pcrs') as Map<number, Uint8Array>;
    assert.equal(Buffer.from(pcrs.get(1) as Uint8Array).toString('hex'), bank.value(1).toString('hex'));
    assert.equal(p.get('public_key'), null);
  });

  it('openssl verifies the ES384 signature over the Sig_structure, and refuses it over other bytes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nitride-cose-'));
    try {
      const doc = createAttestationDocument(opts());
      const s = decodeSign1(doc);
      writeFileSync(join(dir, 'tbs.bin'), sigStructure(s.protectedBytes, s.payload));
      writeFileSync(join(dir, 'sig.der'), rawToDer(s.signature));
      writeFileSync(join(dir, 'pub.pem'), createPublicKey(id.hostKeyPem).export({ type: 'spki', format: 'pem' }));
      const payload = decodeAttestationPayload(s.payload);
      writeFileSync(join(dir, 'cert.der'), payload.certificate);
      const run = (args: string[]): { status: number | null; out: string } => {
        const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
        assert.equal(r.error, undefined, `openssl must be installed: ${String(r.error)}`);
        return { status: r.status, out: `${r.stdout}${r.stderr}` };
      };
      const ok = run(['dgst', '-sha384', '-verify', 'pub.pem', '-signature', 'sig.der', 'tbs.bin']);
      assert.equal(ok.status, 0, ok.out);
      assert.match(ok.out, /Verified OK/);
      // The certificate in the payload is DER openssl reads, and its key is the one that verified.
      const subj = run(['x509', '-inform', 'DER', '-in', 'cert.der', '-noout', '-subject']);
      assert.match(subj.out, /CN\s*=\s*h-0123456789abcdef0/);
      writeFileSync(join(dir, 'tbs.bin'), sigStructure(s.protectedBytes, Buffer.concat([s.payload, Buffer.from([0])])));
      const bad = run(['dgst', '-sha384', '-verify', 'pub.pem', '-signature', 'sig.der', 'tbs.bin']);
      assert.equal(bad.status, 1, bad.out);
      assert.match(bad.out, /Verification failure/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Raw r||s (48 + 48 bytes) as a DER ECDSA-Sig-Value, SEQUENCE { INTEGER r, INTEGER s }. */
function rawToDer(sig: Buffer): Buffer {
  const int = (b: Buffer): Buffer => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    let v = b.subarray(i);
    if ((v[0] ?? 0) & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
    return Buffer.concat([Buffer.from([0x02, v.length]), v]);
  };
  const body = Buffer.concat([int(sig.subarray(0, 48)), int(sig.subarray(48))]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}
