// The hypervisor component's entry point. The controller forks it with an IPC channel —
//   fork(dist/src/hypervisor/main.js, ['--state-dir', DIR])
// — and that channel is the only way in: no socket is listened on. Requests arrive as
// messages, replies and events go back the same way. When the channel goes away (the
// controller died or let go), the hypervisor exits and leaves every guest running; the
// next hypervisor re-adopts them.
import { resolve } from 'node:path';
import { describeError, isNitrideError } from '../lib/errors.js';
import { createLogger } from '../lib/log.js';
import { Hypervisor } from './hypervisor.js';
import type { HypervisorEvent, HypervisorReply, WireError } from './protocol/messages.js';
import { parseHypervisorRequest, requestIdOf } from './protocol/request.js';

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

function toWire(e: unknown): WireError {
  if (isNitrideError(e)) return { code: e.code, kind: e.kind, message: e.message, context: e.context };
  return { code: 'InternalError', kind: 'internal', message: describeError(e) };
}

function send(msg: HypervisorReply | HypervisorEvent): void {
  if (!process.connected || !process.send) return;
  try {
    process.send(msg);
  } catch (e) {
    log.warn('could not send on the IPC channel', { error: describeError(e) });
  }
}

async function main(): Promise<void> {
  const { stateDir } = parseArgs(process.argv.slice(2));
  if (!process.send) {
    process.stderr.write('the hypervisor takes orders only over the IPC channel of the process that forks it\n');
    process.exit(2);
  }
  const hv = new Hypervisor({ stateDir, emit: send, log });
  // Requests that arrive while re-adoption runs wait for it.
  const ready = hv.init();
  process.on('disconnect', () => {
    log.info('IPC channel closed; exiting and leaving guests running');
    hv.detach();
    process.exit(0);
  });
  process.on('message', (raw: unknown) => {
    void (async () => {
      const id = requestIdOf(raw) ?? -1;
      try {
        const req = parseHypervisorRequest(raw);
        await ready;
        const result = await hv.handle(req);
        send({ v: 1, id, ok: true, result: result ?? null });
      } catch (e) {
        send({ v: 1, id, ok: false, error: toWire(e) });
      }
    })();
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
