import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { generateKeyPair, issueCert } from '../lib/pki/pki.js';
import { SecurityChipError } from './errors.js';
import { answerAttestation, gateHostAttestation, type GateOptions, type HostIdentityMaterial } from './attestation-exchange.js';
import { NonceBook } from './nonce-book.js';
import { PCR, PcrBank, sha384, singleExtension } from './pcr.js';
import type { PcrPolicy, ReleaseMeasurements } from './policy.js';
import { makeHostIdentity, type HostIdentity } from './testing/host-identity.js';

const HOST = 'h-0123456789abcdef0';
let id: HostIdentity;
let material: HostIdentityMaterial;
let bank: PcrBank;
let policy: PcrPolicy;
let measurements: ReleaseMeasurements;
const cardKey = Buffer.from('3076301006072a8648ce3d020106052b81040022036200', 'hex');

before(async () => {
  id = await makeHostIdentity(HOST);
  material = { hostKeyPem: id.hostKeyPem, hostCertPem: id.hostCertPem, caChainPem: [id.ca.certPem], moduleId: HOST };
  bank = new PcrBank();
  bank.extend(PCR.HOST_CONFIG, sha384('config'), 'host configuration');
  bank.extend(PCR.CONTROLLER, sha384('controller'), 'bundle controller 1');
  bank.extend(PCR.EBS_CARD, sha384('ebs'), 'bundle ebs-card 1');
  policy = { release: 'r1', pcrs: { '1': singleExtension(sha384('controller')), '3': singleExtension(sha384('ebs')) } };
  measurements = { release: 'r1', measurements: { '1': sha384('controller').toString('hex'), '3': sha384('ebs').toString('hex') } };
});

/** One region → controller → region exchange, through JSON as on the wire. */
function exchange(book: NonceBook, o: Partial<GateOptions> = {}, hostBank = bank, hostMaterial = material): ReturnType<typeof gateHostAttestation> {
  const params = { nonce: book.issue().toString('hex') };
  const reply = JSON.parse(JSON.stringify(answerAttestation(hostMaterial, hostBank, JSON.parse(JSON.stringify(params)), { publicKey: cardKey }))) as unknown;
  return gateHostAttestation(reply, { caPem: id.ca.certPem, nonceBook: book, hostId: HOST, policy, measurements, expectPublicKey: cardKey, ...o });
}

describe('host attestation gate', () => {
  it('a measured host answering a fresh nonce passes, binding the card key', () => {
    const v = exchange(new NonceBook());
    assert.equal(v.ok, true, JSON.stringify(v));
    assert.ok(v.ok && v.attestation.publicKey?.equals(cardKey));
    assert.deepEqual(v.ok && v.checked, [1, 3]);
    assert.equal(v.ok && v.release, 'r1');
  });

  it('a replayed reply is refused (the nonce is single use)', () => {
    const book = new NonceBook();
    const params = { nonce: book.issue().toString('hex') };
    const reply = answerAttestation(material, bank, params);
    const g = { caPem: id.ca.certPem, nonceBook: book, hostId: HOST };
    assert.equal(gateHostAttestation(reply, g).ok, true);
    const again = gateHostAttestation(reply, g);
    assert.equal(!again.ok && again.code, 'AttestationNonceReplayed');
  });

  it('a host whose PCRs differ gets a verdict naming each register', () => {
    const evil = PcrBank.fromEvents(bank.events());
    evil.extend(PCR.EBS_CARD, sha384('ebs with a tap'), 'bundle ebs-card 1-tap');
    const v = exchange(new NonceBook(), {}, evil);
    assert.equal(v.ok, false);
    assert.equal(!v.ok && v.code, 'AttestationPcrMismatch');
    assert.deepEqual(!v.ok && v.mismatches, [
      { pcr: 3, expected: policy.pcrs['3'], actual: evil.value(3).toString('hex') },
      { pcr: 3, expected: sha384('ebs').toString('hex'), actual: sha384('ebs with a tap').toString('hex') },
    ]);
  });

  it('refuses another host, another card key, a tampered log and malformed replies', async () => {
    const other = await makeHostIdentity('h-0fedcba9876543210');
    let v = exchange(new NonceBook(), {}, bank, { hostKeyPem: other.hostKeyPem, hostCertPem: other.hostCertPem, caChainPem: [other.ca.certPem], moduleId: HOST });
    assert.equal(!v.ok && v.code, 'AttestationCertUntrusted');
    // A client certificate from the same CA (as the region and operators hold) with the host's CN.
    const kp = generateKeyPair();
    const clientCert = await issueCert(id.ca, { subjectPublicKeyPem: kp.publicKeyPem, commonName: HOST, organizationalUnit: 'nitride-operator', usage: 'client' });
    v = exchange(new NonceBook(), {}, bank, { ...material, hostKeyPem: kp.keyPem, hostCertPem: clientCert });
    assert.equal(!v.ok && v.code, 'AttestationHostMismatch');
    assert.match(!v.ok ? v.message : '', /not a host certificate/);
    v = exchange(new NonceBook(), { hostId: 'h-0fedcba9876543210' });
    assert.equal(!v.ok && v.code, 'AttestationHostMismatch');
    v = exchange(new NonceBook(), { expectPublicKey: Buffer.from('another key') });
    assert.equal(!v.ok && v.code, 'AttestationPublicKeyMismatch');

    const book = new NonceBook();
    const reply = answerAttestation(material, bank, { nonce: book.issue().toString('hex') });
    const log = reply.eventLog.map((e) => ({ ...e }));
    (log[1] as { digest: string }).digest = sha384('other').toString('hex');
    v = gateHostAttestation({ ...reply, eventLog: log }, { caPem: id.ca.certPem, nonceBook: book, hostId: HOST });
    assert.equal(!v.ok && v.code, 'EventLogMismatch');

    for (const bad of [null, {}, { document: '!!', eventLog: [] }, { document: reply.document }, { document: Buffer.from('junk').toString('base64'), eventLog: [] }]) {
      const r = gateHostAttestation(bad, { caPem: id.ca.certPem, nonceBook: new NonceBook(), hostId: HOST });
      assert.equal(!r.ok && r.code, 'AttestationMalformed', JSON.stringify(bad));
    }
  });

  it('the host refuses bad params', () => {
    for (const p of [null, {}, { nonce: 'ab' }, { nonce: 'AB'.repeat(16) }, { nonce: 'ab'.repeat(513) }, { nonce: 'ab'.repeat(16), userData: 'xyz' }, { nonce: 'ab'.repeat(16), extra: 1 }]) {
      assert.throws(() => answerAttestation(material, bank, p), (e: unknown) => e instanceof SecurityChipError && e.code === 'AttestationInputInvalid', JSON.stringify(p));
    }
  });
});
