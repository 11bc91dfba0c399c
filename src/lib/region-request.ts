// One HTTP(S) request to the region API from Nitride's own clients (account, host update,
// image import): https when the endpoint says so, trusting the profile's ca_bundle (the
// region CA's certificate) as both AWS CLIs do.
import { readFileSync } from 'node:fs';
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';

export function regionRequest(url: URL, caBundle: string | undefined, opts: RequestOptions, onResponse: (r: IncomingMessage) => void): ClientRequest {
  const o: RequestOptions = { hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port === '' ? undefined : Number(url.port), ...opts };
  if (url.protocol === 'https:') return httpsRequest({ ...o, ...(caBundle !== undefined ? { ca: readFileSync(caBundle, 'utf8') } : {}) }, onResponse);
  return httpRequest(o, onResponse);
}
