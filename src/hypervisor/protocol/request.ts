// Validates what arrives on the IPC channel. The controller is trusted, but a message is
// still checked field by field: a malformed one is answered with a clear error and
// changes nothing. Pure.
import { requestIdOf } from '../../lib/channel/envelope.js';
import { NitrideError } from '../../lib/errors.js';
import { parseGuestImage, parseInstanceSpec, validateInstanceId, validateVolumePlug } from './instance-spec.js';
import { HYPERVISOR_PROTOCOL_VERSION, type HypervisorRequest } from './messages.js';


const VOLUME_ID_RE = /^vol-[0-9a-f]{8,17}$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function bad(message: string, context: Record<string, unknown> = {}): NitrideError {
  return new NitrideError('MalformedRequest', 'invalid', message, context);
}

/** Checks envelope and params; returns a typed request or throws MalformedRequest. */
export function parseHypervisorRequest(v: unknown): HypervisorRequest {
  if (!isObject(v)) throw bad('A request must be an object.');
  if (v['v'] !== HYPERVISOR_PROTOCOL_VERSION) throw bad(`Unsupported protocol version ${String(v['v'])}; this hypervisor speaks ${HYPERVISOR_PROTOCOL_VERSION}.`);
  const id = requestIdOf(v);
  if (id === undefined) throw bad('A request needs an integer id.');
  const p = v['params'] === undefined ? {} : v['params'];
  if (!isObject(p)) throw bad('params must be an object.');
  const op = v['op'];
  switch (op) {
    case 'host.info':
    case 'instance.list':
      return { v: 1, id, op, params: {} };
    case 'instance.start':
      return { v: 1, id, op, params: { spec: parseInstanceSpec(p['spec'], undefined, 'params.spec') } };
    case 'image.digest':
      return { v: 1, id, op, params: parseGuestImage(p, undefined, 'params') };
    case 'instance.stop': {
      const instanceId = validateInstanceId(p['instanceId']);
      const force = p['force'];
      const deadlineMs = p['deadlineMs'];
      if (force !== undefined && typeof force !== 'boolean') throw bad('params.force must be a boolean.');
      if (deadlineMs !== undefined && (typeof deadlineMs !== 'number' || !Number.isInteger(deadlineMs) || deadlineMs < 0 || deadlineMs > 600_000)) {
        throw bad('params.deadlineMs must be an integer from 0 to 600000.');
      }
      return {
        v: 1,
        id,
        op,
        params: { instanceId, ...(force === undefined ? {} : { force }), ...(deadlineMs === undefined ? {} : { deadlineMs }) },
      };
    }
    case 'instance.reboot':
    case 'instance.terminate':
    case 'instance.describe':
      return { v: 1, id, op, params: { instanceId: validateInstanceId(p['instanceId']) } };
    case 'instance.console': {
      const latest = p['latest'];
      if (latest !== undefined && typeof latest !== 'boolean') throw bad('params.latest must be a boolean.');
      return { v: 1, id, op, params: { instanceId: validateInstanceId(p['instanceId']), ...(latest === undefined ? {} : { latest }) } };
    }
    case 'instance.qmp': {
      const instanceId = validateInstanceId(p['instanceId']);
      const execute = p['execute'];
      if (typeof execute !== 'string' || execute === '') throw bad('params.execute must be a non-empty string.');
      const args = p['arguments'];
      if (args !== undefined && !isObject(args)) throw bad('params.arguments must be an object.');
      return { v: 1, id, op, params: { instanceId, execute, ...(args === undefined ? {} : { arguments: args }) } };
    }
    case 'instance.attach-volume':
      return { v: 1, id, op, params: { instanceId: validateInstanceId(p['instanceId']), volume: validateVolumePlug(p['volume'], 'params.volume') } };
    case 'instance.detach-volume': {
      const volumeId = p['volumeId'];
      if (typeof volumeId !== 'string' || !VOLUME_ID_RE.test(volumeId)) throw bad('params.volumeId is not a volume id.');
      const force = p['force'];
      if (force !== undefined && typeof force !== 'boolean') throw bad('params.force must be a boolean.');
      return { v: 1, id, op, params: { instanceId: validateInstanceId(p['instanceId']), volumeId, ...(force === undefined ? {} : { force }) } };
    }
    case 'instance.tpm-ekpub': {
      const keyType = p['keyType'];
      const keyFormat = p['keyFormat'];
      if (keyType !== 'rsa' && keyType !== 'ecc-sec-p384') throw bad("params.keyType must be 'rsa' or 'ecc-sec-p384'.");
      if (keyFormat !== 'der' && keyFormat !== 'tpmt') throw bad("params.keyFormat must be 'der' or 'tpmt'.");
      return { v: 1, id, op, params: { instanceId: validateInstanceId(p['instanceId']), keyType, keyFormat } };
    }
    default:
      throw bad(`Unknown operation '${String(op)}'.`, { op });
  }
}
