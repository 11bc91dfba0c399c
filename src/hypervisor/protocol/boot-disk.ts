// An instance that boots from its own EBS root volume instead of a kernel and initrd, and
// the EC2-like SMBIOS identity every instance gets. Pure: types, validation and the QEMU
// arguments they turn into; no I/O.
//
// The root volume is served by the EBS card on a unix socket in the instance directory
// (ebs-<volume id>.sock, the same name a hot-plugged volume's export has) and attached when
// QEMU starts: `-blockdev nbd` with reconnect-delay (so a live update or a restart of the
// card stalls the guest's I/O instead of failing it) and an NVMe controller whose serial
// is the volume id without its dash, as EC2 gives it, with bootindex=0, on a root port of
// its own that hot-plug never picks. The firmware is SeaBIOS (QEMU's default, the image's
// BootMode legacy-bios) or OVMF (uefi) with the instance's own copy of the UEFI variables.
import { createHash } from 'node:crypto';
import { NitrideError } from '../../lib/errors.js';

export type BootFirmware = 'legacy-bios' | 'uefi';

/** InstanceSpec.bootDisk: the root volume the instance boots from. */
export interface BootDisk {
  readonly volumeId: string;
  readonly firmware: BootFirmware;
}

/**
 * The controller command instance.start's `rootVolume`: what the EBS card needs to serve the
 * root volume before QEMU starts (the data key sealed to the card, or null when unencrypted).
 */
export interface RootVolumeOpen {
  readonly sizeBytes: number;
  readonly sealedKey: string | null;
}

