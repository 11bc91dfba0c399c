// SSH key encodings, pure (bytes and text in, typed keys out, and back):
//   - the SSH wire types (RFC 4251 §5: uint32, string, mpint) and public key blobs
//     (RFC 4253 §6.6 ssh-rsa; RFC 8709 ssh-ed25519);
//   - OpenSSH public key lines ("ssh-ed25519 AAAA… comment", the authorized_keys form);
//   - RFC 4716 public key files ("---- BEGIN SSH2 PUBLIC KEY ----");
//   - the openssh-key-v1 private key container, unencrypted (OpenSSH's PROTOCOL.key);
//   - PuTTY's private key file, version 2, unencrypted (PuTTY manual appendix C; the MAC is
//     HMAC-SHA-1 keyed with SHA-1("putty-private-key-file-mac-key")).
// Anything malformed is EC2's InvalidKeyPair.Format, the code ImportKeyPair answers with.
import { createHash, createHmac } from 'node:crypto';
import { Ec2Error } from './errors.js';

export const SSH_RSA = 'ssh-rsa';
export const SSH_ED25519 = 'ssh-ed25519';

/** A public key: RSA (exponent and modulus, unsigned big-endian) or Ed25519 (the 32-byte point). */
export type SshPublicKey = { readonly type: 'rsa'; readonly e: Buffer; readonly n: Buffer } | { readonly type: 'ed25519'; readonly key: Buffer };

const formatError = (why: string): Ec2Error => new Ec2Error('InvalidKeyPair.Format', `Key is not in valid OpenSSH public key format: ${why}`);

// ---------------------------------------------------------------- SSH wire types

/** Strips leading zero bytes of an unsigned big-endian integer. */
function unsignedBytes(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  return b.subarray(i);
}

export class SshWriter {
  private readonly parts: Buffer[] = [];

  uint32(n: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n >>> 0);
    this.parts.push(b);
    return this;
  }

  string(v: Buffer | string): this {
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    this.uint32(b.length);
    this.parts.push(b);
    return this;
  }

  /** A non-negative mpint from unsigned big-endian bytes: minimal, 0x00 before a set high bit. */
  mpint(unsigned: Buffer): this {
    const v = unsignedBytes(unsigned);
    return this.string(v.length > 0 && (v[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), v]) : v);
  }

  raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export class SshReader {
  private off = 0;

  constructor(private readonly buf: Buffer) {}

  get done(): boolean {
    return this.off === this.buf.length;
  }

  uint32(): number {
    if (this.off + 4 > this.buf.length) throw formatError('the key blob is truncated.');
    const n = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return n;
  }

  string(): Buffer {
    const n = this.uint32();
    if (n > this.buf.length - this.off) throw formatError('the key blob is truncated.');
    const b = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return b;
  }

  /** A non-negative mpint as unsigned big-endian bytes. */
  mpint(): Buffer {
    const b = this.string();
    if (b.length > 0 && (b[0]! & 0x80) !== 0) throw formatError('a key integer is negative.');
    return unsignedBytes(b);
  }
}

// ---------------------------------------------------------------- public key blobs and lines

export function publicBlob(k: SshPublicKey): Buffer {
  return k.type === 'rsa' ? new SshWriter().string(SSH_RSA).mpint(k.e).mpint(k.n).bytes() : new SshWriter().string(SSH_ED25519).string(k.key).bytes();
}

export function parsePublicBlob(blob: Buffer): SshPublicKey {
  const r = new SshReader(blob);
  const type = r.string().toString('latin1');
  let k: SshPublicKey;
  if (type === SSH_RSA) {
    const e = r.mpint();
    const n = r.mpint();
    if (e.length === 0 || n.length === 0) throw formatError('the RSA key has an empty exponent or modulus.');
    k = { type: 'rsa', e, n };
  } else if (type === SSH_ED25519) {
    const key = r.string();
    if (key.length !== 32) throw formatError('an Ed25519 public key is 32 bytes.');
    k = { type: 'ed25519', key: Buffer.from(key) };
  } else {
    throw formatError(`the key type '${type.slice(0, 40)}' is not supported (ssh-rsa, ssh-ed25519).`);
  }
  if (!r.done) throw formatError('the key blob has trailing bytes.');
  return k;
}

const algorithmOf = (k: SshPublicKey): string => (k.type === 'rsa' ? SSH_RSA : SSH_ED25519);

