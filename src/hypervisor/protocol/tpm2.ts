// The little of the TPM 2.0 wire format NitroTPM needs: TPM2_ReadPublic of a persistent
// handle (the EKs swtpm_setup creates) and the parsing of the TPMT_PUBLIC it returns into
// the key's parameters. Pure (no I/O). Spec: TCG TPM 2.0 Library, Part 2 (structures) and
// Part 3 (commands); big-endian throughout.
export const TPM_ST_NO_SESSIONS = 0x8001;
export const TPM_CC_READ_PUBLIC = 0x00000173;
export const TPM_ALG_RSA = 0x0001;
export const TPM_ALG_ECC = 0x0023;
export const TPM_ALG_NULL = 0x0010;
export const TPM_ECC_NIST_P256 = 0x0003;
export const TPM_ECC_NIST_P384 = 0x0004;
/** Persistent handles swtpm_setup --createek uses (TCG EK credential profile). */
export const EK_HANDLE_RSA = 0x81010001;
export const EK_HANDLE_ECC = 0x81010016;

export class Tpm2WireError extends Error {}

export function readPublicCommand(handle: number): Buffer {
  const b = Buffer.alloc(14);
  b.writeUInt16BE(TPM_ST_NO_SESSIONS, 0);
  b.writeUInt32BE(14, 2);
  b.writeUInt32BE(TPM_CC_READ_PUBLIC, 6);
  b.writeUInt32BE(handle >>> 0, 10);
  return b;
}

/** The total size a response announces in its header, or undefined before 6 bytes arrived. */
export function responseSize(b: Buffer): number | undefined {
  return b.length < 6 ? undefined : b.readUInt32BE(2);
}

class Reader {
  off = 0;
  constructor(private readonly b: Buffer) {}
  need(n: number): void {
    if (this.off + n > this.b.length) throw new Tpm2WireError(`truncated TPM structure at byte ${this.off}`);
  }
  u16(): number {
    this.need(2);
    const v = this.b.readUInt16BE(this.off);
    this.off += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.b.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.b.subarray(this.off, this.off + n);
    this.off += n;
    return Buffer.from(v);
  }
  tpm2b(): Buffer {
    return this.bytes(this.u16());
  }
}

export type Tpm2PublicKey =
  | { readonly type: 'rsa'; readonly keyBits: number; readonly exponent: number; readonly modulus: Buffer }
  | { readonly type: 'ecc'; readonly curve: 'P-256' | 'P-384' | number; readonly x: Buffer; readonly y: Buffer };

/** Parses a TPMT_PUBLIC (RSA or ECC). */
export function parseTpmtPublic(tpmt: Buffer): Tpm2PublicKey {
  const r = new Reader(tpmt);
  const type = r.u16();
  r.u16(); // nameAlg
  r.u32(); // objectAttributes
  r.tpm2b(); // authPolicy
  const symAlg = r.u16();
  if (symAlg !== TPM_ALG_NULL) {
    r.u16(); // keyBits
    r.u16(); // mode
  }
  if (type === TPM_ALG_RSA) {
    if (r.u16() !== TPM_ALG_NULL) r.u16(); // scheme, hashAlg
    const keyBits = r.u16();
    const exponent = r.u32();
    const modulus = r.tpm2b();
    return { type: 'rsa', keyBits, exponent: exponent === 0 ? 65537 : exponent, modulus };
  }
  if (type === TPM_ALG_ECC) {
    if (r.u16() !== TPM_ALG_NULL) r.u16(); // scheme, hashAlg
    const curveId = r.u16();
    if (r.u16() !== TPM_ALG_NULL) r.u16(); // kdf
    const x = r.tpm2b();
    const y = r.tpm2b();
    const curve = curveId === TPM_ECC_NIST_P256 ? 'P-256' : curveId === TPM_ECC_NIST_P384 ? 'P-384' : curveId;
    return { type: 'ecc', curve, x, y };
  }
  throw new Tpm2WireError(`unsupported TPM key type 0x${type.toString(16)}`);
}

/** Parses a TPM2_ReadPublic response; returns the TPMT_PUBLIC bytes. Throws on a TPM error code. */
export function parseReadPublicResponse(b: Buffer): Buffer {
  const r = new Reader(b);
  r.u16(); // tag
  const size = r.u32();
  if (size !== b.length) throw new Tpm2WireError(`response size ${size} but ${b.length} bytes`);
  const rc = r.u32();
  if (rc !== 0) throw new Tpm2WireError(`TPM error 0x${rc.toString(16)}`);
  return r.tpm2b();
}
