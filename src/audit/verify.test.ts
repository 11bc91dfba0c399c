// proveLog against random damage (seeded; replay with NITRIDE_FUZZ_SEED): whatever bytes the
// segments, the head or the checkpoints hold, it answers, and it never vouches for a record
// that differs from the one the writer wrote.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { mulberry32 } from '../lib/testing/seeded-rng.js';
import { AuditChain } from './chain.js';
import type { ChainRecord } from './record.js';
import { defaultVerifyKeyPath, loadVerifyKey, sealDirFor } from './seal.js';
import { proveLog } from './verify.js';

test('proveLog: random damage to any file of a log never throws and never proves a changed record', () => {
  const seed = Number(process.env['NITRIDE_FUZZ_SEED'] ?? 20261207);
  const next = mulberry32(seed);
  const dir = mkdtempSync(join(tmpdir(), 'nitride-audit-fuzz-'));
  try {
    const path = join(dir, 'audit.log');
    const c = new AuditChain(path, { segmentBytes: 400, checkpointRecords: 3, checkpointSeconds: 0 });
    for (let i = 1; i <= 14; i++) c.append({ type: 'command.accepted', id: `c${i}`, n: i });
    c.close();
    const key = loadVerifyKey(defaultVerifyKeyPath(path));
    const files = readdirSync(dir)
      .filter((f) => f !== basename(sealDirFor(path)))
      .map((f) => join(dir, f));
    const pristine = new Map(files.map((f) => [f, readFileSync(f)]));
    const truth = new Map<number, string>();
    const first = proveLog(path, { key });
    assert.equal(first.tamper, undefined, JSON.stringify(first.tamper));
    assert.equal(first.provenThrough, 14);
    for (const s of first.segments) for (const l of readFileSync(s.file, 'utf8').split('\n').filter((x) => x !== '')) truth.set((JSON.parse(l) as ChainRecord).seq, (JSON.parse(l) as ChainRecord).hash);
    const alphabet = Buffer.from('{}[]":,\n0123456789abcdef-seqprevhashtimenull');
    let tampered = 0;
    for (let iter = 0; iter < 400; iter++) {
      for (const [f, b] of pristine) writeFileSync(f, b);
      const target = files[next() % files.length] as string;
      let buf = Buffer.from(pristine.get(target) ?? Buffer.alloc(0));
      for (let k = 1 + (next() % 4); k > 0; k--) {
        const at = next() % Math.max(1, buf.length);
        const op = next() % 4;
        if (op === 0) buf[at] = alphabet[next() % alphabet.length] ?? 0;
        else if (op === 1) buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + 1 + (next() % 80))]);
        else if (op === 2) buf = Buffer.concat([buf.subarray(0, at), Buffer.from([next() & 0xff]), buf.subarray(at)]);
        else buf = buf.subarray(0, at);
      }
      writeFileSync(target, buf);
      let p;
      try {
        p = proveLog(path, { key });
      } catch (e) {
        assert.fail(`seed ${seed} iteration ${iter}: proveLog threw on damage to ${basename(target)}: ${String(e)}`);
      }
      if (p.tamper) {
        tampered++;
        continue;
      }
      for (const s of p.segments) {
        if (!existsSync(s.file)) continue;
        for (const l of readFileSync(s.file, 'utf8').split('\n')) {
          let r: ChainRecord | undefined;
          try {
            r = JSON.parse(l) as ChainRecord;
          } catch {
            continue; // an unfinished last line, reported as such
          }
          if (r.seq <= p.provenThrough) assert.equal(r.hash, truth.get(r.seq), `seed ${seed} iteration ${iter}: record ${r.seq} proven but changed (${basename(target)})`);
        }
      }
    }
    assert.ok(tampered > 300, `most damage is tampering (${tampered} of 400, seed ${seed})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
