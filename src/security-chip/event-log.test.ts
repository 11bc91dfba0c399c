import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { SecurityChipError } from './errors.js';
import { compareEventLog, parseEventLog, replayEventLog, verifyEventLog } from './event-log.js';
import { PCR, PcrBank, comparePcrs, extendValue, sha384, singleExtension } from './pcr.js';

const h = (s: string): string => createHash('sha384').update(s).digest('hex');

describe('PCR bank', () => {
  it('starts at zero and extends as sha384(old || measurement), nothing else', () => {
    const bank = new PcrBank();
    assert.equal(bank.value(3).toString('hex'), '00'.repeat(48));
    const m1 = sha384('first');
    const m2 = sha384('second');
    bank.extend(3, m1, 'one');
    const v1 = createHash('sha384').update(Buffer.alloc(48)).update(m1).digest();
    assert.deepEqual(bank.value(3), v1);
    bank.extend(3, m2.toString('hex'), 'two');
    assert.deepEqual(bank.value(3), createHash('sha384').update(v1).update(m2).digest());
    assert.equal(singleExtension(m1), v1.toString('hex'));
    assert.deepEqual(extendValue(Buffer.alloc(48), m1), v1);
    // Order matters: extending in the other order gives another value.
    const other = new PcrBank();
    other.extend(3, m2, 'two');
    other.extend(3, m1, 'one');
    assert.notDeepEqual(other.value(3), bank.value(3));
    // The returned value is a copy: writing to it does not change the register.
    bank.value(3).fill(0);
    assert.notEqual(bank.value(3).toString('hex'), '00'.repeat(48));
  });

  it('refuses bad indices and measurements that are not sha384 digests', () => {
    const bank = new PcrBank();
    assert.throws(() => bank.extend(16, sha384('x'), 'x'), (e: unknown) => e instanceof SecurityChipError && e.code === 'PcrIndexInvalid');
    assert.throws(() => bank.extend(-1, sha384('x'), 'x'), /outside 0..15/);
    assert.throws(() => bank.extend(0, Buffer.alloc(32), 'x'), /32 bytes, not 48/);
    assert.throws(() => bank.extend(0, 'zz'.repeat(48), 'x'), /not a sha384 digest/);
  });
});

describe('event log', () => {
  function measuredStart(): PcrBank {
    const bank = new PcrBank();
    bank.extend(PCR.HOST_CONFIG, h('config'), 'host configuration');
    bank.extend(PCR.RELEASE_KEY, h('key'), 'release key');
    bank.extend(PCR.CONTROLLER, h('controller'), 'bundle controller 1.0.0');
    bank.extend(PCR.QEMU, h('qemu'), 'qemu /usr/bin/qemu-system-x86_64');
    bank.extend(PCR.GUEST_IMAGE, h('img-1'), 'guest image ami-1');
    bank.extend(PCR.GUEST_IMAGE, h('img-2'), 'guest image ami-2');
    return bank;
  }

  it('replays to the PCR values (through JSON, as a verifier receives it)', () => {
    const bank = measuredStart();
    const log = JSON.parse(JSON.stringify(bank.events())) as unknown;
    assert.deepEqual(replayEventLog(log), bank.toJSON());
    assert.deepEqual(verifyEventLog(log, bank.values()), bank.events());
    assert.deepEqual(compareEventLog(log, bank.toJSON()), []);
  });

  it('a tampered log (changed digest, dropped, reordered or injected event) does not replay to the PCRs', () => {
    const bank = measuredStart();
    const events = bank.events();
    const tampered = {
      digest: events.map((e, i) => (i === 2 ? { ...e, digest: h('evil controller') } : e)),
      dropped: events.filter((_, i) => i !== 4),
      reordered: [...events.slice(0, 4), events[5], events[4]],
      injected: [...events, { pcrIndex: 6, digest: h('extra'), description: 'guest image ami-3' }],
      moved: events.map((e, i) => (i === 3 ? { ...e, pcrIndex: 8 } : e)),
    };
    const which: Record<string, number[]> = { digest: [1], dropped: [6], reordered: [6], injected: [6], moved: [5, 8] };
    for (const [name, log] of Object.entries(tampered)) {
      assert.throws(
        () => verifyEventLog(log, bank.values()),
        (e: unknown) => e instanceof SecurityChipError && e.code === 'EventLogMismatch' && JSON.stringify((e.context['mismatches'] as { pcr: number }[]).map((m) => m.pcr)) === JSON.stringify(which[name]),
        name,
      );
    }
    // A description edit alone does not change the PCRs: descriptions are informative, digests are what counts.
    assert.deepEqual(compareEventLog(events.map((e) => ({ ...e, description: 'renamed' })), bank.values()), []);
  });

  it('refuses malformed logs', () => {
    for (const bad of [{}, [1], [{ pcrIndex: 99, digest: h('x'), description: '' }], [{ pcrIndex: 0, digest: 'abc', description: '' }], [{ pcrIndex: 0, digest: h('x'), description: 'x', extra: 1 }], [{ pcrIndex: 0, digest: h('x') }]]) {
      assert.throws(() => parseEventLog(bad), (e: unknown) => e instanceof SecurityChipError && e.code === 'EventLogInvalid', JSON.stringify(bad));
    }
  });

  it('comparePcrs reports expected and actual per register, null when absent', () => {
    assert.deepEqual(comparePcrs({ '1': 'aa'.repeat(48), '3': 'bb'.repeat(48) }, { '1': 'AA'.repeat(48) }), [{ pcr: 3, expected: 'bb'.repeat(48), actual: null }]);
  });
});
