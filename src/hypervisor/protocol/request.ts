// Validates what arrives on the IPC channel. The controller is trusted, but a message is
// still checked field by field: a malformed one is answered with a clear error and
// changes nothing. Pure.
import { NitrideError } from '../../lib/errors.js';
import { MAX_HOTPLUG_SLOTS } from './qemu-args.js';
import { parseBootDisk } from './boot-disk.js';
import { HYPERVISOR_PROTOCOL_VERSION, type HypervisorRequest, type InstanceSpec, type VolumePlug } from './messages.js';

export const INSTANCE_ID_RE = /^i-[0-9a-f]{17}$/;
const SHA256_RE = /^[0-9a-f]{64}$/;
const MAC_RE = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function bad(message: string, context: Record<string, unknown> = {}): NitrideError {
  return new NitrideError('MalformedRequest', 'invalid', message, context);
}

function str(o: Record<string, unknown>, k: string, where: string): string {
  const v = o[k];
  if (typeof v !== 'string' || v === '') throw bad(`${where}.${k} must be a non-empty string.`, { field: `${where}.${k}` });
  return v;
}

export function validateInstanceId(v: unknown): string {
  if (typeof v !== 'string' || !INSTANCE_ID_RE.test(v)) {
    throw new NitrideError('InvalidInstanceID.Malformed', 'invalid', `The instance ID '${String(v)}' is malformed.`, { instanceId: v });
  }
  return v;
}

export function validateSpec(v: unknown): InstanceSpec {
  if (!isObject(v)) throw bad('params.spec must be an object.');
  const instanceId = validateInstanceId(v['instanceId']);
  const instanceType = str(v, 'instanceType', 'spec');
  const spec: { -readonly [K in keyof InstanceSpec]: InstanceSpec[K] } = { instanceId, instanceType };
  if (v['bootDisk'] !== undefined) spec.bootDisk = parseBootDisk(v['bootDisk']);
  const img = v['image'];
  let cmdline = '';
  if (img !== undefined || !spec.bootDisk) {
    if (!isObject(img)) throw bad('spec.image must be an object.');
    const kernel = str(img, 'kernel', 'spec.image');
    const initrd = str(img, 'initrd', 'spec.image');
    if (!kernel.startsWith('/') || !initrd.startsWith('/')) throw bad('spec.image paths must be absolute.');
    cmdline = typeof img['cmdline'] === 'string' ? img['cmdline'] : '';
    if (cmdline.length > 2048) throw bad('spec.image.cmdline is longer than 2048 characters.');
    const kernelSha256 = str(img, 'kernelSha256', 'spec.image').toLowerCase();
    const initrdSha256 = str(img, 'initrdSha256', 'spec.image').toLowerCase();
    if (!SHA256_RE.test(kernelSha256) || !SHA256_RE.test(initrdSha256)) throw bad('spec.image sha256 values must be 64 hex digits.');
    spec.image = { kernel, initrd, cmdline, kernelSha256, initrdSha256 };
  }
  if (spec.image && spec.bootDisk) throw bad('spec.image and spec.bootDisk exclude each other.');
  if (v['hotplugSlots'] !== undefined) {
    const n = v['hotplugSlots'];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_HOTPLUG_SLOTS) {
      throw bad(`spec.hotplugSlots must be an integer from 0 to ${MAX_HOTPLUG_SLOTS}.`);
    }
    spec.hotplugSlots = n;
  }
  if (v['nics'] !== undefined) {
    const nics = v['nics'];
    if (!Array.isArray(nics)) throw bad('spec.nics must be an array.');
    spec.nics = nics.map((n, i) => {
      if (!isObject(n)) throw bad(`spec.nics[${i}] must be an object.`);
      const mac = str(n, 'mac', `spec.nics[${i}]`);
      const socketPath = str(n, 'socketPath', `spec.nics[${i}]`);
      if (!MAC_RE.test(mac)) throw bad(`spec.nics[${i}].mac is not a MAC address.`);
      if (!socketPath.startsWith('/') || /[,\s]/.test(socketPath)) throw bad(`spec.nics[${i}].socketPath must be an absolute path without commas or spaces.`);
      return { mac, socketPath };
    });
  }
  if (v['volumes'] !== undefined) {
    const vols = v['volumes'];
    if (!Array.isArray(vols) || vols.length > 24) throw bad('spec.volumes must be an array of at most 24 volumes.');
    spec.volumes = vols.map((x, i) => validateVolumePlug(x, `spec.volumes[${i}]`));
  }
  if (v['tpm'] !== undefined) {
    const t = v['tpm'];
    if (!isObject(t) || typeof t['key'] !== 'string' || Buffer.from(t['key'], 'base64').length !== 32 || Object.keys(t).length !== 1) throw bad('spec.tpm must be {key: base64 of 32 bytes}.');
    spec.tpm = { key: t['key'] };
  }
  if (/[\n\0]/.test(cmdline)) throw bad('spec.image.cmdline contains a newline or NUL.');
  return spec;
}

const VOLUME_ID_RE = /^vol-[0-9a-f]{8,17}$/;

export function validateVolumePlug(x: unknown, where: string): VolumePlug {
  if (!isObject(x)) throw bad(`${where} must be an object.`);
  const volumeId = str(x, 'volumeId', where);
  const serial = str(x, 'serial', where);
  const socketName = str(x, 'socketName', where);
  if (!VOLUME_ID_RE.test(volumeId)) throw bad(`${where}.volumeId is not a volume id.`);
  if (!/^[A-Za-z0-9]{1,20}$/.test(serial)) throw bad(`${where}.serial must be 1 to 20 letters and digits.`);
  if (!/^ebs-vol-[0-9a-f]{8,17}\.sock$/.test(socketName)) throw bad(`${where}.socketName must be ebs-<volume id>.sock.`);
  return { volumeId, serial, socketName };
}

/** Reads the request id, if any, so even a malformed request can be answered. */
export function requestIdOf(v: unknown): number | undefined {
  return isObject(v) && typeof v['id'] === 'number' && Number.isSafeInteger(v['id']) ? v['id'] : undefined;
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
      return { v: 1, id, op, params: { spec: validateSpec(p['spec']) } };
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
