// Builds QEMU's command line for one instance. Pure: the caller supplies every fact
// (sizes from the instance-type catalogue, the accelerator verdict, the image) and runs
// QEMU with its working directory set to the instance directory, so every per-instance
// path here is relative. That lets QEMU, once it runs as the unprivileged user, reach its
// own files without being able to traverse the hypervisor's 0700 state directory, and
// keeps unix socket paths short. There is no -pidfile: QEMU resolves that path with
// realpath(), which fails when the unprivileged user cannot traverse the state directory;
// the hypervisor writes the pidfile itself (it spawned QEMU directly, so it knows the pid).

import { bootDiskArgs, smbiosArgs, type BootDisk } from './boot-disk.js';

/** File names inside an instance directory. */
export const INSTANCE_FILES = {
  spec: 'spec.json',
  runtime: 'runtime.json',
  pidfile: 'qemu.pid',
  /** QEMU's and swtpm's own directory (the instance's user may create files only here). */
  run: 'run',
  qmp: 'run/qmp.sock',
  console: 'console.log',
  consolePrev: 'console.prev.log',
  qemuLog: 'qemu.log',
  kernel: 'kernel',
  initrd: 'initrd',
  tpmSocket: 'run/tpm.sock',
} as const;

export const DEFAULT_HOTPLUG_SLOTS = 8;
/** Root ports sit at pcie.0 addresses 0x2 … 0x19. */
export const MAX_HOTPLUG_SLOTS = 24;

export const SANDBOX_ARG = 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny';

export interface QemuLaunchPlan {
  readonly instanceId: string;
  readonly vcpus: number;
  readonly memoryMiB: number;
  readonly accel: 'kvm' | 'tcg';
  readonly hotplugSlots: number;
  readonly cmdline: string;
  readonly nics?: readonly { readonly mac: string; readonly socketPath: string }[];
  /** NitroTPM: a tpm-crb device on the instance's swtpm control socket (relative to the instance dir). */
  readonly tpm?: boolean;
  /** Boot from the EBS root volume (src/hypervisor/protocol/boot-disk.ts) instead of -kernel/-initrd. */
  readonly bootDisk?: BootDisk;
  /** EC2-like SMBIOS (system UUID, serial, instance type) so cloud-init picks its Ec2 datasource. */
  readonly instanceType?: string;
}

/** The marker QEMU's command line carries so a pid can be matched to its instance. */
export function guestNameArg(instanceId: string): string {
  return `guest=${instanceId}`;
}

export function buildQemuArgs(p: QemuLaunchPlan): string[] {
  const f = INSTANCE_FILES;
  const args: string[] = [
    '-name', guestNameArg(p.instanceId),
    '-M', 'q35,smbus=off,sata=off,vmport=off',
    '-accel', p.accel,
  ];
  if (p.accel === 'kvm') args.push('-cpu', 'host');
  args.push(
    '-smp', String(p.vcpus),
    '-m', `${p.memoryMiB}M`,
    '-nodefaults',
    '-no-user-config',
    '-display', 'none',
    '-sandbox', SANDBOX_ARG,
    '-chardev', `null,id=ser0,logfile=${f.console},logappend=on`,
    '-serial', 'chardev:ser0',
    '-qmp', `unix:${f.qmp},server=on,wait=off`,
  );
  if (p.bootDisk) args.push(...bootDiskArgs(p.bootDisk));
  else args.push('-kernel', f.kernel, '-initrd', f.initrd, '-append', p.cmdline);
  if (p.instanceType !== undefined) args.push(...smbiosArgs(p.instanceId, p.instanceType));
  for (let i = 1; i <= p.hotplugSlots; i++) {
    args.push('-device', `pcie-root-port,id=rp${i},bus=pcie.0,chassis=${i},slot=${i},addr=0x${(i + 1).toString(16)}`);
  }
  (p.nics ?? []).forEach((nic, i) => {
    args.push('-netdev', `stream,id=net${i},server=off,addr.type=unix,addr.path=${nic.socketPath}`);
    args.push('-device', `virtio-net-pci,netdev=net${i},mac=${nic.mac}`);
  });
  if (p.tpm) args.push('-chardev', `socket,id=vtpmchr,path=${f.tpmSocket}`, '-tpmdev', 'emulator,id=vtpm0,chardev=vtpmchr', '-device', 'tpm-crb,tpmdev=vtpm0');
  return args;
}