const VOLUME_ID_RE = /^vol-[0-9a-f]{8,17}$/;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** How a caller reports a refusal (structurally instance-spec.ts's SpecFault); MalformedRequest by default. */
export type BootDiskFault = (message: string, context: { field: string }) => Error;

const malformed: BootDiskFault = (message, context) => new NitrideError('MalformedRequest', 'invalid', message, context);

/** Validates spec.bootDisk ({volumeId, firmware}); `where` names the field in errors. */
export function parseBootDisk(raw: unknown, where = 'spec.bootDisk', fault: BootDiskFault = malformed): BootDisk {
  const bad = (message: string, field: string): Error => fault(message, { field });
  if (!isObject(raw)) throw bad(`${where} must be an object.`, where);
  for (const k of Object.keys(raw)) if (k !== 'volumeId' && k !== 'firmware') throw bad(`${where}.${k} is not a known field.`, `${where}.${k}`);
  const volumeId = raw['volumeId'];
  if (typeof volumeId !== 'string' || !VOLUME_ID_RE.test(volumeId)) throw bad(`${where}.volumeId is not a volume id.`, `${where}.volumeId`);
  const firmware = raw['firmware'] ?? 'legacy-bios';
  if (firmware !== 'legacy-bios' && firmware !== 'uefi') throw bad(`${where}.firmware must be 'legacy-bios' or 'uefi'.`, `${where}.firmware`);
  return { volumeId, firmware };
}

/** Validates the controller's instance.start rootVolume ({sizeBytes, sealedKey}). */
export function parseRootVolumeOpen(raw: unknown, where = 'params.rootVolume', fault: BootDiskFault = malformed): RootVolumeOpen {
  const bad = (message: string, field: string): Error => fault(message, { field });
  if (!isObject(raw)) throw bad(`${where} must be an object.`, where);
  for (const k of Object.keys(raw)) if (k !== 'sizeBytes' && k !== 'sealedKey') throw bad(`${where}.${k} is not a known field.`, `${where}.${k}`);
  const sizeBytes = raw['sizeBytes'];
  if (typeof sizeBytes !== 'number' || !Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % 512 !== 0) throw bad(`${where}.sizeBytes must be a positive multiple of 512.`, `${where}.sizeBytes`);
  const sealedKey = raw['sealedKey'];
  if (sealedKey !== null && (typeof sealedKey !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(sealedKey) || sealedKey.length > 4096)) {
    throw bad(`${where}.sealedKey must be base64 or null.`, `${where}.sealedKey`);
  }
  return { sizeBytes, sealedKey };
}

/** The NVMe serial EC2 gives a volume: its id without the dash (vol0123…). */
export const bootSerialOf = (volumeId: string): string => volumeId.replace('-', '');
/** The card's export socket of a volume, a file name in the instance directory. */
export const bootSocketNameOf = (volumeId: string): string => `ebs-${volumeId}.sock`;
/** QEMU ids of the root volume: the same names a hot-plugged volume's device and node get. */
export const bootDeviceIds = (volumeId: string): { dev: string; node: string } => ({ dev: `ebs-${volumeId}`, node: `ebs-${volumeId}-nbd` });
/** The root port the root disk sits on; not named rpN, so hot-plug never takes it. */
export const BOOT_ROOT_PORT = 'rproot';
/** pcie.0 address of that port: after the hot-plug ports (0x2 … 0x19). */
export const BOOT_ROOT_PORT_ADDR = '0x1a';
/** Seconds QEMU holds the guest's I/O and reconnects when the card goes away (as hot-plug uses). */
export const BOOT_RECONNECT_DELAY_S = 30;

/**
 * SeaBIOS for legacy-bios root-volume boots, named explicitly (not left to QEMU's search path)
 * so that the file the host measures into PCR 6 is the file QEMU loads. The 256 KiB build:
 * Debian's 128 KiB bios.bin has no NVMe driver (docs/IMAGE.md).
 */
export const SEABIOS_PATH = '/usr/share/seabios/bios-256k.bin';

/** OVMF from Debian's `ovmf` package: the code read-only, the variables copied per instance. */
export const OVMF_CODE_PATH = '/usr/share/OVMF/OVMF_CODE.fd';
export const OVMF_VARS_TEMPLATE_PATH = '/usr/share/OVMF/OVMF_VARS.fd';
/** The instance's UEFI variable store, in the 0700 instance directory, kept across stop/start. */
export const OVMF_VARS_FILE = 'ovmf-vars.fd';

/** The firmware code a root-volume boot loads: what the controller measures into PCR 6. */
export function firmwareCodePath(firmware: BootFirmware): string {
  return firmware === 'uefi' ? OVMF_CODE_PATH : SEABIOS_PATH;
}

/** QEMU arguments that attach the root volume and select the firmware. */
export function bootDiskArgs(d: BootDisk): string[] {
  const { dev, node } = bootDeviceIds(d.volumeId);
  const args: string[] = [];
  if (d.firmware === 'uefi') {
    args.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE_PATH}`);
    args.push('-drive', `if=pflash,format=raw,unit=1,file=${OVMF_VARS_FILE}`);
  } else {
    args.push('-bios', SEABIOS_PATH);
  }
  args.push('-device', `pcie-root-port,id=${BOOT_ROOT_PORT},bus=pcie.0,chassis=64,slot=64,addr=${BOOT_ROOT_PORT_ADDR}`);
  args.push(
    '-blockdev',
    JSON.stringify({ driver: 'nbd', 'node-name': node, server: { type: 'unix', path: bootSocketNameOf(d.volumeId) }, export: d.volumeId, 'reconnect-delay': BOOT_RECONNECT_DELAY_S }),
  );
  args.push('-device', `nvme,id=${dev},drive=${node},serial=${bootSerialOf(d.volumeId)},bus=${BOOT_ROOT_PORT},bootindex=0`);
  return args;
}

/**
 * The system UUID of an instance, stable for its life: `ec2` followed by hex digits taken
 * from a hash of the instance id, in the 8-4-4-4-12 form. EC2's own start with ec2 as well,
 * which is what cloud-init's ds-identify looks for (together with an equal serial number).
 */
export function ec2SystemUuid(instanceId: string): string {
  const h = `ec2${createHash('sha256').update(`nitride/smbios/v1/${instanceId}`).digest('hex').slice(0, 29)}`;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** QEMU -smbios values escape a comma by doubling it. */
const smbiosValue = (s: string): string => s.replaceAll(',', ',,');

/**
 * What EC2 Nitro instances show in DMI: system (type 1) vendor "Amazon EC2", product the
 * instance type, serial equal to the system UUID; chassis (type 3) vendor "Amazon EC2" with
 * the instance id as asset tag; board (type 2) vendor "Amazon EC2"; BIOS (type 0) vendor
 * "Amazon EC2".
 */
export function smbiosArgs(instanceId: string, instanceType: string): string[] {
  const uuid = ec2SystemUuid(instanceId);
  const ec2 = 'Amazon EC2';
  return [
    '-smbios', `type=0,vendor=${ec2}`,
    '-smbios', `type=1,manufacturer=${ec2},product=${smbiosValue(instanceType)},serial=${uuid},uuid=${uuid}`,
    '-smbios', `type=2,manufacturer=${ec2}`,
    '-smbios', `type=3,manufacturer=${ec2},asset=${smbiosValue(instanceId)}`,
  ];
}
