// The one validation of an InstanceSpec, with the one set of limits, used where a spec
// arrives: the controller's command parser (src/controller/protocol/commands.ts, from the
// region) and the hypervisor's request parser (./request.ts, from the controller), and when
// the hypervisor re-reads a saved spec.json. Each caller chooses only the error it throws
// (InvalidParameter for the region, MalformedRequest on the IPC channel); an instance type
// that is not in the catalogue (src/lib/instance-types.ts) is InvalidInstanceType for both. Pure.
//
// A new spec field is one entry in SPEC_FIELDS and one line in parseInstanceSpec.
import { NitrideError } from '../../lib/errors.js';
import { findInstanceType } from '../../lib/instance-types.js';
import { MAX_HOTPLUG_SLOTS } from './qemu-args.js';
import { parseBootDisk } from './boot-disk.js';
import type { GuestImageRef, InstanceSpec, VolumePlug } from './messages.js';

/** The limits every InstanceSpec is held to. */
export const SPEC_LIMITS = {
  /** The x86 kernel's COMMAND_LINE_SIZE is 2048 bytes including the NUL. */
  cmdlineChars: 2048,
  nics: 8,
  volumes: 24,
  hotplugSlots: MAX_HOTPLUG_SLOTS,
} as const;

export const INSTANCE_ID_RE = /^i-[0-9a-f]{17}$/;
export const INSTANCE_TYPE_RE = /^[a-z0-9]+\.[a-z0-9]+$/;
const SHA256_RE = /^[0-9a-f]{64}$/;
const MAC_RE = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i;
const VOLUME_ID_RE = /^vol-[0-9a-f]{8,17}$/;
const TPM_KEY_RE = /^[A-Za-z0-9+/]{43}=$/;

const SPEC_FIELDS = ['instanceId', 'instanceType', 'image', 'bootDisk', 'hotplugSlots', 'nics', 'volumes', 'tpm'] as const;
const IMAGE_FIELDS = ['kernel', 'initrd', 'cmdline', 'kernelSha256', 'initrdSha256'] as const;

/**
 * How a caller reports a refusal: `field` is the dotted path of the offending value; `code`,
 * when given, is the code every caller keeps (InvalidInstanceType).
 */
export type SpecFault = (message: string, context: { field: string; code?: string; [k: string]: unknown }) => Error;

