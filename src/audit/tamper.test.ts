// The attacks of issue 12 (finding 4) against both audit logs, each judged by the real
// `nitride audit verify` process. The attacker can write every file of the log (segments,
// head, checkpoints) and knows the record format, but cannot read the sealer's directory
// (P.seal/): they rewrite records and re-chain them with the same SHA-256 the trail uses.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../lib/wait.js';
import { AuditChain } from './chain.js';
import { headLine } from './head.js';
import { GENESIS, recordHash, type ChainRecord } from './record.js';
import { checkpointMac, checkpointsPathFor, readCheckpoints, sealDirFor, type Checkpoint } from './seal.js';
import { segmentPath, type AuditLogPolicy } from './segments.js';
import { AuditTrail, hostAuditPath, regionTrailPath, type AuditEvent } from './trail.js';

const cli = fileURLToPath(new URL('../cli/main.js', import.meta.url));

function verifyCli(home: string, ...extra: string[]): { code: number; out: string } {
  const r = spawnSync(process.execPath, [cli, 'audit', 'verify', '--home', home, ...extra], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

function apiEvent(i: number): AuditEvent {
  return {
    eventSource: 'ec2.amazonaws.com',
    eventName: 'RunInstances',
    awsRegion: 'local-1',
    sourceIPAddress: '127.0.0.1',
    userIdentity: { type: 'IAMUser', accountId: '123456789012', userName: 'alice' },
    requestParameters: { n: i },
    requestID: `req-${i}`,
    readOnly: false,
  };
}

type Kind = 'region' | 'host';

/** Writes n records through the real writer of that log and closes it; returns the log's path. */
async function writeLog(home: string, kind: Kind, n: number, policy: Partial<AuditLogPolicy>): Promise<string> {
  if (kind === 'region') {
    const t = new AuditTrail(regionTrailPath(home), policy);
    for (let i = 1; i <= n; i++) await t.record(apiEvent(i));
    await t.close();
    return regionTrailPath(home);
  }
  mkdirSync(join(home, 'host'), { recursive: true });
  const c = new AuditChain(hostAuditPath(home), policy);
  for (let i = 1; i <= n; i++) c.append({ type: 'command.accepted', id: `c${i}`, command: 'instance.describe' });
  c.close();
  return hostAuditPath(home);
}

// --- the attacker's tools: only files they can write, and public algorithms ---

function records(file: string): ChainRecord[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ChainRecord);
}

/** Re-numbers and re-hashes records so the chain is whole again. */
function rechain(recs: readonly ChainRecord[], start = { seq: 0, hash: GENESIS }): ChainRecord[] {
  let prev = start.hash;
  return recs.map((r, i) => {
    const seq = start.seq + i + 1;
    const hash = recordHash(seq, prev, r.time, r.event);
    const out = { seq, prev, time: r.time, event: r.event, hash };
    prev = hash;
    return out;
  });
}

function writeRecords(file: string, recs: readonly ChainRecord[]): void {
  writeFileSync(file, recs.map((r) => `${JSON.stringify(r)}\n`).join(''));
}

function rewriteHead(path: string, recs: readonly ChainRecord[]): void {
  const last = recs[recs.length - 1];
  writeFileSync(`${path}.head`, headLine(last?.seq ?? 0, last?.hash ?? GENESIS));
}

function writeCheckpoints(path: string, cps: readonly Checkpoint[]): void {
  writeFileSync(checkpointsPathFor(path), cps.map((c) => `${JSON.stringify(c)}\n`).join(''));
}

/** Every file of the log the attacker can write (all but the sealer's directory). */
function attackable(path: string): string[] {
  const seal = basename(sealDirFor(path));
  return readdirSync(dirname(path))
    .filter((f) => f.startsWith(basename(path)) && f !== seal)
    .map((f) => join(dirname(path), f));
}

function snapshot(path: string): Map<string, Buffer> {
  return new Map(attackable(path).map((f) => [f, readFileSync(f)]));
}

function restore(path: string, snap: Map<string, Buffer>): void {
  for (const f of attackable(path)) if (!snap.has(f)) unlinkSync(f);
  for (const [f, b] of snap) writeFileSync(f, b);
}

/** Leaves the host log's files as they are now, as if its writer died here (no closing checkpoint). */
function crashNow(home: string, writer: AuditChain): void {
  const crashed = join(home, 'crashed');
  cpSync(join(home, 'host'), crashed, { recursive: true });
  writer.close();
  rmSync(join(home, 'host'), { recursive: true });
  cpSync(crashed, join(home, 'host'), { recursive: true });
  rmSync(crashed, { recursive: true });
}

for (const kind of ['region', 'host'] as const) {
  describe(`the ${kind} audit log against rewriting (nitride audit verify process)`, () => {
    let home = '';
    let path = '';
    let snap = new Map<string, Buffer>();
    const N = 20;
    const flag = kind === 'host' ? ['--host'] : [];

    before(async () => {
      home = await mkdtemp(join(tmpdir(), `nitride-tamper-${kind}-`));
      // a checkpoint every 6 records: #0 open, #1 at 6, #2 at 12, #3 at 18, #4 close at 20
      path = await writeLog(home, kind, N, { checkpointRecords: 6, checkpointSeconds: 0 });
      snap = snapshot(path);
    });
    after(async () => {
      await rm(home, { recursive: true, force: true });
    });

    it('proves the intact log and says from which checkpoint', () => {
      restore(path, snap);
      const r = verifyCli(home, ...flag);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, new RegExp(`OK, ${N} records, all proven`));
      assert.match(r.out, /proven: seq 1-20 by checkpoint #4 \(close, seq 20, \S+Z, key [0-9a-f]{16} epoch 4\)/);
      assert.match(r.out, /segment 1 \(.*audit\.log\): seq 1-20, active, proven/);
      assert.match(r.out, /unproven tail: none/);
    });

    it('detects records deleted from the middle, the rest re-chained and the head rewritten', () => {
      restore(path, snap);
      const kept = records(path).filter((r) => r.seq < 8 || r.seq > 11);
      const forged = rechain(kept);
      writeRecords(path, forged);
      rewriteHead(path, forged);
      const r = verifyCli(home, ...flag);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /TAMPERED: first bad record at line 12 \(seq 12\): record 12 does not match checkpoint #2 \(interval/);
    });

    it('detects the same deletion when the attacker also drops the checkpoints that name it', () => {
      restore(path, snap);
      const forged = rechain(records(path).filter((r) => r.seq < 8 || r.seq > 11));
      writeRecords(path, forged);
      rewriteHead(path, forged);
      const cps = readCheckpoints(path).checkpoints;
      writeCheckpoints(path, cps.slice(0, 2)); // #0 open, #1 at seq 6: both still true
      const r = verifyCli(home, ...flag);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /audit\.log\.checkpoints: TAMPERED: .*the sealer made 5 checkpoints but the file holds 2: checkpoints were removed/);
      // An auditor off the machine (the key, not the sealer's state) cannot see the roll-back,
      // but proves nothing past the last checkpoint left: the rest is reported unproven.
      const keyFile = join(home, 'offsite.key');
      cpSync(join(sealDirFor(path), 'verify-key'), keyFile);
      const sealer = sealDirFor(path);
      renameSync(sealer, `${sealer}.away`);
      try {
        const off = verifyCli(home, ...flag, '--key', keyFile, '--strict');
        assert.equal(off.code, 3, off.out);
        assert.match(off.out, /UNPROVEN TAIL, 16 records, proven through seq 6/);
        assert.match(off.out, /unproven tail: seq 7-16/);
        assert.doesNotMatch(off.out, /OK,/);
      } finally {
        renameSync(`${sealer}.away`, sealer);
      }
    });

    it('detects forged checkpoints over a re-chained log (the attacker has no sealing key)', () => {
      restore(path, snap);
      const forged = rechain(records(path).filter((r) => r.seq !== 3));
      writeRecords(path, forged);
      rewriteHead(path, forged);
      // Re-seal every checkpoint with a key of the attacker's own, keeping numbering and chaining.
      const mine = Buffer.alloc(32, 7);
      let prev = GENESIS;
      const cps = readCheckpoints(path).checkpoints.map((c) => {
        const rec = forged.find((x) => x.seq === Math.min(c.seq, forged.length));
        const body = { v: 1 as const, n: c.n, keyId: c.keyId, prev, kind: c.kind, segment: c.segment, seq: rec?.seq ?? 0, hash: rec?.hash ?? GENESIS, time: c.time };
        const cp: Checkpoint = { ...body, mac: checkpointMac(mine, body) };
        prev = cp.mac;
        return cp;
      });
      writeCheckpoints(path, cps);
      const r = verifyCli(home, ...flag);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /checkpoints: TAMPERED: first bad record at line 1 \(seq 0\): checkpoint #0: its seal does not verify \(forged or altered\)/);
    });

    it('detects records cut off the end with the head rewritten to match', () => {
      restore(path, snap);
      const kept = records(path).slice(0, N - 4);
      writeRecords(path, kept);
      rewriteHead(path, kept);
      const r = verifyCli(home, ...flag);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /first bad record at line 17 \(seq 17\): record 17 is missing: checkpoint #3 \(interval, \S+\) sealed the log through seq 18 but it ends at seq 16/);
    });

    it('detects a well-chained forged record appended after the trail was closed', () => {
      restore(path, snap);
      const all = records(path);
      const last = all[all.length - 1] as ChainRecord;
      const event = kind === 'region' ? { ...all[0]?.event, requestID: 'forged', eventName: 'DeleteVolume' } : { type: 'command.accepted', id: 'forged', command: 'volume.delete' };
      const fixed = rechain([{ ...last, event }], { seq: N, hash: last.hash });
      appendFileSync(path, `${JSON.stringify(fixed[0])}\n`);
      rewriteHead(path, [...all, ...fixed]);
      const r = verifyCli(home, ...flag);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /first bad record at line 21 \(seq 21\): record 21 follows the closing checkpoint #4/);
    });
  });
}

