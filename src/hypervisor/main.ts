// The hypervisor component's entry point. The controller forks it with an IPC channel —
//   fork(dist/src/hypervisor/main.js, ['--state-dir', DIR])
// — and that channel is the only way in: no socket is listened on. Requests arrive as
// messages (src/lib/channel), are parsed by ./protocol/request.ts and handled by the
// Hypervisor; replies and events go back the same way. When the channel goes away (the
// controller died or let go), the hypervisor exits and leaves every guest running; the
// next hypervisor re-adopts them.
import { resolve } from 'node:path';
import { serveChannel } from '../lib/channel/server.js';
import { describeError } from '../lib/errors.js';
import { createLogger } from '../lib/log.js';
import { Hypervisor } from './hypervisor.js';
import { parseHypervisorRequest } from './protocol/request.js';

const log = createLogger('hypervisor');

function parseArgs(argv: readonly string[]): { stateDir: string } {
  const i = argv.indexOf('--state-dir');
  const dir = i >= 0 ? argv[i + 1] : undefined;
  if (!dir) {
    process.stderr.write('usage: hypervisor/main.js --state-dir DIR (forked with an IPC channel)\n');
    process.exit(2);
  }
  return { stateDir: resolve(dir) };
}

async function main(): Promise<void> {
  const { stateDir } = parseArgs(process.argv.slice(2));
  if (!process.send) {
    process.stderr.write('the hypervisor takes orders only over the IPC channel of the process that forks it\n');
    process.exit(2);
  }
  const channel = serveChannel(process, {
    parse: parseHypervisorRequest,
    // Requests that arrive while re-adoption runs wait for it.
    before: () => ready,
    handle: (req) => hv.handle(req),
    log,
  });
  const hv = new Hypervisor({ stateDir, emit: (e) => channel.post(e), log });
  const ready = hv.init();
  process.on('disconnect', () => {
    log.info('IPC channel closed; exiting and leaving guests running');
    hv.detach();
    process.exit(0);
  });
  try {
    await ready;
  } catch (e) {
    log.error('re-adoption failed', { error: describeError(e) });
    process.exit(1);
  }
  log.info('hypervisor ready', { stateDir, pid: process.pid });
}

void main();
