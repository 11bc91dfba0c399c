// The underlay bridge's entry point, forked with an IPC channel like the card; its contract
// is src/vpc/protocol/underlay.ts. It exits when the channel closes.
import { serveChannel } from '../../lib/channel/server.js';
import { createLogger } from '../../lib/log.js';
import { VpcError } from '../errors.js';
import { parseUnderlayRequest } from '../protocol/underlay.js';
import { checkConfig, UnderlayBridge } from './bridge.js';

const log = createLogger('underlay');
let bridge: UnderlayBridge | undefined;

function started(): UnderlayBridge {
  if (!bridge) throw new VpcError('UnderlayNotStarted', 'conflict', 'underlay.start must come first.');
  return bridge;
}

const channel = serveChannel(process, {
  parse: parseUnderlayRequest,
  handle: async (req) => {
    switch (req.op) {
      case 'underlay.start':
        if (bridge) throw new VpcError('UnderlayStarted', 'conflict', 'The bridge is already started.');
        bridge = await UnderlayBridge.start(checkConfig(req.params));
        return { port: bridge.port, pid: process.pid };
      case 'underlay.peers':
        started().setPeers(req.params.peers);
        return null;
      case 'underlay.remote':
        await started().addRemote(req.params);
        return null;
      case 'underlay.stats':
        return bridge?.counters ?? null;
    }
  },
  log,
});
process.on('disconnect', () => {
  void (bridge?.close() ?? Promise.resolve()).finally(() => process.exit(0));
});
channel.emit('underlay.ready', { pid: process.pid });