describe('audit log segments: rotation, retention and segment attacks (nitride audit verify process)', () => {
  let home = '';
  let path = '';
  let snap = new Map<string, Buffer>();
  let segmentBytes = 0;

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'nitride-tamper-seg-'));
    // segments a little over 4 records long: a rotation after every 5th record
    const one = await writeLog(join(home, 'one'), 'region', 1, { checkpointSeconds: 0 });
    segmentBytes = Math.floor(4.5 * readFileSync(one).length);
    path = await writeLog(home, 'region', 23, { segmentBytes, checkpointRecords: 1000, checkpointSeconds: 0 });
    snap = snapshot(path);
  });
  after(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('rotates by size, links each segment to the next and verifies across them', () => {
    restore(path, snap);
    for (let s = 1; s <= 4; s++) assert.ok(existsSync(segmentPath(path, s)), `segment ${s}`);
    const first2 = records(segmentPath(path, 2))[0] as ChainRecord;
    const last1 = records(segmentPath(path, 1)).pop() as ChainRecord;
    assert.equal(first2.prev, last1.hash, 'the first record of segment 2 commits to the sealed head of segment 1');
    const r = verifyCli(home);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /OK, 23 records, all proven/);
    assert.match(r.out, /segment 1 \(.*audit\.log\.000001\): seq 1-5, sealed by checkpoint #1 at \S+, proven/);
    assert.match(r.out, /segment 5 \(.*audit\.log\): seq 21-23, active, proven/);
  });

  it('detects a deleted middle segment', () => {
    restore(path, snap);
    unlinkSync(segmentPath(path, 2));
    const r = verifyCli(home);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /audit\.log\.000002: TAMPERED: first bad record at line 1 \(seq 6\): segment 2 \(seq 6-10, sealed by checkpoint #2 at \S+\) is missing/);
  });

  it('detects a deleted middle segment whose neighbours were re-chained around it', () => {
    restore(path, snap);
    unlinkSync(segmentPath(path, 2));
    let start = { seq: 5, hash: (records(segmentPath(path, 1)).pop() as ChainRecord).hash };
    for (const s of [3, 4]) {
      const re = rechain(records(segmentPath(path, s)), start);
      writeRecords(segmentPath(path, s - 1), re);
      start = { seq: (re[re.length - 1] as ChainRecord).seq, hash: (re[re.length - 1] as ChainRecord).hash };
    }
    unlinkSync(segmentPath(path, 4));
    const active = rechain(records(path), start);
    writeRecords(path, active);
    rewriteHead(path, active);
    const r = verifyCli(home);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /audit\.log\.000002: TAMPERED: first bad record at line 5 \(seq 10\): segment 2 does not end where checkpoint #2 sealed it \(seq 10, hash [0-9a-f]{12}…\) but at seq 10 \(hash [0-9a-f]{12}…\): the segment was replaced or altered/);
  });

  it('detects two segments swapped', () => {
    restore(path, snap);
    const a = segmentPath(path, 2);
    const b = segmentPath(path, 3);
    renameSync(a, `${a}.tmp`);
    renameSync(b, a);
    renameSync(`${a}.tmp`, b);
    const r = verifyCli(home);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /audit\.log\.000002: TAMPERED: first bad record at line 1 \(seq 11\): expected seq 6, found 11/);
  });

  it('keeps only the segments retention allows, behind a sealed anchor, and still detects a deleted kept one', async () => {
    const h = await mkdtemp(join(tmpdir(), 'nitride-tamper-retain-'));
    try {
      const p = await writeLog(h, 'region', 23, { segmentBytes, retainSegments: 2, checkpointSeconds: 0 });
      assert.equal(existsSync(segmentPath(p, 1)), false);
      assert.equal(existsSync(segmentPath(p, 2)), false);
      assert.ok(existsSync(segmentPath(p, 3)) && existsSync(segmentPath(p, 4)));
      let r = verifyCli(h);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /OK, 23 records, all proven/);
      assert.match(r.out, /pruned: segments 1-2 \(through seq 10\) deleted by retention; anchor checkpoint #\d+ \(prune, seq 10/);
      assert.match(r.out, /proven: seq 11-23 by checkpoint/);
      unlinkSync(segmentPath(p, 3));
      r = verifyCli(h);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /segment 3 \(seq 11-15, sealed by checkpoint #\d+ at \S+\) is missing/);
    } finally {
      await rm(h, { recursive: true, force: true });
    }
  });
});

