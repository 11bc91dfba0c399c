import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, sign, verify } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { certMatches, createCa, createCsr, createSelfSigned, fingerprint, generateKeyPair, issueCert, readCsr, subjectOf, writeSecretFile } from './pki.js';

test('generateKeyPair makes P-384 keys that sign and verify', () => {
  const k = generateKeyPair();
  assert.equal(createPrivateKey(k.keyPem).asymmetricKeyDetails?.namedCurve, 'secp384r1');
  const sig = sign('sha384', Buffer.from('x'), k.keyPem);
  assert.ok(verify('sha384', Buffer.from('x'), k.publicKeyPem, sig));
});

test('createCa makes a self-signed P-384 CA with ecdsa-with-SHA384', async () => {
  const ca = await createCa('test-ca');
  const c = new X509Certificate(ca.certPem);
  assert.ok(c.ca);
  assert.ok(c.verify(c.publicKey));
  assert.equal(c.publicKey.asymmetricKeyDetails?.namedCurve, 'secp384r1');
  assert.match(c.subject, /CN=test-ca/);
});

test('issueCert from a CSR and from a public key; SANs, usage and OU are set', async () => {
  const ca = await createCa('test-ca');
  const host = generateKeyPair();
  const csr = await createCsr(host.keyPem, 'h-0123');
  const read = await readCsr(csr);
  assert.equal(read.commonName, 'h-0123');
  const server = await issueCert(ca, { csrPem: csr, commonName: 'h-0123', usage: 'server', dnsNames: ['h-0123'], ipAddresses: ['127.0.0.1'] });
  const sc = new X509Certificate(server);
  assert.ok(sc.checkIssued(new X509Certificate(ca.certPem)));
  assert.equal(sc.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(sc.checkHost('h-0123'), 'h-0123');
  assert.ok(certMatches(server, ca.certPem, host.publicKeyPem));
  assert.ok(!certMatches(server, ca.certPem, generateKeyPair().publicKeyPem));
  const other = await createCa('other');
  assert.ok(!certMatches(server, other.certPem));

  const client = generateKeyPair();
  const cc = await issueCert(ca, { subjectPublicKeyPem: client.publicKeyPem, commonName: 'region-1', organizationalUnit: 'nitride-region', usage: 'client' });
  assert.deepEqual(subjectOf(cc), { commonName: 'region-1', organizationalUnit: 'nitride-region' });
  assert.match(fingerprint(cc), /^[0-9a-f]{64}$/);
  assert.notEqual(fingerprint(cc), fingerprint(server));
});

test('issueCert refuses a tampered CSR, a non-P-384 key and ambiguous input', async () => {
  const ca = await createCa('test-ca');
  const host = generateKeyPair();
  const csr = await createCsr(host.keyPem, 'h-1');
  const lines = csr.split('\n');
  const mid = lines[3] ?? '';
  lines[3] = (mid[10] === 'A' ? 'B' : 'A').padStart(11, mid.slice(0, 10)) + mid.slice(11);
  await assert.rejects(issueCert(ca, { csrPem: lines.join('\n'), commonName: 'h-1', usage: 'server' }), (e: { code?: string }) => /^PkiBad(Csr|Key)$/.test(e.code ?? ''));
  const { generateKeyPairSync } = await import('node:crypto');
  const p256 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  await assert.rejects(issueCert(ca, { subjectPublicKeyPem: p256, commonName: 'x', usage: 'client' }), { code: 'PkiBadKey' });
  await assert.rejects(issueCert(ca, { commonName: 'x', usage: 'client' }), { code: 'PkiBadRequest' });
});

test('createSelfSigned and writeSecretFile (0600)', async () => {
  const k = generateKeyPair();
  const pem = await createSelfSigned(k.keyPem, 'bootstrap', { ipAddresses: ['127.0.0.1'] });
  const c = new X509Certificate(pem);
  assert.ok(c.verify(c.publicKey));
  const dir = mkdtempSync(join(tmpdir(), 'nitride-pki-'));
  try {
    const p = join(dir, 'k.pem');
    writeSecretFile(p, k.keyPem);
    assert.equal(statSync(p).mode & 0o777, 0o600);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
