// Seeded fuzz of KMS requests at the JSON 1.1 handler (handleKmsRequest: target, body parse,
// member decoding, dispatch). Every request starts from a valid one — real key ids, a real
// ciphertext blob, a real grant — and is mutated: bytes flipped, inserted, cut or repeated in
// the JSON text, or a member replaced by a value of another type, removed, or joined by an
// unknown one; now and then the target itself. Each answer must be a 200 with a JSON object,
// or a KMS client error whose __type is an exception of KMS's model (botocore's kms
// service-2.json) or a JSON 1.1 protocol error, with the status KMS gives it. A
// KMSInternalException (a bug surfacing as 500) or a thrown promise fails the test. After the
// loop the same handler still encrypts and decrypts. NITRIDE_FUZZ_SEED replays a seed,
// NITRIDE_FUZZ_ROUNDS runs longer.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Iam } from '../iam/iam.js';
import type { AuthzPrincipal } from '../iam/policy.js';
import { seededInt } from '../lib/testing/seeded-rng.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { handleKmsRequest, type KmsApiResponse } from './api.js';
import { kmsErrorStatus } from './errors.js';
import { Kms } from './kms.js';

const SEED = Number(process.env['NITRIDE_FUZZ_SEED'] ?? 0x6b6d73);
const ROUNDS = Number(process.env['NITRIDE_FUZZ_ROUNDS'] ?? 1500);

/**
 * What a KMS client may be answered: the exceptions of botocore's KMS model (2014-11-01) that
 * this KMS can raise, and the AWS JSON 1.1 protocol's own errors.
 */
const KMS_MODEL_ERRORS = new Set([
  'AlreadyExistsException', 'DependencyTimeoutException', 'DisabledException', 'DryRunOperationException', 'IncorrectKeyException',
  'InvalidAliasNameException', 'InvalidArnException', 'InvalidCiphertextException', 'InvalidGrantIdException', 'InvalidGrantTokenException',
  'InvalidKeyUsageException', 'InvalidMarkerException', 'KMSInvalidStateException', 'KeyUnavailableException', 'LimitExceededException',
  'MalformedPolicyDocumentException', 'NotFoundException', 'TagException', 'UnsupportedOperationException', 'ConflictException',
]);
const PROTOCOL_ERRORS = new Set(['ValidationException', 'SerializationException', 'UnknownOperationException', 'AccessDeniedException']);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