/** "ssh-rsa AAAA… comment" (the comment omitted when empty). */
export function openSshLine(k: SshPublicKey, comment = ''): string {
  const line = `${algorithmOf(k)} ${publicBlob(k).toString('base64')}`;
  return comment === '' ? line : `${line} ${comment}`;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function strictBase64(text: string, what: string): Buffer {
  if (!BASE64.test(text) || text.length % 4 !== 0) throw formatError(`${what} is not valid base64.`);
  return Buffer.from(text, 'base64');
}

/** One authorized_keys-style line: algorithm, base64 blob, optional comment. */
export function parseOpenSshLine(text: string): { readonly key: SshPublicKey; readonly comment: string } {
  const m = /^(\S+)\s+(\S+)(?:\s+(.*))?$/.exec(text.trim());
  if (!m) throw formatError('expected "<type> <base64> [comment]".');
  const key = parsePublicBlob(strictBase64(m[2]!, 'the key'));
  if (algorithmOf(key) !== m[1]) throw formatError(`the line says ${m[1]!.slice(0, 40)} but the blob holds ${algorithmOf(key)}.`);
  return { key, comment: (m[3] ?? '').trim() };
}

/** An RFC 4716 file: BEGIN/END markers, headers (with "\" continuations), then the base64 blob. */
export function parseRfc4716(text: string): { readonly key: SshPublicKey; readonly comment: string } {
  const lines = text.replace(/\r\n?/g, '\n').split('\n').map((l) => l.trim());
  const begin = lines.indexOf('---- BEGIN SSH2 PUBLIC KEY ----');
  const end = lines.indexOf('---- END SSH2 PUBLIC KEY ----');
  if (begin < 0 || end < begin) throw formatError('no "---- BEGIN SSH2 PUBLIC KEY ----" block.');
  const inner = lines.slice(begin + 1, end);
  let comment = '';
  let i = 0;
  while (i < inner.length && inner[i]!.includes(':')) {
    let header = inner[i]!;
    while (header.endsWith('\\') && i + 1 < inner.length) header = header.slice(0, -1) + inner[++i]!;
    const colon = header.indexOf(':');
    if (header.slice(0, colon).trim().toLowerCase() === 'comment') comment = header.slice(colon + 1).trim().replace(/^"(.*)"$/, '$1');
    i++;
  }
  return { key: parsePublicBlob(strictBase64(inner.slice(i).join(''), 'the key')), comment };
}

// ---------------------------------------------------------------- private key containers

function wrap(b64: string, width: number): string {
  const out: string[] = [];
  for (let i = 0; i < b64.length; i += width) out.push(b64.slice(i, i + width));
  return out.join('\n');
}

/**
 * An Ed25519 private key in OpenSSH's own container, unencrypted ("none" cipher and KDF):
 * what `ssh-keygen -t ed25519 -N ''` writes. `checkint` is the random 32-bit check value.
 */
export function openSshPrivateKeyEd25519(seed: Buffer, pub: Buffer, comment: string, checkint: number): string {
  if (seed.length !== 32 || pub.length !== 32) throw new RangeError('an Ed25519 seed and public key are 32 bytes each');
  const pubBlob = publicBlob({ type: 'ed25519', key: pub });
  const priv = new SshWriter().uint32(checkint).uint32(checkint).string(SSH_ED25519).string(pub).string(Buffer.concat([seed, pub])).string(comment);
  let section = priv.bytes();
  const pad: number[] = [];
  for (let i = 1; (section.length + pad.length) % 8 !== 0; i++) pad.push(i);
  section = Buffer.concat([section, Buffer.from(pad)]);
  const body = new SshWriter().raw(Buffer.from('openssh-key-v1\0', 'latin1')).string('none').string('none').string('').uint32(1).string(pubBlob).string(section).bytes();
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${wrap(body.toString('base64'), 70)}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

/** The private part of a key for a PPK file. */
export type PpkPrivate =
  | { readonly type: 'rsa'; readonly e: Buffer; readonly n: Buffer; readonly d: Buffer; readonly p: Buffer; readonly q: Buffer; /** q⁻¹ mod p */ readonly iqmp: Buffer }
  | { readonly type: 'ed25519'; readonly pub: Buffer; readonly seed: Buffer };

export const PPK_V2_MAC_KEY_LABEL = 'putty-private-key-file-mac-key';

/** A PuTTY-User-Key-File-2, encryption "none" (the MAC key is SHA-1 of the label and an empty passphrase). */
export function ppkV2(k: PpkPrivate, comment: string): string {
  const algorithm = k.type === 'rsa' ? SSH_RSA : SSH_ED25519;
  const pub = k.type === 'rsa' ? publicBlob({ type: 'rsa', e: k.e, n: k.n }) : publicBlob({ type: 'ed25519', key: k.pub });
  // RSA: d, p, q, iqmp as mpints. Ed25519: the private scalar little-endian in 32 bytes (the seed).
  const priv = k.type === 'rsa' ? new SshWriter().mpint(k.d).mpint(k.p).mpint(k.q).mpint(k.iqmp).bytes() : new SshWriter().string(k.seed).bytes();
  const encryption = 'none';
  const macKey = createHash('sha1').update(PPK_V2_MAC_KEY_LABEL).digest();
  const macData = new SshWriter().string(algorithm).string(encryption).string(comment).string(pub).string(priv).bytes();
  const mac = createHmac('sha1', macKey).update(macData).digest('hex');
  const pubLines = wrap(pub.toString('base64'), 64).split('\n');
  const privLines = wrap(priv.toString('base64'), 64).split('\n');
  return [
    `PuTTY-User-Key-File-2: ${algorithm}`,
    `Encryption: ${encryption}`,
    `Comment: ${comment}`,
    `Public-Lines: ${pubLines.length}`,
    ...pubLines,
    `Private-Lines: ${privLines.length}`,
    ...privLines,
    `Private-MAC: ${mac}`,
    '',
  ].join('\n');
}
