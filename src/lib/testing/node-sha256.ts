// The Checksum constructor @smithy/signature-v4 wants, on node:crypto, for tests that use
// the SDK's own signer as a peer (presigning, signing) without the SDK's client stack.
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';

function toBytes(d: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof d === 'string') return d;
  if (d instanceof ArrayBuffer) return new Uint8Array(d);
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** The Checksum constructor @smithy/signature-v4 wants, on node:crypto (HMAC when given a secret). */
export class NodeSha256 {
  private readonly h: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', toBytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.h.update(toBytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.h.digest();
  }
  reset(): void {}
}