test(`seeded fuzz of KMS requests (seed ${SEED}, ${ROUNDS} rounds): every answer is a result or a KMS client error`, { timeout: 600_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nitride-kms-fuzz-'));
  const store = await SqliteStore.open(join(dir, 'state.db'));
  try {
    const iam = Iam.open(store, { home: dir });
    const kms = Kms.open(store, iam, { home: dir });
    const root: AuthzPrincipal = { accountId: (await iam.createAccount('fuzz')).accountId, userName: 'root' };
    const call = (target: string, body: Buffer): Promise<KmsApiResponse> => handleKmsRequest(kms, root, target, body, { requestId: 'fuzz' });
    const ok = async (op: string, body: Record<string, Json>): Promise<Record<string, Json>> => {
      const r = await call(`TrentService.${op}`, Buffer.from(JSON.stringify(body)));
      assert.equal(r.status, 200, `${op} ${r.body}`);
      return JSON.parse(r.body) as Record<string, Json>;
    };

    // Valid requests to start from, with real identifiers.
    const keyOf = (r: Record<string, Json>): { id: string; arn: string } => {
      const m = r['KeyMetadata'] as { KeyId: string; Arn: string };
      return { id: m.KeyId, arn: m.Arn };
    };
    const k1 = keyOf(await ok('CreateKey', { Description: 'fuzz one', Tags: [{ TagKey: 'a', TagValue: 'b' }] }));
    const k2 = keyOf(await ok('CreateKey', { Description: 'fuzz two' }));
    await ok('CreateAlias', { AliasName: 'alias/fuzz', TargetKeyId: k1.id });
    const blob = (await ok('Encrypt', { KeyId: k1.id, Plaintext: Buffer.from('fuzz plaintext').toString('base64'), EncryptionContext: { p: 'q' } }))['CiphertextBlob'] as string;
    const grantee = `arn:aws:iam::${root.accountId}:user/fuzzer`;
    const grant = await ok('CreateGrant', { KeyId: k1.id, GranteePrincipal: grantee, Operations: ['Decrypt', 'Encrypt'], Constraints: { EncryptionContextSubset: { p: 'q' } } });
    const policy = (await ok('GetKeyPolicy', { KeyId: k2.id, PolicyName: 'default' }))['Policy'] as string;
    const corpus: [string, Record<string, Json>][] = [
      ['CreateKey', { Description: 'x', KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'SYMMETRIC_DEFAULT', Tags: [{ TagKey: 'k', TagValue: 'v' }] }],
      ['DescribeKey', { KeyId: k1.arn }],
      ['DescribeKey', { KeyId: 'alias/fuzz' }],
      ['ListKeys', { Limit: 10 }],
      ['GetKeyPolicy', { KeyId: k2.id, PolicyName: 'default' }],
      ['PutKeyPolicy', { KeyId: k2.id, PolicyName: 'default', Policy: policy }],
      ['ListKeyPolicies', { KeyId: k2.id, Limit: 5 }],
      ['CreateAlias', { AliasName: 'alias/fuzz-2', TargetKeyId: k2.id }],
      ['UpdateAlias', { AliasName: 'alias/fuzz', TargetKeyId: k1.id }],
      ['DeleteAlias', { AliasName: 'alias/fuzz-2' }],
      ['ListAliases', { KeyId: k1.id, Limit: 3 }],
      ['Encrypt', { KeyId: 'alias/fuzz', Plaintext: Buffer.from('hello').toString('base64'), EncryptionContext: { p: 'q' }, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }],
      ['Decrypt', { CiphertextBlob: blob, EncryptionContext: { p: 'q' }, KeyId: k1.id }],
      ['GenerateDataKey', { KeyId: k1.id, KeySpec: 'AES_256', EncryptionContext: { p: 'q' } }],
      ['GenerateDataKeyWithoutPlaintext', { KeyId: k1.id, NumberOfBytes: 32 }],
      ['ReEncrypt', { CiphertextBlob: blob, SourceEncryptionContext: { p: 'q' }, DestinationKeyId: k2.id, DestinationEncryptionContext: { r: 's' } }],
      ['GenerateRandom', { NumberOfBytes: 16 }],
      ['EnableKey', { KeyId: k2.id }],
      ['DisableKey', { KeyId: k2.id }],
      ['ScheduleKeyDeletion', { KeyId: k2.id, PendingWindowInDays: 7 }],
      ['CancelKeyDeletion', { KeyId: k2.id }],
      ['EnableKeyRotation', { KeyId: k1.id, RotationPeriodInDays: 90 }],
      ['DisableKeyRotation', { KeyId: k1.id }],
      ['GetKeyRotationStatus', { KeyId: k1.id }],
      ['RotateKeyOnDemand', { KeyId: k1.id }],
      ['CreateGrant', { KeyId: k1.id, GranteePrincipal: grantee, Operations: ['Decrypt'], Name: 'g', GrantTokens: [grant['GrantToken'] as string] }],
      ['ListGrants', { KeyId: k1.id, Limit: 2 }],
      ['RetireGrant', { KeyId: k1.id, GrantId: grant['GrantId'] as string }],
      ['RevokeGrant', { KeyId: k1.id, GrantId: grant['GrantId'] as string }],
    ];

    const rnd = seededInt(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)] as T;
    const strings = ['', 'x'.repeat(rnd(2) ? 300 : 70_000), k1.id, k2.arn, 'alias/fuzz', 'alias/aws/ebs', blob, blob.slice(0, 20), 'AAAA', 'SGVsbG8=!!', '\u0000\u{1F600}\uD800', 'arn:aws:kms:x:1:key/y', '../../etc/passwd', 'SYMMETRIC_DEFAULT', 'AES_128'];
    const value = (depth = 0): Json => {
      switch (rnd(depth > 2 ? 6 : 10)) {
        case 0: return null;
        case 1: return pick([0, -1, 1, 7, 1024, 4097, 2 ** 31, -(2 ** 53), 1.5, 1e300]);
        case 2: return pick(strings);
        case 3: return rnd(2) === 0;
        case 4: return pick(strings).toLowerCase();
        case 5: return String(rnd(100_000));
        case 6: return Array.from({ length: rnd(4) }, () => value(depth + 1));
        case 7: return Object.fromEntries(Array.from({ length: rnd(4) }, () => [pick(['a', 'KeyId', '', '__proto__', 'constructor', 'p']), value(depth + 1)]));
        case 8: return [{ TagKey: pick(strings), TagValue: value(depth + 1) }];
        default: return { EncryptionContextSubset: { p: value(depth + 1) } };
      }
    };
    const members = ['KeyId', 'Plaintext', 'CiphertextBlob', 'EncryptionContext', 'GrantTokens', 'KeySpec', 'NumberOfBytes', 'Limit', 'Marker', 'AliasName', 'TargetKeyId',
      'DestinationKeyId', 'SourceKeyId', 'PendingWindowInDays', 'GranteePrincipal', 'Operations', 'Constraints', 'GrantId', 'GrantToken', 'Tags', 'Policy', 'PolicyName',
      'Description', 'RotationPeriodInDays', 'BypassPolicyLockoutSafetyCheck', 'KeyUsage', 'Origin', 'CustomKeyStoreId', 'Recipient', 'EncryptionAlgorithm', 'DryRun'];
    /** A member replaced, removed or added (the structure of a request). */
    const mutateMembers = (b: Record<string, Json>): Record<string, Json> => {
      const o: Record<string, Json> = { ...b };
      for (let n = 1 + rnd(3); n > 0; n--) {
        const keys = Object.keys(o);
        const k = keys.length > 0 && rnd(3) !== 0 ? pick(keys) : pick(members);
        if (rnd(4) === 0) delete o[k];
        else o[k] = value();
      }
      return o;
    };
    /** Bytes of the JSON text changed (the encoding of a request). */
    const mutateBytes = (text: Buffer): Buffer => {
      let b = Buffer.from(text);
      for (let n = 1 + rnd(4); n > 0; n--) {
        const at = rnd(b.length + 1);
        switch (rnd(6)) {
          case 0: // flip bits of one byte
            if (b.length > 0) b[at % b.length] = (b[at % b.length] as number) ^ (1 << rnd(8));
            break;
          case 1: // insert a JSON-significant or random byte
            b = Buffer.concat([b.subarray(0, at), Buffer.from([pick([0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x3a, 0x2c, 0x00, 0xff, rnd(256)])]), b.subarray(at)]);
            break;
          case 2: // cut
            b = b.subarray(0, at);
            break;
          case 3: // remove a range
            b = Buffer.concat([b.subarray(0, at), b.subarray(at + rnd(16))]);
            break;
          case 4: // repeat a range
            b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + rnd(32)), b.subarray(at)]);
            break;
          default: // a number no JSON.stringify writes
            b = Buffer.concat([b.subarray(0, at), Buffer.from(pick(['1e400', '-0', '9007199254740993', '0x10', 'NaN', '[[[[[[[[[[', '"\\ud800"'])), b.subarray(at)]);
        }
      }
      return b;
    };
    const mutateTarget = (op: string): string => pick([`TrentService.${op.toLowerCase()}`, op, `TrentService.${op}X`, 'TrentService.', `trentservice.${op}`, `TrentService.${op}\u0000`, `DynamoDB_20120810.${op}`]);

    const tally = new Map<string, number>();
    for (let i = 0; i < ROUNDS; i++) {
      const [op, base] = pick(corpus);
      let target = `TrentService.${op}`;
      let body: Buffer;
      const how = rnd(10);
      if (how < 4) body = Buffer.from(JSON.stringify(mutateMembers(base)));
      else if (how < 8) body = mutateBytes(Buffer.from(JSON.stringify(rnd(2) ? base : mutateMembers(base))));
      else if (how < 9) body = Buffer.from(pick(['', '[]', '"x"', 'null', '{', '{}'.repeat(3), '['.repeat(20_000), `{"KeyId":${'['.repeat(5_000)}`]));
      else {
        target = mutateTarget(op);
        body = Buffer.from(JSON.stringify(base));
      }
      const what = `round ${i} (seed ${SEED}): ${target} ${body.subarray(0, 300).toString('utf8')}`;
      const r = await call(target, body);
      let parsed: unknown;
      try {
        parsed = JSON.parse(r.body);
      } catch {
        assert.fail(`${what}\n→ the answer is not JSON: ${r.body.slice(0, 200)}`);
      }
      assert.ok(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed), `${what}\n→ the answer is not a JSON object`);
      if (r.status === 200) {
        assert.equal(r.errorCode, undefined, what);
        tally.set('200', (tally.get('200') ?? 0) + 1);
        continue;
      }
      const type = (parsed as Record<string, unknown>)['__type'];
      assert.equal(typeof type, 'string', `${what}\n→ ${r.status} without __type: ${r.body}`);
      const code = type as string;
      assert.ok(KMS_MODEL_ERRORS.has(code) || PROTOCOL_ERRORS.has(code), `${what}\n→ ${code} is not a KMS error: ${r.body}`);
      assert.equal(r.status, kmsErrorStatus(code), `${what}\n→ ${code} with status ${r.status}`);
      assert.ok(r.status >= 400 && r.status < 500, `${what}\n→ ${r.status} ${r.body}`);
      assert.equal(r.errorCode, code, what);
      tally.set(code, (tally.get(code) ?? 0) + 1);
    }
    process.stdout.write(`# kms fuzz seed ${SEED}: ${[...tally.entries()].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ')}\n`);
    assert.ok((tally.get('200') ?? 0) > 0 && tally.size > 3, 'the mutations reach both results and several kinds of refusal');

    // The handler still serves: a fresh key encrypts and decrypts.
    const k3 = keyOf(await ok('CreateKey', {}));
    const pt = Buffer.from('after the fuzz').toString('base64');
    const c3 = (await ok('Encrypt', { KeyId: k3.id, Plaintext: pt }))['CiphertextBlob'] as string;
    assert.equal((await ok('Decrypt', { CiphertextBlob: c3 }))['Plaintext'], pt);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
