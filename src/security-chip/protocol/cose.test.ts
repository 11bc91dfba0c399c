import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SecurityChipError } from '../errors.js';
import { CborTagged, encodeCbor } from './cbor.js';
import { decodeSign1, encodeSign1, protectedHeaderBytes, sigStructure } from './cose.js';

describe('COSE_Sign1', () => {
  it('builds the protected header and Sig_structure byte for byte (RFC 9052 §4.4)', () => {
    assert.equal(protectedHeaderBytes().toString('hex'), 'a1013822'); // {1: -35}
    // ["Signature1", h'a1013822', h'', h'6869']
    assert.equal(sigStructure(protectedHeaderBytes(), Buffer.from('hi')).toString('hex'), '84' + '6a5369676e617475726531' + '44a1013822' + '40' + '426869');
  });

  it('encodes tag 18 around [protected, {}, payload, signature] and decodes it back', () => {
    const enc = encodeSign1({ protectedBytes: protectedHeaderBytes(), payload: Buffer.from('p'), signature: Buffer.alloc(96, 9) });
    assert.equal(enc.subarray(0, 7).toString('hex'), 'd28444a1013822');
    const d = decodeSign1(enc);
    assert.equal(d.tagged, true);
    assert.deepEqual(d.protectedHeader, new Map([[1, -35]]));
    assert.deepEqual(d.payload, Buffer.from('p'));
    assert.equal(decodeSign1(encodeSign1(d, false)).tagged, false);
  });

  it('refuses other shapes with CoseMalformed', () => {
    const p = protectedHeaderBytes();
    const bad: [string, unknown][] = [
      ['not an array', new Map()],
      ['five items', [p, new Map(), Buffer.alloc(1), Buffer.alloc(1), Buffer.alloc(1)]],
      ['protected not bstr', [new Map(), new Map(), Buffer.alloc(1), Buffer.alloc(1)]],
      ['unprotected not a map', [p, [], Buffer.alloc(1), Buffer.alloc(1)]],
      ['detached payload', [p, new Map(), null, Buffer.alloc(1)]],
      ['signature not bstr', [p, new Map(), Buffer.alloc(1), 'sig']],
      ['protected not a map', [encodeCbor([1]), new Map(), Buffer.alloc(1), Buffer.alloc(1)]],
      ['protected not CBOR', [Buffer.from([0xff]), new Map(), Buffer.alloc(1), Buffer.alloc(1)]],
    ];
    for (const [what, v] of bad) {
      assert.throws(() => decodeSign1(encodeCbor(new CborTagged(18, v as never))), (e: unknown) => e instanceof SecurityChipError && e.code === 'CoseMalformed', what);
    }
    assert.throws(() => decodeSign1(encodeCbor(new CborTagged(18, [p, new Map(), Buffer.alloc(70_000), Buffer.alloc(1)]))), /more than the 65536 accepted/);
  });
});
