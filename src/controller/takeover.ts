// The successor's side of a live update of the controller: started with --takeover by the
// running controller (src/controller/live-update.ts), it measures and prepares, says
// takeover.ready once its cards answer, and then follows its predecessor's requests
// (contract: protocol/takeover.ts) over its IPC channel, served by the channel library.
import type { Server as NetServer } from 'node:net';
import { serveChannel, withHandle } from '../lib/channel/server.js';
import { ControllerError } from './errors.js';
import type { ControllerParts } from './parts.js';
import { parseSuccessorRequest, type SuccessorContract, type SuccessorRequest } from './protocol/takeover.js';

/** Waits until the successor's cards answer, then serves the predecessor's takeover requests. */
export async function awaitTakeover(p: ControllerParts): Promise<void> {
  const waitCard = async (answers: () => Promise<unknown>): Promise<void> => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        await answers();
        return;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  await waitCard(() => p.ebs.supervisor.request('card.info', {}, 2_000));
  await waitCard(() => p.vpc.supervisor.request('card.info', {}, 2_000));
  process.on('disconnect', () => p.log.info('the previous controller let go'));
  const channel = serveChannel(process, {
    parse: parseSuccessorRequest,
    handle: (req, handle) => onPredecessor(p, req, handle),
    closeSentHandles: true,
    log: p.log,
  });
  channel.emit('takeover.ready', { pid: process.pid, ebsPid: p.ebs.supervisor.status().pid ?? null, vpcPid: p.vpc.supervisor.status().pid ?? null, pcrs: p.chip.status()['pcrs'] });
}

async function onPredecessor(p: ControllerParts, m: SuccessorRequest, handle: unknown): Promise<unknown> {
  switch (m.op) {
    case 'takeover.hypervisor': {
      p.hypervisor.start();
      const guests = await p.hypervisor.whenReadopted(30_000);
      return { pid: p.hypervisor.supervisor.status().pid ?? null, guests } satisfies SuccessorContract['takeover.hypervisor']['result'];
    }
    case 'takeover.relay': {
      const r = m.params;
      const ch = r.component === 'ebs' ? p.ebs.supervisor.currentChannel() : p.vpc.supervisor.currentChannel();
      if (!ch) throw new ControllerError('ComponentUnavailable', 'unavailable', 'The component to relay to is not running here.', { component: r.component });
      // A relay forwards whatever the predecessor's live path asks of the card: the card's own parser checks it.
      const untyped = ch as unknown as { requestWithHandle(op: string, params: unknown, o: { handle?: unknown; timeoutMs: number }): Promise<{ result: unknown; handle: unknown }> };
      const out = await untyped.requestWithHandle(r.op, r.params, { handle: handle ?? undefined, timeoutMs: r.timeoutMs });
      return r.wantHandle === true && out.handle !== undefined ? withHandle(out.result, out.handle) : out.result;
    }
    case 'takeover.underlay':
      return p.vpc.adoptUnderlay(m.params.state);
    case 'takeover.listener': {
      const server = handle as NetServer | undefined;
      if (!server || typeof (server as { on?: unknown }).on !== 'function') throw new ControllerError('InvalidParameter', 'invalid', 'takeover.listener carries the listening socket.', {});
      return { port: p.front.adoptListener(server, p.options.port) };
    }
    case 'takeover.activate': {
      p.openAudit();
      p.audit({ type: 'controller.takeover', pid: process.pid, from: process.ppid, port: p.front.port });
      p.writeRuntime();
      p.front.activate(); // the connections held until now are served
      p.log.info('took over as the host controller', { address: p.address, port: p.front.port, hostId: p.identity().hostId });
      return { pid: process.pid };
    }
    case 'takeover.abort':
      setImmediate(() => {
        void (async () => {
          await p.hypervisor.stop().catch(() => undefined);
          await p.ebs.stop().catch(() => undefined);
          await p.vpc.supervisor.stop().catch(() => undefined);
          p.retire(1);
        })();
      });
      return { aborting: true };
  }
}
