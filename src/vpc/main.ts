// The VPC card's entry point. The controller forks it with an IPC channel —
//   fork(dist/src/vpc/main.js, ['--socket-dir', DIR])
// — and that channel is the only way in: the card listens on no TCP socket, only on the
// per-ENI unix sockets QEMU connects to. Requests are parsed by ./protocol/messages.ts and
// served through src/lib/channel. When the channel goes away the card exits.
import { resolve } from 'node:path';
import { serveChannel, withHandle, type ChannelServer } from '../lib/channel/server.js';
import { describeError } from '../lib/errors.js';
import { createLogger } from '../lib/log.js';
import { VpcCard } from './card.js';
import { VpcError } from './errors.js';
import { parseVpcRequest, type VpcRequest } from './protocol/messages.js';

const log = createLogger('vpc');

async function handle(card: VpcCard, req: VpcRequest, received: unknown, emit: ChannelServer['emit']): Promise<unknown> {
  const needHandle = (): unknown => {
    if (received === undefined || received === null) throw new VpcError('NoHandle', 'invalid', 'This operation needs a socket handle beside the request.', { op: req.op });
    return received;
  };
  switch (req.op) {
    case 'handover.freeze': {
      const state = await card.freeze();
      // Observable by the controller (and by tests that must act while the card is frozen).
      emit('handover.frozen', { pid: process.pid, enis: state.enis.length, pendingBytes: state.enis.reduce((n, e) => n + Buffer.from(e.pendingBase64, 'base64').length, 0) });
      return state;
    }
    case 'handover.thaw':
      card.thaw();
      return null;
    case 'handover.handle':
      return withHandle({ eniId: req.params.eniId, kind: req.params.kind }, card.handleOf(req.params.eniId, req.params.kind));
    case 'handover.resume':
      return { sockets: card.resumeAdopted() };
    case 'handover.groups':
      card.adoptGroups(req.params.groups);
      return null;
    case 'handover.eni':
      return card.adoptEni(req.params.eni, needHandle(), req.params.conntrack ?? [], req.params.imdsTokens ?? []);
    case 'handover.socket':
      card.adoptSocket(req.params.eniId, needHandle(), Buffer.from(req.params.pendingBase64, 'base64'));
      return null;
    case 'card.info':
      return { pid: process.pid, enis: card.list().length, protocol: 1 };
    case 'eni.add':
      return card.addEni(req.params.eni);
    case 'eni.update':
      return card.updateEni(req.params.eniId, req.params.patch);
    case 'eni.remove':
      await card.removeEni(req.params.eniId);
      return null;
    case 'eni.list':
      return card.list();
    case 'eni.stats':
      return card.stats(req.params.eniId);
    case 'sg.set':
      card.setRules(req.params.groupId, req.params.rules);
      return null;
    case 'sg.delete':
      card.deleteGroup(req.params.groupId);
      return null;
    case 'sg.members':
      card.setGroupMembers(req.params.groupId, req.params.ips);
      return null;
    case 'edge.attach':
      return card.attachPublicSide(req.params.side, req.params.persist ?? false);
    case 'edge.detach':
      card.detachPublicSide();
      return null;
    case 'edge.stats':
      return card.edgeStats();
    case 'handover.edge':
      return card.adoptEdge(req.params.edge);
    case 'dns.records': {
      const { vpcId, ...settings } = req.params;
      card.setDns(vpcId, settings);
      return { vpcId, records: settings.records.length };
    }
    case 'dns.configure':
      return card.configureDns(req.params.upstream);
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--socket-dir');
  const dir = i >= 0 ? argv[i + 1] : undefined;
  if (!dir || !process.send) {
    process.stderr.write('usage: vpc/main.js --socket-dir DIR (forked with an IPC channel; orders come only over it)\n');
    process.exit(2);
  }
  let card: VpcCard;
  try {
    // NITRIDE_DNS_UPSTREAM=ip[:port]: where the VPC resolver forwards names outside the VPCs' zones.
    const upstream = process.env['NITRIDE_DNS_UPSTREAM'];
    card = await VpcCard.create({ socketDir: resolve(dir), ...(upstream ? { dnsUpstream: upstream } : {}) });
  } catch (e) {
    log.error('the card could not start', { error: describeError(e) });
    process.exit(1);
  }
  process.on('disconnect', () => {
    if (card.handedOver) {
      // The sockets belong to the next card now: closing them here would unlink their paths.
      log.info('handed over; exiting');
      process.exit(0);
    }
    log.info('IPC channel closed; exiting');
    void card.close().finally(() => process.exit(0));
  });
  const channel = serveChannel(process, {
    parse: parseVpcRequest,
    handle: (req, received) => handle(card, req, received, (event, fields) => channel.emit(event, fields)),
    // a socket that came beside a refused request stays open: the old card still serves it
    onRefusedHandle: () => undefined,
    log,
  });
  channel.emit('card.ready', { pid: process.pid });
  log.info('vpc card ready', { socketDir: dir, pid: process.pid });
}

void main();
