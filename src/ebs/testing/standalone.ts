// Test helpers: run `nitride nbd serve` as a real process, require external tools (a
// missing tool is a failure, never a skip), and a tiny raw NBD client for tests that need
// to see exact errno values or send malformed bytes.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { distEntry } from '../../lib/paths.js';
import { ByteQueue } from '../protocol/byte-queue.js';
import * as C from '../protocol/constants.js';
import { encodeRequest } from '../protocol/transmission.js';

export function requireTool(name: string): string {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = r.stdout.trim();
  if (r.status !== 0 || !path) throw new Error(`required tool '${name}' is not installed (run nitride setup)`);
  return path;
}

export interface ServeOptions {
  file: string;
  keyFile?: string;
  size?: string;
  socket?: string;
  port?: number;
  readOnly?: boolean;
  exportName?: string;
  xts?: 'native' | 'node';
}

export interface RunningServer {
  readonly proc: ChildProcess;
  readonly ready: { socket: string | null; port: number | null; size: number; encrypted: boolean; xts: string; pid: number };
  readonly output: () => string;
  /** SIGTERM and wait for exit (SIGKILL after 5 s). */
  stop(): Promise<void>;
  kill9(): Promise<void>;
}

export async function startServe(o: ServeOptions): Promise<RunningServer> {
  const args = [distEntry('cli/main.js'), 'nbd', 'serve', '--file', o.file];
  if (o.keyFile) args.push('--key-file', o.keyFile);
  if (o.size) args.push('--size', o.size);
  if (o.socket) args.push('--socket', o.socket);
  if (o.port !== undefined) args.push('--port', String(o.port));
  if (o.readOnly) args.push('--read-only');
  if (o.exportName !== undefined) args.push('--export-name', o.exportName);
  if (o.xts) args.push('--xts', o.xts);
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const ready = await new Promise<RunningServer['ready']>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`nbd serve did not become ready:\n${out}`)), 15_000);
    const check = (): void => {
      const m = /^ready (\{.*\})$/m.exec(out);
      if (m) {
        clearTimeout(t);
        res(JSON.parse(m[1] as string) as RunningServer['ready']);
      }
    };
    proc.stdout?.on('data', check);
    proc.once('exit', (code) => {
      clearTimeout(t);
      rej(new Error(`nbd serve exited with ${code}:\n${out}`));
    });
  });
  const waitExit = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  return {
    proc,
    ready,
    output: () => out,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await waitExit();
    },
    kill9: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await waitExit();
    },
  };
}

