// The dispatcher without TLS or HTTP: order of checks, audit before effect, idempotence,
// replay across runs, roles.
import assert from 'node:assert/strict';
import { createPublicKey, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AuditChain, readChain } from '../audit/chain.js';
import { generateKeyPair } from '../lib/pki/pki.js';
import { Dispatcher, type Principal } from './dispatcher.js';
import { ControllerError } from './errors.js';
import { ROLE_OPERATOR, ROLE_REGION, type ControllerCommandBody } from './protocol/commands.js';
import { buildCommand } from './signing.js';

const source = { address: '127.0.0.1', port: 5555 };

function setup(exec?: (c: ControllerCommandBody, auditLen: number) => Promise<unknown>) {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-disp-'));
  const audit = new AuditChain(join(dir, 'audit.log'));
  const key = generateKeyPair();
  const calls: ControllerCommandBody[] = [];
  const d = new Dispatcher(audit, async (c) => {
    calls.push(c);
    return exec ? exec(c, audit.length) : { did: c.type };
  });
  const who = (role: string): Principal => ({ commonName: 'r', role, fingerprint: 'f'.repeat(64), publicKey: createPublicKey(key.publicKeyPem) });
  const events = (): Record<string, unknown>[] => readChain(join(dir, 'audit.log')).map((r) => r.event);
  return { dir, audit, key, calls, d, who, events, done: () => (audit.close(), rmSync(dir, { recursive: true, force: true })) };
}

test('a valid command is audited before it runs, then its outcome', async () => {
  const s = setup(async (_c, len) => ({ auditRecordsWhenRun: len }));
  try {
    const env = buildCommand('host.status', {}, s.key.keyPem);
    const r = await s.d.dispatch(env, false, s.who(ROLE_REGION), source);
    assert.equal(r.status, 200);
    assert.deepEqual(r.reply, { v: 1, id: env.id, ok: true, result: { auditRecordsWhenRun: 1 } });
    const ev = s.events();
    assert.deepEqual(ev.map((e) => e['type']), ['command.accepted', 'command.result']);
    assert.equal(ev[0]?.['id'], env.id);
    assert.deepEqual(ev[0]?.['source'], source);
  } finally {
    s.done();
  }
});

test('errors from execution become reply errors with the mapped status', async () => {
  const s = setup(async () => {
    throw new ControllerError('InvalidInstanceID.NotFound', 'not-found', 'no such instance');
  });
  try {
    const r = await s.d.dispatch(buildCommand('instance.describe', { instanceId: 'i-01234567' }, s.key.keyPem), false, s.who(ROLE_REGION), source);
    assert.equal(r.status, 404);
    assert.equal(r.reply.ok, false);
    if (!r.reply.ok) assert.equal(r.reply.error.code, 'InvalidInstanceID.NotFound');
    assert.equal(s.events()[1]?.['error'], 'InvalidInstanceID.NotFound');
  } finally {
    s.done();
  }
});

test('refusals run nothing and are audited: JSON, signature, role, freshness', async () => {
  const s = setup();
  try {
    const other = generateKeyPair();
    const cases: [unknown, boolean, string, string, number][] = [
      [undefined, true, ROLE_REGION, 'MalformedCommand', 400],
      [buildCommand('host.status', {}, other.keyPem), false, ROLE_REGION, 'SignatureInvalid', 403],
      [buildCommand('instance.terminate', { instanceId: 'i-01234567' }, s.key.keyPem), false, ROLE_OPERATOR, 'Forbidden', 403],
      [buildCommand('host.status', {}, s.key.keyPem), false, 'someone-else', 'Forbidden', 403],
      [buildCommand('instance.console', { instanceId: 'i-01234567' }, s.key.keyPem), false, ROLE_OPERATOR, 'Forbidden', 403],
      [buildCommand('host.status', {}, s.key.keyPem, { issuedAt: new Date(Date.now() - 301_000) }), false, ROLE_REGION, 'CommandExpired', 403],
    ];
    for (const [raw, jsonErr, role, code, status] of cases) {
      const r = await s.d.dispatch(raw, jsonErr, s.who(role), source);
      assert.equal(r.status, status, code);
      assert.equal(r.reply.ok ? '' : r.reply.error.code, code);
    }
    assert.equal(s.calls.length, 0);
    assert.deepEqual(
      s.events().map((e) => e['error']),
      cases.map((c) => c[3]),
    );
    const ok = await s.d.dispatch(buildCommand('instance.list', {}, s.key.keyPem), false, s.who(ROLE_OPERATOR), source);
    assert.equal(ok.status, 200, 'operators may read');
  } finally {
    s.done();
  }
});

test('an identical resend returns the first reply once executed; concurrent resends share it', async () => {
  let n = 0;
  const s = setup(async () => {
    n++;
    await new Promise((r) => setTimeout(r, 50));
    return { n };
  });
  try {
    const env = buildCommand('host.restart-component', { component: 'hypervisor' }, s.key.keyPem);
    const [a, b] = await Promise.all([s.d.dispatch(env, false, s.who(ROLE_REGION), source), s.d.dispatch(env, false, s.who(ROLE_REGION), source)]);
    const c = await s.d.dispatch(env, false, s.who(ROLE_REGION), source);
    assert.equal(n, 1);
    assert.deepEqual(a.reply, b.reply);
    assert.deepEqual(a.reply, c.reply);
    const reuse = await s.d.dispatch(buildCommand('host.status', {}, s.key.keyPem, { id: env.id }), false, s.who(ROLE_REGION), source);
    assert.equal(reuse.status, 409);
    assert.equal(reuse.reply.ok ? '' : reuse.reply.error.code, 'CommandIdReused');
  } finally {
    s.done();
  }
});

test('ids remembered from an earlier run are refused as replays', async () => {
  const s = setup();
  try {
    const env = buildCommand('instance.list', {}, s.key.keyPem, { id: randomUUID() });
    const first = await s.d.dispatch(env, false, s.who(ROLE_REGION), source);
    assert.equal(first.status, 200);
    const digest = s.events()[0]?.['digest'] as string;
    const fresh = new Dispatcher(s.audit, async () => 'ran again');
    fresh.remember(env.id, digest, Date.now() - 1000);
    fresh.remember('stale-id', digest, Date.now() - 8 * 60_000); // too old to matter: ignored
    const again = await fresh.dispatch(env, false, s.who(ROLE_REGION), source);
    assert.equal(again.status, 409);
    assert.equal(again.reply.ok ? '' : again.reply.error.code, 'CommandReplayed');
  } finally {
    s.done();
  }
});
