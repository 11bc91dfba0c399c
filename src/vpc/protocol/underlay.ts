// The underlay bridge's contract (src/vpc/underlay/main.ts, forked by the controller's VPC
// module with an IPC channel like the card), in the channel envelope (src/lib/channel):
//   underlay.start  UnderlayConfig  → { port, pid }
//   underlay.peers  { peers }       → null   (key delivery / rotation)
//   underlay.remote RemoteEni       → null   (another host's ENI)
//   underlay.stats  {}              → counters (null before the start)
//   event { v: 1, event: 'underlay.ready', pid } once it serves
// Pure: the envelope and shape checks; the bridge checks the configuration's values (checkConfig).
import { isObject, type Operation } from '../../lib/channel/envelope.js';
import { VpcError } from '../errors.js';

export interface UnderlayPeer {
  readonly hostId: string;
  readonly address: string;
  readonly port: number;
  /** The host pair's 32-byte secret, base64, from the region. */
  readonly secret: string;
  readonly epoch: number;
}

export interface RemoteEni {
  readonly eniId: string;
  /** The host the ENI lives on. */
  readonly hostId: string;
  readonly vni: number;
  readonly ip: string;
  readonly mac: string;
  readonly subnetCidr: string;
  /** This host's card socket for the ENI (the card's socketPath for it). */
  readonly socketPath: string;
}

export interface UnderlayConfig {
  readonly hostId: string;
  readonly listenAddress: string;
  readonly listenPort: number;
  readonly peers: readonly UnderlayPeer[];
  readonly remoteEnis: readonly RemoteEni[];
}

export interface UnderlayCounters {
  txDatagrams: number;
  txBytes: number;
  rxDatagrams: number;
  rxBytes: number;
  droppedAuth: number;
  droppedReplay: number;
  droppedMalformed: number;
  droppedUnknownEpoch: number;
  droppedUnknownSource: number;
  droppedUnknownPeer: number;
  /** Frames from a peer that had not yet vouched for its counter (see the top of the file). */
  droppedUnsynced: number;
  syncRequestsSent: number;
  syncRepliesSent: number;
}

export interface UnderlayContract {
  readonly 'underlay.start': Operation<UnderlayConfig, { readonly port: number; readonly pid: number }>;
  readonly 'underlay.peers': Operation<{ readonly peers: readonly UnderlayPeer[] }, null>;
  readonly 'underlay.remote': Operation<RemoteEni, null>;
  readonly 'underlay.stats': Operation<Record<string, never>, UnderlayCounters | null>;
}

export type UnderlayRequest =
  | { readonly op: 'underlay.start'; readonly params: unknown }
  | { readonly op: 'underlay.peers'; readonly params: { readonly peers: readonly UnderlayPeer[] } }
  | { readonly op: 'underlay.remote'; readonly params: RemoteEni }
  | { readonly op: 'underlay.stats'; readonly params: Record<string, never> };

function bad(message: string): VpcError {
  return new VpcError('InvalidRequest', 'invalid', message);
}

/** Checks the envelope and the params' shapes; underlay.start's configuration is checked by the bridge. */
export function parseUnderlayRequest(raw: unknown): UnderlayRequest {
  if (!isObject(raw) || raw['v'] !== 1 || typeof raw['id'] !== 'number') throw bad('A request must be an object with v: 1 and an integer id.');
  const p = raw['params'] ?? {};
  if (!isObject(p)) throw bad('params must be an object.');
  switch (raw['op']) {
    case 'underlay.start':
      return { op: 'underlay.start', params: p };
    case 'underlay.peers':
      if (!Array.isArray(p['peers'])) throw bad('params.peers must be a list.');
      return { op: 'underlay.peers', params: { peers: p['peers'] as UnderlayPeer[] } };
    case 'underlay.remote':
      for (const k of ['eniId', 'hostId', 'ip', 'mac', 'subnetCidr', 'socketPath']) if (typeof p[k] !== 'string') throw bad(`params.${k} must be a string.`);
      if (typeof p['vni'] !== 'number') throw bad('params.vni must be a number.');
      return { op: 'underlay.remote', params: p as unknown as RemoteEni };
    case 'underlay.stats':
      return { op: 'underlay.stats', params: {} };
    default:
      throw new VpcError('UnknownOperation', 'invalid', 'The operation is not one the underlay bridge knows.', { op: String(raw['op']).slice(0, 64) });
  }
}
