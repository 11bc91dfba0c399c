import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:net';
import { distEntry } from '../paths.js';
import { forkChild } from './child.js';
import { ChannelClient, type Port } from './client.js';
import { requestIdOf, toWireError, type Operation } from './envelope.js';
import { ChannelError } from './errors.js';
import { serveChannel } from './server.js';
import type { EchoContract } from './testing/echo-contract.js';
import { NitrideError } from '../errors.js';

/** Two ends of an in-process channel: what one sends, the other receives on the next turn. */
function pair(): [Port, Port] {
  class End extends EventEmitter {
    connected = true;
    other!: End;
    send(m: unknown, _h: unknown, _o: unknown, cb?: (e: Error | null) => void): boolean {
      const copy = JSON.parse(JSON.stringify(m)) as unknown;
      setImmediate(() => {
        this.other.emit('message', copy, undefined);
        cb?.(null);
      });
      return true;
    }
  }
  const a = new End();
  const b = new End();
  a.other = b;
  b.other = a;
  return [a, b];
}

interface Tiny {
  readonly add: Operation<{ readonly a: number; readonly b: number }, { readonly sum: number }>;
  readonly wait: Operation<{ readonly ms: number }, null>;
}

function serveTiny(port: Port): void {
  serveChannel(port, {
    parse: (raw) => {
      const m = raw as { op?: unknown; params?: { a?: unknown; b?: unknown; ms?: unknown } };
      if (m.op === 'add' && typeof m.params?.a === 'number' && typeof m.params.b === 'number') return { op: 'add' as const, a: m.params.a, b: m.params.b };
      if (m.op === 'wait') return { op: 'wait' as const, ms: Number(m.params?.ms) };
      throw new NitrideError('MalformedRequest', 'invalid', 'Not a request of this contract.', { op: String(m.op) });
    },
    handle: async (r) => {
      if (r.op === 'add') return { sum: r.a + r.b };
      await new Promise((res) => setTimeout(res, r.ms));
      return null;
    },
  });
}

test('replies are matched to their requests by id, even out of order', async () => {
  const [a, b] = pair();
  serveTiny(b);
  const c = new ChannelClient<Tiny>(a, { component: 'tiny' });
  const slow = c.request('wait', { ms: 30 });
  const sums = await Promise.all([c.request('add', { a: 1, b: 2 }), c.request('add', { a: 40, b: 2 })]);
  assert.deepEqual(sums, [{ sum: 3 }, { sum: 42 }]);
  assert.equal(await slow, null);
  assert.equal(c.waiting, 0);
});

test("the peer's refusal arrives with its code, kind and context, and the component named", async () => {
  const [a, b] = pair();
  serveTiny(b);
  const c = new ChannelClient<Tiny>(a, { component: 'tiny' });
  await assert.rejects(c.requestUntyped('nope', {}), (e: unknown) => {
    assert.ok(e instanceof ChannelError);
    assert.equal(e.code, 'MalformedRequest');
    assert.equal(e.kind, 'invalid');
    assert.deepEqual(e.context, { op: 'nope', component: 'tiny' });
    return true;
  });
});

test('a request that is not answered in time fails with <Component>Timeout; a late reply is dropped', async () => {
  const [a, b] = pair();
  serveTiny(b);
  const c = new ChannelClient<Tiny>(a, { component: 'hypervisor' });
  await assert.rejects(c.request('wait', { ms: 200 }, 20), (e: unknown) => e instanceof ChannelError && e.code === 'HypervisorTimeout' && e.kind === 'unavailable');
  assert.equal(c.waiting, 0);
  assert.deepEqual(await c.request('add', { a: 2, b: 2 }), { sum: 4 });
});

test('an AbortSignal cancels a waiting request', async () => {
  const [a, b] = pair();
  serveTiny(b);
  const c = new ChannelClient<Tiny>(a, { component: 'tiny' });
  const ac = new AbortController();
  const p = c.request('wait', { ms: 200 }, { signal: ac.signal });
  ac.abort();
  await assert.rejects(p, (e: unknown) => e instanceof ChannelError && e.code === 'RequestCancelled');
  assert.equal(c.waiting, 0);
});

test('close() fails every waiting request and every later one with <Component>Unavailable', async () => {
  const [a, b] = pair();
  serveTiny(b);
  const c = new ChannelClient<Tiny>(a, { component: 'ebs' });
  const p = c.request('wait', { ms: 200 });
  c.close();
  await assert.rejects(p, (e: unknown) => e instanceof ChannelError && e.code === 'EBSCardUnavailable');
  await assert.rejects(c.request('add', { a: 1, b: 1 }), (e: unknown) => e instanceof ChannelError && e.code === 'EBSCardUnavailable');
});

test('envelope helpers: request ids and wire errors', () => {
  assert.equal(requestIdOf({ id: 7 }), 7);
  assert.equal(requestIdOf({ id: 1.5 }), undefined);
  assert.equal(requestIdOf('x'), undefined);
  assert.deepEqual(toWireError(new NitrideError('X', 'conflict', 'm', { a: 1 })), { code: 'X', kind: 'conflict', message: 'm', context: { a: 1 } });
  assert.equal(toWireError(new Error('boom')).kind, 'internal');
});

test('a forked child: typed requests, events, refusals, handles both ways, and failure when it exits', async () => {
  const ch = forkChild<EchoContract>(distEntry('lib/channel/testing/echo-child.js'), [], { component: 'echo', stdio: 'pipe' });
  const servers: Server[] = [];
  try {
    const ready = await ch.waitEvent((e) => e.event === 'echo.ready', 10_000);
    assert.equal(ready['pid'], ch.pid);
    const r = await ch.client.request('echo', { text: 'hello' });
    assert.deepEqual(r, { text: 'hello', pid: ch.pid });
    await assert.rejects(ch.client.request('fail', {}), (e: unknown) => e instanceof ChannelError && e.code === 'EchoRefused' && e.kind === 'conflict' && e.context['why'] === 'test');
    // a listening socket beside the request: the child reads its port
    const s = createServer();
    await new Promise<void>((res) => s.listen(0, '127.0.0.1', () => res()));
    const port = (s.address() as { port: number }).port;
    const there = await ch.client.request('server.address', {}, { handle: s });
    assert.equal(there.port, port);
    // and one beside the reply
    const back = await ch.client.requestWithHandle('server.back', {});
    const got = back.handle as Server;
    servers.push(got);
    assert.equal(typeof got.address, 'function');
    assert.equal((got.address() as { port: number }).port, back.result.port);
    // the child goes away while a request waits
    const waiting = ch.client.request('slow', { ms: 5_000 });
    const killed = ch.kill();
    await assert.rejects(waiting, (e: unknown) => e instanceof ChannelError && e.code === 'EchoUnavailable');
    await killed;
    await assert.rejects(ch.client.request('echo', { text: 'again' }), (e: unknown) => e instanceof ChannelError && e.code === 'EchoUnavailable');
  } finally {
    for (const s of servers) s.close();
    await ch.kill();
  }
});
