// A small PKI for Nitride's control channel: ECDSA P-384 keys, a CA, CSRs and
// certificates. Node's crypto makes keys and signatures but cannot build X.509, so the
// certificate structures come from @peculiar/x509 driven by Node's own webcrypto.
// Everything is PEM in and PEM out; keys are PKCS#8 ("PRIVATE KEY") and SPKI ("PUBLIC KEY").
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import type * as X509 from '@peculiar/x509';
import { NitrideError } from '../errors.js';

export class PkiError extends NitrideError {}

type CryptoKey = webcrypto.CryptoKey;
const crypto = webcrypto;

// @peculiar/x509 (and the Reflect shim it needs) is loaded on first use: it costs ~17 MiB
// of RSS, and a running controller needs it only while it enrols.
let x509Module: Promise<typeof X509> | undefined;
function lib(): Promise<typeof X509> {
  x509Module ??= (async () => {
    await import('./reflect-metadata.js');
    const m = await import('@peculiar/x509');
    m.cryptoProvider.set(crypto as unknown as Parameters<typeof m.cryptoProvider.set>[0]);
    return m;
  })();
  return x509Module;
}

const EC_ALG = { name: 'ECDSA', namedCurve: 'P-384' } as const;
const SIGN_ALG = { name: 'ECDSA', hash: 'SHA-384' } as const;

export interface KeyPairPem {
  readonly keyPem: string; // PKCS#8
  readonly publicKeyPem: string; // SPKI
}

export interface CaMaterial {
  readonly certPem: string;
  readonly keyPem: string;
}

export type CertUsage = 'server' | 'client' | 'both';

export interface IssueCertOptions {
  /** Exactly one of subjectPublicKeyPem or csrPem. A CSR's signature is checked. */
  readonly subjectPublicKeyPem?: string;
  readonly csrPem?: string;
  readonly commonName: string;
  /** Subject OU; the controller uses it as the caller's role (e.g. nitride-region). */
  readonly organizationalUnit?: string;
  readonly usage: CertUsage;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly days?: number;
}

/** A fresh ECDSA P-384 key pair. */
export function generateKeyPair(): KeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** The SPKI PEM of a private key's public half. */
export function publicKeyOf(keyPem: string): string {
  return createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'pem' }).toString();
}

function pemBody(pem: string): ArrayBuffer {
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer;
}

function checkP384(keyPem: string, isPrivate: boolean): void {
  let details;
  try {
    details = (isPrivate ? createPrivateKey(keyPem) : createPublicKey(keyPem)).asymmetricKeyDetails;
  } catch (e) {
    throw new PkiError('PkiBadKey', 'invalid', 'The key is not a readable PEM key.', {}, { cause: e });
  }
  if (details?.namedCurve !== 'secp384r1') {
    throw new PkiError('PkiBadKey', 'invalid', 'The key is not an ECDSA P-384 key.', { curve: details?.namedCurve });
  }
}

async function importPrivate(keyPem: string): Promise<CryptoKey> {
  checkP384(keyPem, true);
  const pkcs8 = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
  return crypto.subtle.importKey('pkcs8', pkcs8, EC_ALG, false, ['sign']);
}

async function importPublic(publicKeyPem: string): Promise<CryptoKey> {
  checkP384(publicKeyPem, false);
  try {
    return await crypto.subtle.importKey('spki', pemBody(publicKeyPem), EC_ALG, true, ['verify']);
  } catch (e) {
    throw new PkiError('PkiBadKey', 'invalid', 'The public key is not a valid P-384 SPKI key.', {}, { cause: e });
  }
}

function name(cn: string, ou?: string): string {
  const esc = (s: string): string => s.replace(/([,+"\\<>;=])/g, '\\$1');
  return ou === undefined ? `CN=${esc(cn)}, O=nitride` : `CN=${esc(cn)}, OU=${esc(ou)}, O=nitride`;
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f; // positive
  return b.toString('hex');
}

/** Creates a self-signed CA (P-384, 10 years by default). */
export async function createCa(commonName: string, opts: { days?: number } = {}): Promise<CaMaterial> {
  const x509 = await lib();
  const { keyPem, publicKeyPem } = generateKeyPair();
  const signingKey = await importPrivate(keyPem);
  const publicKey = await importPublic(publicKeyPem);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: name(commonName),
    issuer: name(commonName),
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + (opts.days ?? 3650) * 86_400_000),
    signingAlgorithm: SIGN_ALG,
    publicKey,
    signingKey,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem };
}

/** A self-signed end-entity certificate (the controller's bootstrap certificate before enrolment). */
export async function createSelfSigned(keyPem: string, commonName: string, opts: { days?: number; dnsNames?: readonly string[]; ipAddresses?: readonly string[] } = {}): Promise<string> {
  const x509 = await lib();
  const signingKey = await importPrivate(keyPem);
  const publicKey = await importPublic(publicKeyOf(keyPem));
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: name(commonName),
    issuer: name(commonName),
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + (opts.days ?? 365) * 86_400_000),
    signingAlgorithm: SIGN_ALG,
    publicKey,
    signingKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      ...sanExtension(x509, opts.dnsNames, opts.ipAddresses),
    ],
  });
  return cert.toString('pem');
}