export function run(cmd: string, args: string[], opts: { input?: Buffer; timeoutMs?: number } = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { input: opts.input, timeout: opts.timeoutMs ?? 60_000, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export interface Reply {
  cookie: bigint;
  error: number;
  data?: Buffer;
  structuredType?: number;
}

/** A minimal NBD client: fixed newstyle, NBD_OPT_GO, optionally structured replies and base:allocation. */
export class RawNbdClient {
  private readonly q = new ByteQueue();
  private waiters: Array<() => void> = [];
  private ended = false;
  size = 0;
  flags = 0;
  structured = false;
  private nextCookie = 1n;

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.q.push(d);
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Bytes received and not yet read by the test. */
  get received(): number {
    return this.q.length;
  }

  static async connect(target: { path: string } | { port: number }): Promise<RawNbdClient> {
    const s = 'path' in target ? connect(target.path) : connect(target.port, '127.0.0.1');
    await new Promise<void>((res, rej) => {
      s.once('connect', () => res());
      s.once('error', rej);
    });
    return new RawNbdClient(s);
  }

  async read(n: number, timeoutMs = 10_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.q.length < n) {
      if (this.ended) throw new Error(`connection closed while waiting for ${n} bytes`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} bytes`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200).unref();
      });
    }
    return this.q.take(n);
  }

  write(b: Buffer): void {
    this.socket.write(b);
  }

  private async option(option: number, data: Buffer): Promise<Array<{ type: number; data: Buffer }>> {
    const h = Buffer.alloc(16);
    h.writeBigUInt64BE(C.IHAVEOPT, 0);
    h.writeUInt32BE(option, 8);
    h.writeUInt32BE(data.length, 12);
    this.write(Buffer.concat([h, data]));
    const out: Array<{ type: number; data: Buffer }> = [];
    for (;;) {
      const r = await this.read(20);
      const type = r.readUInt32BE(12);
      const d = await this.read(r.readUInt32BE(16));
      out.push({ type, data: d });
      if (type !== C.NBD_REP_INFO && type !== C.NBD_REP_SERVER && type !== C.NBD_REP_META_CONTEXT) return out;
    }
  }

  /** Handshake up to transmission. */
  async handshake(opts: { exportName?: string; structured?: boolean; baseAllocation?: boolean } = {}): Promise<void> {
    const g = await this.read(18);
    if (g.readBigUInt64BE(0) !== C.NBDMAGIC) throw new Error('bad greeting');
    this.write(Buffer.from([0, 0, 0, 3]));
    const name = Buffer.from(opts.exportName ?? '');
    if (opts.structured || opts.baseAllocation) {
      const r = await this.option(C.NBD_OPT_STRUCTURED_REPLY, Buffer.alloc(0));
      if (r[0]?.type !== C.NBD_REP_ACK) throw new Error('structured replies refused');
      this.structured = true;
    }
    if (opts.baseAllocation) {
      const q = Buffer.from(C.BASE_ALLOCATION);
      const d = Buffer.alloc(4 + name.length + 4 + 4 + q.length);
      d.writeUInt32BE(name.length, 0);
      name.copy(d, 4);
      d.writeUInt32BE(1, 4 + name.length);
      d.writeUInt32BE(q.length, 8 + name.length);
      q.copy(d, 12 + name.length);
      await this.option(C.NBD_OPT_SET_META_CONTEXT, d);
    }
    const d = Buffer.alloc(4 + name.length + 2);
    d.writeUInt32BE(name.length, 0);
    name.copy(d, 4);
    const replies = await this.option(C.NBD_OPT_GO, d);
    const last = replies[replies.length - 1];
    if (last?.type !== C.NBD_REP_ACK) throw new Error(`GO refused: 0x${(last?.type ?? 0).toString(16)}`);
    for (const r of replies) {
      if (r.type === C.NBD_REP_INFO && r.data.readUInt16BE(0) === C.NBD_INFO_EXPORT) {
        this.size = Number(r.data.readBigUInt64BE(2));
        this.flags = r.data.readUInt16BE(10);
      }
    }
  }

  send(type: number, flags: number, offset: number, length: number, payload?: Buffer): bigint {
    const cookie = this.nextCookie++;
    this.write(encodeRequest(type, flags, cookie, offset, length, payload));
    return cookie;
  }

  /** Read one reply (for reads: the data, length known from the request in simple mode). */
  async reply(readLength = 0): Promise<Reply> {
    const first = await this.read(4);
    const magic = first.readUInt32BE(0);
    if (magic === C.NBD_SIMPLE_REPLY_MAGIC) {
      const r = await this.read(12);
      const error = r.readUInt32BE(0);
      const cookie = r.readBigUInt64BE(4);
      return { cookie, error, ...(error === 0 && readLength > 0 ? { data: await this.read(readLength) } : {}) };
    }
    if (magic !== C.NBD_STRUCTURED_REPLY_MAGIC) throw new Error(`bad reply magic 0x${magic.toString(16)}`);
    const r = await this.read(16);
    const type = r.readUInt16BE(2);
    const cookie = r.readBigUInt64BE(4);
    const len = r.readUInt32BE(12);
    const payload = await this.read(len);
    if (type === C.NBD_REPLY_TYPE_ERROR || type === C.NBD_REPLY_TYPE_ERROR_OFFSET) return { cookie, error: payload.readUInt32BE(0), structuredType: type };
    if (type === C.NBD_REPLY_TYPE_OFFSET_DATA) return { cookie, error: 0, data: payload.subarray(8), structuredType: type };
    return { cookie, error: 0, data: payload, structuredType: type };
  }

  close(): void {
    this.socket.destroy();
  }
}
