// The underlay bridge's entry point, forked with an IPC channel like the card:
//   { v: 1, id, op: 'underlay.start', params: UnderlayConfig }  → { port }
//   { v: 1, id, op: 'underlay.peers', params: { peers } }       (key delivery / rotation)
//   { v: 1, id, op: 'underlay.remote', params: RemoteEni }      (another host's ENI)
//   { v: 1, id, op: 'underlay.stats', params: {} }              → counters
// It exits when the channel closes.
import { describeError, isNitrideError } from '../../lib/errors.js';
import { checkConfig, type RemoteEni, type UnderlayPeer, UnderlayBridge } from './bridge.js';

let bridge: UnderlayBridge | undefined;

function reply(id: number, ok: boolean, body: unknown): void {
  if (process.connected && process.send) process.send(ok ? { v: 1, id, ok, result: body } : { v: 1, id, ok, error: body });
}

process.on('message', (m: { id?: number; op?: string; params?: unknown }) => {
  const id = typeof m?.id === 'number' ? m.id : -1;
  void (async () => {
    try {
      switch (m.op) {
        case 'underlay.start':
          if (bridge) throw new Error('already started');
          bridge = await UnderlayBridge.start(checkConfig(m.params));
          return reply(id, true, { port: bridge.port, pid: process.pid });
        case 'underlay.peers':
          bridge!.setPeers((m.params as { peers: UnderlayPeer[] }).peers);
          return reply(id, true, null);
        case 'underlay.remote':
          await bridge!.addRemote(m.params as RemoteEni);
          return reply(id, true, null);
        case 'underlay.stats':
          return reply(id, true, bridge?.counters ?? null);
        default:
          throw new Error(`unknown op ${String(m.op)}`);
      }
    } catch (e) {
      reply(id, false, isNitrideError(e) ? { code: e.code, kind: e.kind, message: e.message } : { code: 'UnderlayError', kind: 'internal', message: describeError(e) });
    }
  })();
});
process.on('disconnect', () => {
  void (bridge?.close() ?? Promise.resolve()).finally(() => process.exit(0));
});
if (process.send) process.send({ v: 1, id: 0, ok: true, result: { ready: true, pid: process.pid } });