/** The hypervisor's fault: MalformedRequest (an instance id: InvalidInstanceID.Malformed). */
export const malformedRequest: SpecFault = (message, { code, ...context }) => {
  if (code !== undefined) return new NitrideError(code, 'invalid', message, context);
  if (context.field.endsWith('instanceId')) return new NitrideError('InvalidInstanceID.Malformed', 'invalid', `The instance ID '${String(context['value'])}' is malformed.`, { instanceId: context['value'] });
  return new NitrideError('MalformedRequest', 'invalid', message, context);
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function validateInstanceId(v: unknown, fault: SpecFault = malformedRequest, field = 'instanceId'): string {
  if (typeof v !== 'string' || !INSTANCE_ID_RE.test(v)) throw fault(`${field} must be i- and 17 hex digits.`, { field, value: v });
  return v;
}

export function validateVolumePlug(x: unknown, where: string, fault: SpecFault = malformedRequest): VolumePlug {
  if (!isObject(x)) throw fault(`${where} must be an object.`, { field: where });
  const volumeId = x['volumeId'];
  const serial = x['serial'];
  const socketName = x['socketName'];
  if (typeof volumeId !== 'string' || !VOLUME_ID_RE.test(volumeId)) throw fault(`${where}.volumeId is not a volume id.`, { field: `${where}.volumeId` });
  if (typeof serial !== 'string' || !/^[A-Za-z0-9]{1,20}$/.test(serial)) throw fault(`${where}.serial must be 1 to 20 letters and digits.`, { field: `${where}.serial` });
  if (typeof socketName !== 'string' || !/^ebs-vol-[0-9a-f]{8,17}\.sock$/.test(socketName)) throw fault(`${where}.socketName must be ebs-<volume id>.sock.`, { field: `${where}.socketName` });
  return { volumeId, serial, socketName };
}

/** Checks every field of a spec against SPEC_LIMITS and returns it typed (unknown fields are refused). */
/** A reader of non-empty string fields that reports through `fault`. */
function stringField(fault: SpecFault): (o: Record<string, unknown>, k: string, where: string, re?: RegExp) => string {
  return (o, k, where, re) => {
    const x = o[k];
    if (typeof x !== 'string' || x === '') throw fault(`${where}.${k} must be a non-empty string.`, { field: `${where}.${k}` });
    if (re && !re.test(x)) throw fault(`${where}.${k} is not in the expected form.`, { field: `${where}.${k}`, pattern: re.source });
    return x;
  };
}

/** A kernel image reference on its own (the hypervisor's image.digest request). */
export function parseGuestImage(v: unknown, fault: SpecFault = malformedRequest, w = 'image'): GuestImageRef {
  return parseImage(v, w, fault, stringField(fault));
}

export function parseInstanceSpec(v: unknown, fault: SpecFault = malformedRequest, w = 'spec'): InstanceSpec {
  if (!isObject(v)) throw fault(`${w} must be an object.`, { field: w });
  onlyKeys(v, SPEC_FIELDS, w, fault);
  const str = stringField(fault);
  const instanceId = validateInstanceId(v['instanceId'], fault, `${w}.instanceId`);
  const instanceType = str(v, 'instanceType', w, INSTANCE_TYPE_RE);
  // the one check against the catalogue on the host
  if (!findInstanceType(instanceType)) throw fault(`The instance type '${instanceType}' does not exist.`, { field: `${w}.instanceType`, code: 'InvalidInstanceType', instanceType });

  // An instance boots either from a kernel and initrd (image) or from its EBS root volume
  // (bootDisk, served by the EBS card before the start): exactly one of them.
  const spec: { -readonly [K in keyof InstanceSpec]: InstanceSpec[K] } = { instanceId, instanceType };
  if (v['bootDisk'] !== undefined) spec.bootDisk = parseBootDisk(v['bootDisk'], `${w}.bootDisk`, fault);
  if (spec.bootDisk && v['image'] !== undefined) throw fault(`${w}.image and ${w}.bootDisk exclude each other.`, { field: `${w}.image` });
  if (!spec.bootDisk) spec.image = parseImage(v['image'], `${w}.image`, fault, str);
  if (v['hotplugSlots'] !== undefined) {
    const n = v['hotplugSlots'];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > SPEC_LIMITS.hotplugSlots) throw fault(`${w}.hotplugSlots must be an integer from 0 to ${SPEC_LIMITS.hotplugSlots}.`, { field: `${w}.hotplugSlots` });
    spec.hotplugSlots = n;
  }
  if (v['nics'] !== undefined) {
    const nics = v['nics'];
    if (!Array.isArray(nics) || nics.length > SPEC_LIMITS.nics) throw fault(`${w}.nics must be an array of at most ${SPEC_LIMITS.nics} NICs.`, { field: `${w}.nics` });
    spec.nics = nics.map((n: unknown, i) => {
      const nw = `${w}.nics[${i}]`;
      if (!isObject(n)) throw fault(`${nw} must be an object.`, { field: nw });
      onlyKeys(n, ['mac', 'socketPath'], nw, fault);
      const mac = str(n, 'mac', nw);
      const socketPath = str(n, 'socketPath', nw);
      if (!MAC_RE.test(mac)) throw fault(`${nw}.mac is not a MAC address.`, { field: `${nw}.mac` });
      if (!socketPath.startsWith('/') || /[,\s\0]/.test(socketPath)) throw fault(`${nw}.socketPath must be an absolute path without commas or spaces.`, { field: `${nw}.socketPath` });
      return { mac, socketPath };
    });
  }
  if (v['volumes'] !== undefined) {
    const vols = v['volumes'];
    if (!Array.isArray(vols) || vols.length > SPEC_LIMITS.volumes) throw fault(`${w}.volumes must be an array of at most ${SPEC_LIMITS.volumes} volumes.`, { field: `${w}.volumes` });
    spec.volumes = vols.map((x: unknown, i) => validateVolumePlug(x, `${w}.volumes[${i}]`, fault));
  }
  if (v['tpm'] !== undefined) {
    // NitroTPM: the region's per-instance vTPM key, base64 of exactly 32 bytes (never stored by the host).
    const t = v['tpm'];
    if (!isObject(t) || Object.keys(t).length !== 1 || typeof t['key'] !== 'string' || !TPM_KEY_RE.test(t['key']) || Buffer.from(t['key'], 'base64').length !== 32) {
      throw fault(`${w}.tpm must be {key: base64 of 32 bytes}.`, { field: `${w}.tpm` });
    }
    spec.tpm = { key: t['key'] };
  }
  return spec;
}

function parseImage(img: unknown, iw: string, fault: SpecFault, str: (o: Record<string, unknown>, k: string, where: string) => string): GuestImageRef {
  if (!isObject(img)) throw fault(`${iw} must be an object.`, { field: iw });
  onlyKeys(img, IMAGE_FIELDS, iw, fault);
  const kernel = str(img, 'kernel', iw);
  const initrd = str(img, 'initrd', iw);
  if (!kernel.startsWith('/') || !initrd.startsWith('/') || kernel.includes('\0') || initrd.includes('\0')) throw fault(`${iw} paths must be absolute.`, { field: `${iw}.kernel` });
  const cmdline = img['cmdline'] ?? '';
  if (typeof cmdline !== 'string' || cmdline.length > SPEC_LIMITS.cmdlineChars) throw fault(`${iw}.cmdline must be a string of at most ${SPEC_LIMITS.cmdlineChars} characters.`, { field: `${iw}.cmdline` });
  if (/[\n\0]/.test(cmdline)) throw fault(`${iw}.cmdline contains a newline or NUL.`, { field: `${iw}.cmdline` });
  const kernelSha256 = str(img, 'kernelSha256', iw).toLowerCase();
  const initrdSha256 = str(img, 'initrdSha256', iw).toLowerCase();
  if (!SHA256_RE.test(kernelSha256) || !SHA256_RE.test(initrdSha256)) throw fault(`${iw} sha256 values must be 64 hex digits.`, { field: `${iw}.kernelSha256` });
  return { kernel, initrd, cmdline, kernelSha256, initrdSha256 };
}

function onlyKeys(o: Record<string, unknown>, allowed: readonly string[], where: string, fault: SpecFault): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw fault(`${where} has an unknown field '${k}'.`, { field: `${where}.${k}`, allowed });
  }
}
