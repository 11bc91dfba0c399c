// A pure codec for QEMU's Machine Protocol (QMP): JSON objects, one per line, both ways.
// Bytes in → typed messages out (greeting, return, error, event), and commands → bytes.
// No sockets here; qmp-client.ts does the I/O. Input is untrusted (it comes from a
// process that runs guest code), so decoding never throws: anything that is not a
// well-formed QMP message becomes an `invalid` message with a reason.

export interface QmpGreeting {
  readonly type: 'greeting';
  readonly version: { readonly major: number; readonly minor: number; readonly micro: number } | undefined;
  readonly capabilities: readonly string[];
}
export interface QmpReturn {
  readonly type: 'return';
  readonly id: string | undefined;
  readonly value: unknown;
}
export interface QmpErrorReply {
  readonly type: 'error';
  readonly id: string | undefined;
  readonly errorClass: string;
  readonly desc: string;
}
export interface QmpEvent {
  readonly type: 'event';
  readonly event: string;
  readonly data: Record<string, unknown>;
  readonly timestamp: { readonly seconds: number; readonly microseconds: number } | undefined;
}
export interface QmpInvalid {
  readonly type: 'invalid';
  readonly reason: string;
}
export type QmpMessage = QmpGreeting | QmpReturn | QmpErrorReply | QmpEvent | QmpInvalid;

/** Longest line accepted from QEMU. Longer lines are discarded (reported once as invalid). */
export const QMP_MAX_LINE = 4 * 1024 * 1024;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function idOf(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isNumber(v)) return String(v);
  return undefined;
}

/** Classifies one parsed JSON value as a QMP message. */
export function classifyQmp(v: unknown): QmpMessage {
  if (!isObject(v)) return { type: 'invalid', reason: 'not a JSON object' };
  if ('QMP' in v) {
    const q = v['QMP'];
    if (!isObject(q)) return { type: 'invalid', reason: 'greeting without an object' };
    const ver = isObject(q['version']) && isObject(q['version']['qemu']) ? q['version']['qemu'] : undefined;
    const version =
      ver && isNumber(ver['major']) && isNumber(ver['minor']) && isNumber(ver['micro'])
        ? { major: ver['major'], minor: ver['minor'], micro: ver['micro'] }
        : undefined;
    const caps = Array.isArray(q['capabilities']) ? q['capabilities'].filter((c): c is string => typeof c === 'string') : [];
    return { type: 'greeting', version, capabilities: caps };
  }
  if ('return' in v) return { type: 'return', id: idOf(v['id']), value: v['return'] };
  if ('error' in v) {
    const e = v['error'];
    if (!isObject(e)) return { type: 'invalid', reason: 'error without an object' };
    return {
      type: 'error',
      id: idOf(v['id']),
      errorClass: typeof e['class'] === 'string' ? e['class'] : 'GenericError',
      desc: typeof e['desc'] === 'string' ? e['desc'] : '',
    };
  }
  if ('event' in v) {
    if (typeof v['event'] !== 'string') return { type: 'invalid', reason: 'event name is not a string' };
    const ts = v['timestamp'];
    const timestamp = isObject(ts) && isNumber(ts['seconds']) && isNumber(ts['microseconds']) ? { seconds: ts['seconds'], microseconds: ts['microseconds'] } : undefined;
    return { type: 'event', event: v['event'], data: isObject(v['data']) ? v['data'] : {}, timestamp };
  }
  return { type: 'invalid', reason: 'object is not a greeting, return, error or event' };
}

/** Parses one line (without its newline). Never throws. */
export function parseQmpLine(line: string): QmpMessage {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    return { type: 'invalid', reason: `malformed JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  return classifyQmp(v);
}

/**
 * Splits a byte stream into lines and decodes each. Keeps at most QMP_MAX_LINE bytes of an
 * unfinished line; a longer line is dropped up to its newline.
 */
export class QmpDecoder {
  private parts: Buffer[] = [];
  private pending = 0;
  private discarding = false;

  push(chunk: Uint8Array): QmpMessage[] {
    const out: QmpMessage[] = [];
    let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (;;) {
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        if (this.discarding) return out;
        if (this.pending + buf.length > QMP_MAX_LINE) {
          this.parts = [];
          this.pending = 0;
          this.discarding = true;
          out.push({ type: 'invalid', reason: `line longer than ${QMP_MAX_LINE} bytes` });
          return out;
        }
        if (buf.length > 0) {
          this.parts.push(Buffer.from(buf)); // copy: the caller may reuse its buffer
          this.pending += buf.length;
        }
        return out;
      }
      const head = buf.subarray(0, nl);
      buf = buf.subarray(nl + 1);
      if (this.discarding) {
        this.discarding = false;
        continue;
      }
      if (this.pending + head.length > QMP_MAX_LINE) {
        this.parts = [];
        this.pending = 0;
        out.push({ type: 'invalid', reason: `line longer than ${QMP_MAX_LINE} bytes` });
        continue;
      }
      const line = this.parts.length === 0 ? head.toString('utf8') : Buffer.concat([...this.parts, head]).toString('utf8');
      this.parts = [];
      this.pending = 0;
      const trimmed = line.trim();
      if (trimmed === '') continue;
      out.push(parseQmpLine(trimmed));
    }
  }
}

/** Encodes one command as a QMP line. `id` correlates the reply. */
export function encodeQmpCommand(execute: string, args: Record<string, unknown> | undefined, id: string): Buffer {
  const msg: Record<string, unknown> = { execute, id };
  if (args !== undefined) msg['arguments'] = args;
  return Buffer.from(`${JSON.stringify(msg)}\n`, 'utf8');
}
