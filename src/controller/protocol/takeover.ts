// The contract between a controller and its successor during a live update of the controller
// (src/controller/live-update.ts starts the successor; src/controller/takeover.ts is the
// successor's side), in the channel envelope of src/lib/channel over the successor's IPC
// channel. Pure.
//
//   successor → predecessor: event takeover.ready {pid, ebsPid, vpcPid, pcrs} once measured and its cards answer
//   takeover.hypervisor {}                   start a hypervisor, which re-adopts the guests → {pid, guests}
//   takeover.relay {component, op, params, timeoutMs, wantHandle?}
//                                            a request to the successor's EBS or VPC card (a handle may
//                                            ride beside it, or come back beside the reply)
//   takeover.underlay {state}                start the underlay bridge as the predecessor ran it
//   takeover.listener {}                     the listening socket rides beside it → {port}
//   takeover.activate {}                     open the audit log and serve → {pid}
//   takeover.abort {}                        stop everything started and exit 1 → {aborting: true}
import { isObject, type Operation } from '../../lib/channel/envelope.js';
import type { UnderlayPeer, RemoteEni } from '../../vpc/protocol/underlay.js';
import { ControllerError } from '../errors.js';

/** The underlay bridge's configuration, handed from a controller to its successor. */
export interface UnderlayState {
  readonly listenPort: number;
  readonly peers: readonly UnderlayPeer[];
  readonly remotes: readonly RemoteEni[];
}

export interface RelayParams {
  readonly component: 'ebs' | 'vpc';
  readonly op: string;
  readonly params: unknown;
  readonly timeoutMs: number;
  readonly wantHandle?: boolean;
}

type None = Record<string, never>;

export interface SuccessorContract {
  readonly 'takeover.hypervisor': Operation<None, { readonly pid: number | null; readonly guests: number }>;
  readonly 'takeover.relay': Operation<RelayParams, unknown>;
  readonly 'takeover.underlay': Operation<{ readonly state: UnderlayState }, { readonly pid: number | undefined; readonly port: number; readonly remotes: number }>;
  readonly 'takeover.listener': Operation<None, { readonly port: number }>;
  readonly 'takeover.activate': Operation<None, { readonly pid: number }>;
  readonly 'takeover.abort': Operation<None, { readonly aborting: true }>;
}

export type SuccessorRequest = { [O in keyof SuccessorContract]: { readonly op: O; readonly params: SuccessorContract[O]['params'] } }[keyof SuccessorContract];

/** The successor's ready event. */
export interface TakeoverReady {
  readonly v: 1;
  readonly event: 'takeover.ready';
  readonly pid: number;
  readonly ebsPid: number | null;
  readonly vpcPid: number | null;
  readonly pcrs: unknown;
  readonly [k: string]: unknown;
}

function bad(message: string): ControllerError {
  return new ControllerError('InvalidParameter', 'invalid', message, {});
}

export function parseSuccessorRequest(raw: unknown): SuccessorRequest {
  if (!isObject(raw) || raw['v'] !== 1 || typeof raw['id'] !== 'number') throw bad('A takeover request is {v: 1, id, op, params}.');
  const p = raw['params'] ?? {};
  if (!isObject(p)) throw bad('params must be an object.');
  switch (raw['op']) {
    case 'takeover.hypervisor':
    case 'takeover.listener':
    case 'takeover.activate':
    case 'takeover.abort':
      return { op: raw['op'], params: {} };
    case 'takeover.relay': {
      const component = p['component'];
      if (component !== 'ebs' && component !== 'vpc') throw new ControllerError('ComponentUnavailable', 'unavailable', 'The component to relay to is not running here.', { component: String(component) });
      if (typeof p['op'] !== 'string') throw bad('takeover.relay needs an op.');
      return {
        op: 'takeover.relay',
        params: { component, op: p['op'], params: p['params'] ?? {}, timeoutMs: typeof p['timeoutMs'] === 'number' ? p['timeoutMs'] : 30_000, ...(p['wantHandle'] === true ? { wantHandle: true } : {}) },
      };
    }
    case 'takeover.underlay': {
      const st = p['state'];
      if (!isObject(st) || !Number.isInteger(st['listenPort']) || !Array.isArray(st['peers']) || !Array.isArray(st['remotes'])) throw bad('takeover.underlay carries the bridge state.');
      return { op: 'takeover.underlay', params: { state: st as unknown as UnderlayState } };
    }
    default:
      throw bad(`Unknown takeover operation '${String(raw['op']).slice(0, 64)}'.`);
  }
}