describe('what verify says about records no checkpoint covers', () => {
  it('reports a live log\'s tail, and a forged record appended to it, as unproven, never as OK', async () => {
    const home = await mkdtemp(join(tmpdir(), 'nitride-tamper-live-'));
    const path = regionTrailPath(home);
    const t = new AuditTrail(path, { checkpointRecords: 1000, checkpointSeconds: 0 });
    try {
      for (let i = 1; i <= 3; i++) await t.record(apiEvent(i));
      let r = verifyCli(home);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /UNPROVEN, 3 records, none proven/);
      assert.match(r.out, /unproven tail: seq 1-3 \(no checkpoint covers them yet\)/);
      const all = records(path);
      const forged = rechain([{ ...(all[0] as ChainRecord), event: { forged: true } }], { seq: 3, hash: (all[2] as ChainRecord).hash });
      appendFileSync(path, `${JSON.stringify(forged[0])}\n`);
      rewriteHead(path, [...all, ...forged]);
      r = verifyCli(home, '--strict');
      assert.equal(r.code, 3, r.out);
      assert.match(r.out, /unproven tail: seq 1-4/);
      assert.doesNotMatch(r.out, /OK,/);
    } finally {
      // the writer's own next record no longer chains: closing seals its own head, which the forged record contradicts
      await t.close();
      await rm(home, { recursive: true, force: true });
    }
  });

  it('names records a reopening writer adopted after a crash, and proves nothing without the key', async () => {
    const home = await mkdtemp(join(tmpdir(), 'nitride-tamper-crash-'));
    try {
      mkdirSync(join(home, 'host'), { recursive: true });
      const path = hostAuditPath(home);
      const c = new AuditChain(path, { checkpointRecords: 2, checkpointSeconds: 0 });
      for (let i = 1; i <= 5; i++) c.append({ type: 'command.accepted', id: `c${i}` });
      // A crash: what is on disk now, with no closing checkpoint (seq 5 is past the last one, at 4).
      crashNow(home, c);
      const c2 = new AuditChain(path, { checkpointRecords: 2, checkpointSeconds: 0 });
      c2.append({ type: 'controller.start' });
      c2.close();
      // An auditor with the key, away from the machine (no sealer state to read).
      const keyHex = (JSON.parse(readFileSync(join(sealDirFor(path), 'verify-key'), 'utf8')) as { seed: string }).seed;
      rmSync(sealDirFor(path), { recursive: true });
      let r = verifyCli(home, '--host', '--key', keyHex);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /OK, 6 records, all proven/);
      assert.match(r.out, /adopted: seq 5: written after checkpoint #2 \(interval, seq 4, [^)]*\), sealed only when the log was reopened, by checkpoint #3 \(open, seq 5/);
      r = verifyCli(home, '--host');
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /UNPROVEN, 6 records, none proven/);
      assert.match(r.out, /key: none/);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});

describe('checkpoints by time and rotation by age', () => {
  it('seals a checkpoint T seconds after records arrive, with no further record to trigger it', async () => {
    const home = await mkdtemp(join(tmpdir(), 'nitride-tamper-timer-'));
    const path = regionTrailPath(home);
    const t = new AuditTrail(path, { checkpointRecords: 1000, checkpointSeconds: 1 });
    try {
      await t.record(apiEvent(1));
      await t.record(apiEvent(2));
      const cp = await waitFor('an interval checkpoint', () => readCheckpoints(path).checkpoints.find((c) => c.kind === 'interval' && c.seq === 2), 10_000, 100);
      assert.equal(cp.n, 1);
      const r = verifyCli(home);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /OK, 2 records, all proven/);
      assert.match(r.out, /proven: seq 1-2 by checkpoint #1 \(interval, seq 2/);
    } finally {
      await t.close();
      await rm(home, { recursive: true, force: true });
    }
  });

  it('rotates a segment that has grown old, at its next record', async () => {
    const home = await mkdtemp(join(tmpdir(), 'nitride-tamper-age-'));
    try {
      mkdirSync(join(home, 'host'), { recursive: true });
      const path = hostAuditPath(home);
      let now = Date.parse('2026-12-07T12:00:00Z');
      const c = new AuditChain(path, { segmentSeconds: 3600, checkpointSeconds: 0, clock: () => now });
      for (let i = 1; i <= 3; i++) c.append({ type: 'command.accepted', id: `c${i}` });
      now += 3600_000;
      c.append({ type: 'command.accepted', id: 'c4' });
      c.append({ type: 'command.accepted', id: 'c5' });
      c.close();
      const r = verifyCli(home, '--host');
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /segment 1 \(.*audit\.log\.000001\): seq 1-4, sealed by checkpoint #1 at 2026-12-07T13:00:00\.000Z, proven/);
      assert.match(r.out, /segment 2 \(.*audit\.log\): seq 5, active, proven/);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});

describe('crashes inside a checkpoint or a rotation', () => {
  it('a checkpoint written but its key not yet evolved: the next writer evolves it and goes on', async () => {
    const home = await mkdtemp(join(tmpdir(), 'nitride-tamper-evolve-'));
    try {
      mkdirSync(join(home, 'host'), { recursive: true });
      const path = hostAuditPath(home);
      const keyFile = join(sealDirFor(path), 'sealing-key');
      const c = new AuditChain(path, { checkpointRecords: 2, checkpointSeconds: 0 });
      c.append({ type: 'command.accepted', id: 'c1' });
      const before = readFileSync(keyFile); // epoch 1
      c.append({ type: 'command.accepted', id: 'c2' }); // checkpoint #1, key evolved to epoch 2
      crashNow(home, c);
      writeFileSync(keyFile, before); // as if the crash came between the checkpoint and the key's rename
      const c2 = new AuditChain(path, { checkpointRecords: 2, checkpointSeconds: 0 });
      c2.append({ type: 'controller.start' });
      c2.close();
      const r = verifyCli(home, '--host');
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /OK, 3 records, all proven/);
      assert.match(r.out, /proven: seq 1-3 by checkpoint #3 \(close, seq 3/);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });


  it('a rotation sealed but not yet renamed: verify reads it as that segment, the next writer finishes it', async () => {
    const home = await mkdtemp(join(tmpdir(), 'nitride-tamper-rot-'));
    try {
      mkdirSync(join(home, 'host'), { recursive: true });
      const path = hostAuditPath(home);
      const c = new AuditChain(path, { segmentBytes: 1, checkpointSeconds: 0 }); // a rotation after every record
      c.append({ type: 'command.accepted', id: 'c1' });
      c.append({ type: 'command.accepted', id: 'c2' });
      // The state a crash leaves between segment 2's rotate checkpoint and its rename.
      crashNow(home, c);
      unlinkSync(path);
      renameSync(segmentPath(path, 2), path);
      let r = verifyCli(home, '--host');
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /OK, 2 records, all proven/);
      assert.match(r.out, /proven: seq 1-2 by checkpoint #2 \(rotate, seq 2/);
      assert.match(r.out, /note: segment 2 is sealed but still named .*audit\.log \(a rotation in progress, or cut short by a crash\)/);
      const c2 = new AuditChain(path, { segmentBytes: 1, checkpointSeconds: 0 });
      c2.append({ type: 'controller.start' });
      c2.close();
      assert.ok(existsSync(segmentPath(path, 2)));
      r = verifyCli(home, '--host');
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /OK, 3 records, all proven/);
      assert.match(r.out, /segment 2 \(.*audit\.log\.000002\): seq 2, sealed by checkpoint #2/);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});

describe('nitride audit tail --follow', () => {
  it('follows the log across rotations, every record once', { timeout: 60_000 }, async () => {
    const home = await mkdtemp(join(tmpdir(), 'nitride-tamper-follow-'));
    mkdirSync(join(home, 'host'), { recursive: true });
    const path = hostAuditPath(home);
    const c = new AuditChain(path, { segmentBytes: 1, checkpointSeconds: 0 }); // a rotation after every record
    c.append({ type: 'command.accepted', id: 'before' });
    const child = spawn(process.execPath, [cli, 'audit', 'tail', '-n', '1', '--follow', '--host', '--home', home], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitFor('the follower to start', () => /#1 command\.accepted/.test(out) || undefined, 20_000, 50);
      for (let i = 2; i <= 9; i++) {
        c.append({ type: 'command.accepted', id: `r${i}` });
        if (i % 3 === 0) await waitFor(`record ${i}`, () => new RegExp(`#${i} `).test(out) || undefined, 20_000, 50);
      }
      await waitFor('record 9', () => /#9 /.test(out) || undefined, 20_000, 50);
      for (let i = 1; i <= 9; i++) assert.equal(out.match(new RegExp(`#${i} `, 'g'))?.length, 1, `record ${i} once: ${out}`);
      assert.doesNotMatch(out, /shrank|unparsable/);
    } finally {
      child.kill('SIGKILL');
      c.close();
      await rm(home, { recursive: true, force: true });
    }
  });
});

describe('a log from before checkpoints', () => {
  it('is reported unproven, then adopted and sealed by the first writer that opens it', async () => {
    const home = await mkdtemp(join(tmpdir(), 'nitride-tamper-legacy-'));
    try {
      mkdirSync(join(home, 'host'), { recursive: true });
      const path = hostAuditPath(home);
      const time = '2026-12-01T00:00:00.000Z';
      writeRecords(path, rechain([1, 2, 3].map((i) => ({ seq: 0, prev: '', time, event: { type: 'command.accepted', id: `old${i}` }, hash: '' }))));
      let r = verifyCli(home, '--host');
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /UNPROVEN, 3 records, none proven/);
      assert.match(r.out, /key: none/);
      const c = new AuditChain(path, { checkpointSeconds: 0 });
      c.append({ type: 'controller.start' });
      c.close();
      r = verifyCli(home, '--host');
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /OK, 4 records, all proven/);
      assert.match(r.out, /adopted: seq 1-3: written before the log had checkpoints, sealed only when the log was reopened, by checkpoint #0 \(open, seq 3/);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});

describe('the writers refuse a tampered log', () => {
  it('neither the region trail nor the host log opens over checkpoints that were removed or records after a close', async () => {
    const home = await mkdtemp(join(tmpdir(), 'nitride-tamper-open-'));
    try {
      for (const kind of ['region', 'host'] as const) {
        const path = await writeLog(home, kind, 4, { checkpointRecords: 2, checkpointSeconds: 0 });
        const open = (): { close(): unknown } => (kind === 'region' ? new AuditTrail(path) : new AuditChain(path));
        const snap = snapshot(path);
        writeCheckpoints(path, readCheckpoints(path).checkpoints.slice(0, -1));
        assert.throws(open, /holds 3 checkpoints but its sealer made 4: checkpoints were removed/);
        restore(path, snap);
        const all = records(path);
        const forged = rechain([{ ...(all[0] as ChainRecord), event: { forged: true } }], { seq: 4, hash: (all[3] as ChainRecord).hash });
        appendFileSync(path, `${JSON.stringify(forged[0])}\n`);
        rewriteHead(path, [...all, ...forged]);
        assert.throws(open, /record 5 follows the closing checkpoint #3/);
        restore(path, snap);
        await open().close(); // and the untouched log opens
      }
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});

describe('root on the machine, who can also rewrite the sealer', () => {
  it('cannot roll the log back and go on writing: the keys that sealed the removed checkpoints are gone', async () => {
    const home = await mkdtemp(join(tmpdir(), 'nitride-tamper-root-'));
    try {
      const path = await writeLog(home, 'host', 9, { checkpointRecords: 3, checkpointSeconds: 0 }); // #0 open, #1 at 3, #2 at 6, #3 at 9, #4 close
      const keyHex = (JSON.parse(readFileSync(join(sealDirFor(path), 'verify-key'), 'utf8')) as { seed: string }).seed;
      // Roll back to checkpoint #1 (seq 3): cut records and checkpoints, set the sealer's epoch to 2.
      const kept = records(path).slice(0, 3);
      writeRecords(path, kept);
      rewriteHead(path, kept);
      writeCheckpoints(path, readCheckpoints(path).checkpoints.slice(0, 2));
      const keyFile = join(sealDirFor(path), 'sealing-key');
      const st = JSON.parse(readFileSync(keyFile, 'utf8')) as { n: number };
      writeFileSync(keyFile, JSON.stringify({ ...st, n: 2 }));
      // Until something is sealed again, an auditor away from the machine sees only an early end …
      rmSync(join(sealDirFor(path), 'verify-key'));
      let r = verifyCli(home, '--host', '--key', keyHex);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /OK, 3 records, all proven/); // proven through seq 3 — the roll-back's only trace is the time of checkpoint #1
      // … and once the writer goes on, its next checkpoint is sealed with a later epoch's key, which the auditor's derivation refuses.
      const c = new AuditChain(path, { checkpointSeconds: 0 });
      c.append({ type: 'command.accepted', id: 'after-rollback' });
      c.close();
      r = verifyCli(home, '--host', '--key', keyHex);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /checkpoints: TAMPERED: first bad record at line 3 \(seq 3\): checkpoint #2: its seal does not verify/);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
