// Seeded fuzzing of SigV4 verification: random and mutated Authorization headers, presigned
// queries, dates and bodies. Every input is either verified or refused with a SigV4Error;
// nothing else is thrown, and a mutated signature never verifies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalQueryString, parseQueryPairs, verifySigV4, signRequest, presignRequest, SigV4Error, type SigV4Request } from './index.js';
import { seededRandom as prng } from '../../lib/testing/seeded-rng.js';

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;

const CREDS = { accessKeyId: 'AKIAFUZZ000000000001', secretAccessKey: 'fuzz/secret+0123456789abcdefghijklmnopqr' };
const lookup = (id: string): { secretAccessKey: string } | undefined => (id === CREDS.accessKeyId ? CREDS : undefined);
const NOW = new Date('2026-03-04T05:06:07Z');
const HOST = '127.0.0.1:8773';
const OPTS = { now: NOW, service: 'ec2', region: 'local-1' };
const BODY = 'Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-1234abcd';

const TOKENS = [',', ' ', '=', '/', ';', '%', '%zz', 'aws4_request', 'AWS4-HMAC-SHA256', 'Credential=', 'SignedHeaders=', 'Signature=', 'host', 'x-amz-date', '20260304', '20260304T050607Z', '99999999T999999Z', 'X-Amz-Expires=', '604801', '0', '-1', '\u0000', '\u00e9', '\ud83d', 'ec2', 'local-1', ''];
const CHARS = [...'abcdefABCDEF0123456789 ,=/;%-_.~\t\u00ff'];

function mutateString(r: () => number, s: string): string {
  let out = s;
  const steps = 1 + Math.floor(r() * 3);
  for (let k = 0; k < steps; k++) {
    const at = Math.floor(r() * (out.length + 1));
    switch (Math.floor(r() * 5)) {
      case 0:
        out = out.slice(0, at) + out.slice(at + 1 + Math.floor(r() * 10));
        break;
      case 1:
        out = out.slice(0, at) + pick(r, TOKENS) + out.slice(at);
        break;
      case 2:
        out = out.slice(0, at) + pick(r, CHARS) + out.slice(at + 1);
        break;
      case 3:
        out = out.slice(0, at);
        break;
      default:
        out = out + pick(r, TOKENS);
    }
  }
  return out;
}

function attempt(req: SigV4Request): 'verified' | SigV4Error {
  try {
    verifySigV4(req, lookup, OPTS);
    return 'verified';
  } catch (e) {
    if (!(e instanceof SigV4Error)) throw new Error(`non-SigV4Error for ${JSON.stringify({ ...req, body: Buffer.from(req.body).toString() })}: ${String(e)}`, { cause: e });
    assert.ok([400, 401, 403].includes(e.httpStatus));
    return e;
  }
}

test('fuzz: mutated Authorization headers, dates and bodies are refused cleanly', { timeout: 120_000 }, () => {
  const r = prng(0xa11ce);
  const signed = signRequest({ method: 'POST', path: '/', query: '', headers: { host: HOST, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: BODY }, CREDS, {
    region: 'local-1',
    service: 'ec2',
    now: NOW,
  });
  const base: SigV4Request = { method: 'POST', path: '/', query: '', headers: signed.headers, body: Buffer.from(BODY) };
  assert.equal(attempt(base), 'verified');
  const tally: Record<string, number> = {};
  for (let i = 0; i < 2500; i++) {
    const headers: Record<string, string | undefined> = { ...signed.headers };
    let body: Uint8Array = base.body;
    let path = '/';
    let sigMutated = false;
    switch (i % 6) {
      case 0:
      case 1: {
        const auth = mutateString(r, signed.authorization);
        sigMutated = /Signature=([^,\s]*)/.exec(auth)?.[1] !== signed.signature;
        headers['authorization'] = auth;
        break;
      }
      case 2:
        headers['x-amz-date'] = pick(r, [mutateString(r, String(signed.headers['x-amz-date'])), undefined, 'Wed, 04 Mar 2026 05:06:07 GMT']);
        break;
      case 3:
        body = Buffer.from(mutateString(r, BODY));
        break;
      case 4:
        headers['authorization'] = Buffer.from(Array.from({ length: Math.floor(r() * 300) }, () => Math.floor(r() * 256))).toString('latin1');
        break;
      default:
        path = mutateString(r, '/');
        headers['x-amz-content-sha256'] = pick(r, [undefined, 'UNSIGNED-PAYLOAD', 'zz', signed.signature]);
    }
    const res = attempt({ method: 'POST', path, query: '', headers, body });
    const key = res === 'verified' ? 'verified' : res.code;
    tally[key] = (tally[key] ?? 0) + 1;
    if (sigMutated) assert.notEqual(res, 'verified', `a mutated signature verified: ${headers['authorization']}`);
    if (res === 'verified') {
      // Only mutations that leave the signed content equivalent may verify (e.g. '/' → '//', or
      // whitespace after a comma); the body and the signature must be the originals.
      assert.equal(Buffer.from(body).toString(), BODY);
    }
  }
  process.stderr.write(`[fuzz] sigv4 header: ${JSON.stringify(tally)}\n`);
  assert.ok((tally['IncompleteSignature'] ?? 0) > 100);
  assert.ok((tally['AuthFailure'] ?? 0) > 100);
});

test('fuzz: mutated and random presigned queries are refused cleanly', { timeout: 120_000 }, () => {
  const r = prng(0xb0b);
  const pre = presignRequest({ method: 'GET', path: '/', query: 'Action=DescribeInstances&Version=2016-11-15', headers: { host: HOST } }, CREDS, {
    region: 'local-1',
    service: 'ec2',
    now: NOW,
    expiresIn: 300,
  });
  const base: SigV4Request = { method: 'GET', path: '/', query: pre.query, headers: { host: HOST }, body: Buffer.alloc(0) };
  assert.equal(attempt(base), 'verified');
  const tally: Record<string, number> = {};
  for (let i = 0; i < 2500; i++) {
    let query: string;
    if (i % 5 === 4) {
      query = Array.from({ length: Math.floor(r() * 8) }, () => `${pick(r, ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature', 'Action'])}=${encodeURIComponent(Buffer.from(pick(r, TOKENS), 'utf8').toString('utf8'))}`).join('&');
    } else {
      const parts = pre.query.split('&');
      const j = Math.floor(r() * parts.length);
      parts[j] = mutateString(r, parts[j] as string);
      if (r() < 0.2) parts.push(pick(r, parts));
      query = parts.join('&');
    }
    const res = attempt({ ...base, query });
    const key = res === 'verified' ? 'verified' : res.code;
    tally[key] = (tally[key] ?? 0) + 1;
    // The oracle: a mutated query may verify only when it means exactly what was signed — the
    // same pairs once decoded (an equivalent encoding), never another parameter or value.
    if (res === 'verified') {
      assert.equal(canonicalQueryString(parseQueryPairs(query)), canonicalQueryString(parseQueryPairs(pre.query)), `a mutated presigned query verified with another meaning: ${query}`);
    }
  }
  process.stderr.write(`[fuzz] sigv4 presigned: ${JSON.stringify(tally)}\n`);
  assert.ok((tally['IncompleteSignature'] ?? 0) > 100);
});
