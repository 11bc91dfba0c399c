// A small HTTP/1.x request parser and response writer for the metadata service. It takes
// the bytes a guest sent over the card's TCP, returns whole requests, and refuses what it
// does not need (chunked bodies, oversized headers) with a status to answer. Pure.

export const MAX_HEADER_BYTES = 8192;
export const MAX_BODY_BYTES = 4096;

export interface HttpRequest {
  readonly method: string;
  readonly target: string;
  readonly version: '1.0' | '1.1';
  /** Lower-case names; a repeated header keeps its values joined by ", ". */
  readonly headers: Map<string, string>;
  readonly body: Buffer;
  /** Whether the connection stays open after the response. */
  readonly keepAlive: boolean;
}

export type ParseResult =
  | { readonly kind: 'request'; readonly request: HttpRequest; readonly consumed: number }
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'error'; readonly status: number; readonly reason: string };

const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function parseHttpRequest(buf: Buffer): ParseResult {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) {
    if (buf.length > MAX_HEADER_BYTES) return { kind: 'error', status: 431, reason: 'headers too large' };
    return { kind: 'incomplete' };
  }
  if (end > MAX_HEADER_BYTES) return { kind: 'error', status: 431, reason: 'headers too large' };
  const head = buf.subarray(0, end).toString('latin1');
  const lines = head.split('\r\n');
  const requestLine = lines[0] ?? '';
  const parts = requestLine.split(' ');
  if (parts.length !== 3) return { kind: 'error', status: 400, reason: 'bad request line' };
  const [method, target, proto] = parts as [string, string, string];
  if (!TOKEN_RE.test(method)) return { kind: 'error', status: 400, reason: 'bad method' };
  if (!target.startsWith('/') || /[\x00-\x20\x7f-\xff]/.test(target)) return { kind: 'error', status: 400, reason: 'bad target' };
  if (proto !== 'HTTP/1.1' && proto !== 'HTTP/1.0') return { kind: 'error', status: 505, reason: 'version' };
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const c = line.indexOf(':');
    if (c <= 0) return { kind: 'error', status: 400, reason: 'bad header line' };
    const name = line.slice(0, c).toLowerCase();
    if (!TOKEN_RE.test(name)) return { kind: 'error', status: 400, reason: 'bad header name' };
    const value = line.slice(c + 1).trim();
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) return { kind: 'error', status: 400, reason: 'bad header value' };
    const prev = headers.get(name);
    headers.set(name, prev === undefined ? value : `${prev}, ${value}`);
  }
  if (headers.has('transfer-encoding')) return { kind: 'error', status: 501, reason: 'transfer-encoding' };
  let bodyLen = 0;
  const cl = headers.get('content-length');
  if (cl !== undefined) {
    if (!/^\d{1,9}$/.test(cl)) return { kind: 'error', status: 400, reason: 'bad content-length' };
    bodyLen = Number(cl);
    if (bodyLen > MAX_BODY_BYTES) return { kind: 'error', status: 413, reason: 'body too large' };
  }
  const total = end + 4 + bodyLen;
  if (buf.length < total) return { kind: 'incomplete' };
  const version = proto === 'HTTP/1.1' ? '1.1' : '1.0';
  const conn = (headers.get('connection') ?? '').toLowerCase();
  const keepAlive = version === '1.1' ? !conn.includes('close') : conn.includes('keep-alive');
  return {
    kind: 'request',
    request: { method, target, version, headers, body: Buffer.from(buf.subarray(end + 4, total)), keepAlive },
    consumed: total,
  };
}

const REASONS: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Payload Too Large',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  505: 'HTTP Version Not Supported',
};

export interface HttpResponse {
  readonly status: number;
  readonly headers?: readonly (readonly [string, string])[];
  readonly body: string | Buffer;
}

export function serializeResponse(r: HttpResponse, keepAlive: boolean, head = false): Buffer {
  const body = typeof r.body === 'string' ? Buffer.from(r.body) : r.body;
  const lines = [`HTTP/1.1 ${r.status} ${REASONS[r.status] ?? 'Status'}`];
  const hdrs = r.headers ?? [];
  if (!hdrs.some(([n]) => n.toLowerCase() === 'content-type')) lines.push('Content-Type: text/plain');
  for (const [n, v] of hdrs) lines.push(`${n}: ${v}`);
  lines.push(`Content-Length: ${body.length}`, 'Server: EC2ws', `Connection: ${keepAlive ? 'keep-alive' : 'close'}`, '', '');
  const h = Buffer.from(lines.join('\r\n'), 'latin1');
  return head ? h : Buffer.concat([h, body]);
}
