// A forked child for the channel's own tests: serves a tiny contract over its IPC channel.
//   echo {text}        → {text, pid}
//   slow {ms}          → null after ms
//   fail {}            → refused with EchoRefused (kind conflict, context {why})
//   server.address {}  (a net.Server beside the request) → {port}; the handle is closed after
//   server.back {}     → a listening net.Server on 127.0.0.1 port 0 beside the reply
import { createServer, type Server } from 'node:net';
import { NitrideError } from '../../errors.js';
import { serveChannel, withHandle } from '../server.js';
import { isObject } from '../envelope.js';
import type { EchoContract } from './echo-contract.js';
import type { RequestOf } from '../envelope.js';

type Req = RequestOf<EchoContract>;

function parse(raw: unknown): Req {
  if (!isObject(raw) || raw['v'] !== 1 || !isObject(raw['params'])) throw new NitrideError('MalformedRequest', 'invalid', 'A request is {v: 1, id, op, params}.');
  const p = raw['params'];
  switch (raw['op']) {
    case 'echo':
      if (typeof p['text'] !== 'string') throw new NitrideError('MalformedRequest', 'invalid', 'params.text must be a string.');
      return { op: 'echo', params: { text: p['text'] } };
    case 'slow':
      return { op: 'slow', params: { ms: Number(p['ms']) } };
    case 'fail':
    case 'server.address':
    case 'server.back':
      return { op: raw['op'], params: {} };
    default:
      throw new NitrideError('UnknownOperation', 'invalid', `Unknown operation '${String(raw['op'])}'.`);
  }
}

const server = serveChannel(process, {
  parse,
  handle: async (req, received) => {
    switch (req.op) {
      case 'echo':
        return { text: req.params.text, pid: process.pid };
      case 'slow':
        await new Promise((r) => setTimeout(r, req.params.ms));
        return null;
      case 'fail':
        throw new NitrideError('EchoRefused', 'conflict', 'Refused on purpose.', { why: 'test' });
      case 'server.address': {
        const s = received as Server;
        const a = s.address();
        s.close();
        return { port: typeof a === 'object' && a !== null ? a.port : -1 };
      }
      case 'server.back': {
        const s = createServer();
        await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
        const a = s.address();
        return withHandle({ port: typeof a === 'object' && a !== null ? a.port : -1 }, s);
      }
    }
  },
});
process.on('disconnect', () => process.exit(0));
server.emit('echo.ready', { pid: process.pid });