function sanExtension(x509: typeof X509, dnsNames: readonly string[] = [], ips: readonly string[] = []): X509.Extension[] {
  const names = [...dnsNames.map((v) => ({ type: 'dns' as const, value: v })), ...ips.map((v) => ({ type: 'ip' as const, value: v }))];
  return names.length === 0 ? [] : [new x509.SubjectAlternativeNameExtension(names, false)];
}

/** A PKCS#10 CSR for keyPem with subject CN=commonName. */
export async function createCsr(keyPem: string, commonName: string): Promise<string> {
  const x509 = await lib();
  const privateKey = await importPrivate(keyPem);
  const publicKey = await importPublic(publicKeyOf(keyPem));
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: name(commonName),
    keys: { privateKey, publicKey },
    signingAlgorithm: SIGN_ALG,
  });
  return csr.toString('pem');
}

/** Reads a CSR, checks its self-signature and returns its subject key and CN. */
export async function readCsr(csrPem: string): Promise<{ publicKeyPem: string; commonName: string | undefined }> {
  const x509 = await lib();
  let csr: X509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (e) {
    throw new PkiError('PkiBadCsr', 'invalid', 'The certificate request is not a readable PKCS#10 PEM.', {}, { cause: e });
  }
  let ok = false;
  try {
    ok = await csr.verify();
  } catch (e) {
    throw new PkiError('PkiBadCsr', 'invalid', 'The certificate request holds an unreadable key or signature.', {}, { cause: e });
  }
  if (!ok) throw new PkiError('PkiBadCsr', 'invalid', 'The certificate request signature does not verify.');
  const publicKeyPem = csr.publicKey.toString('pem');
  return { publicKeyPem, commonName: csr.subjectName.getField('CN')[0] };
}

/** Issues an end-entity certificate signed by the CA. */
export async function issueCert(ca: CaMaterial, o: IssueCertOptions): Promise<string> {
  const x509 = await lib();
  if ((o.subjectPublicKeyPem === undefined) === (o.csrPem === undefined)) {
    throw new PkiError('PkiBadRequest', 'invalid', 'Give exactly one of subjectPublicKeyPem or csrPem.');
  }
  const subjectKeyPem = o.csrPem !== undefined ? (await readCsr(o.csrPem)).publicKeyPem : (o.subjectPublicKeyPem as string);
  const publicKey = await importPublic(subjectKeyPem);
  const signingKey = await importPrivate(ca.keyPem);
  const caCert = new x509.X509Certificate(ca.certPem);
  const eku =
    o.usage === 'server' ? [x509.ExtendedKeyUsage.serverAuth] : o.usage === 'client' ? [x509.ExtendedKeyUsage.clientAuth] : [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth];
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: name(o.commonName, o.organizationalUnit),
    issuer: caCert.subject,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + (o.days ?? 365) * 86_400_000),
    signingAlgorithm: SIGN_ALG,
    publicKey,
    signingKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(eku),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
      ...sanExtension(x509, o.dnsNames, o.ipAddresses),
    ],
  });
  return cert.toString('pem');
}

/** sha256 of the certificate's DER, lowercase hex without separators. */
export function fingerprint(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex');
}

/** True when certPem was signed by caPem's key, is inside its validity period, and its key matches publicKeyPem if given. */
export function certMatches(certPem: string, caPem: string, publicKeyPem?: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return false;
    const now = Date.now();
    if (Date.parse(cert.validFrom) > now || Date.parse(cert.validTo) < now) return false;
    if (publicKeyPem !== undefined) {
      const a = cert.publicKey.export({ type: 'spki', format: 'der' });
      const b = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
      if (!a.equals(b)) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/** Subject fields of a certificate (CN, OU), for the controller's principal. */
export function subjectOf(certPem: string): { commonName: string | undefined; organizationalUnit: string | undefined } {
  // Node prints the subject one attribute per line: "CN=…\nOU=…\nO=…"
  const lines = new X509Certificate(certPem).subject.split('\n');
  const field = (k: string): string | undefined => lines.find((l) => l.startsWith(`${k}=`))?.slice(k.length + 1);
  return { commonName: field('CN'), organizationalUnit: field('OU') };
}

/** Writes a private key (or any secret) with mode 0600, also tightening an existing file. */
export function writeSecretFile(path: string, data: string): void {
  writeFileSync(path, data, { mode: 0o600 });
  chmodSync(path, 0o600);
}
