// The hypervisor's contract: the typed, versioned messages between the controller and the
// hypervisor component, in the channel envelope of src/lib/channel/envelope.ts. They travel
// over the Node IPC channel the controller creates when it forks the hypervisor (no
// listening socket). Pure types: the receiving end's parser is ./request.ts, the instance
// spec's is ./instance-spec.ts.
//
//   controller → hypervisor:  HypervisorRequest   { v: 1, id, op, params }
//   hypervisor → controller:  HypervisorReply     { v: 1, id, ok: true, result } | { v: 1, id, ok: false, error }
//                             HypervisorEvent     { v: 1, event, … }   (unsolicited)
import type { Operation, ReplyMessage } from '../../lib/channel/envelope.js';

export type { WireError } from '../../lib/channel/envelope.js';

import type { BootDisk } from './boot-disk.js';

export const HYPERVISOR_PROTOCOL_VERSION = 1;

export interface GuestImageRef {
  /** Absolute path of the kernel (PVH vmlinux or bzImage). */
  readonly kernel: string;
  /** Absolute path of the initramfs. */
  readonly initrd: string;
  /** Kernel command line. */
  readonly cmdline: string;
  /** sha256 of kernel and initrd, checked before launch. */
  readonly kernelSha256: string;
  readonly initrdSha256: string;
}

export interface InstanceSpec {
  readonly instanceId: string; // i-[0-9a-f]{17}
  readonly instanceType: string; // from the instance-type catalogue
  /** Kernel and initrd to boot directly; absent when the instance boots from bootDisk. */
  readonly image?: GuestImageRef;
  /** Boot from this EBS root volume (served by the EBS card before start) instead of image. */
  readonly bootDisk?: BootDisk;
  /** Number of PCIe root ports to reserve for hot-plug (default 8). */
  readonly hotplugSlots?: number;
  /** Extra QEMU netdev/device wiring added by the VPC issue; absent until then. */
  readonly nics?: readonly { readonly mac: string; readonly socketPath: string }[];
  /**
   * EBS volumes hot-plugged as NVMe (kept by the hypervisor: attach/detach edit this list,
   * and every launch plugs them again). socketName is the card's export socket inside the
   * instance directory (QEMU's working directory), so QEMU needs no access to any other path.
   */
  readonly volumes?: readonly VolumePlug[];
  /**
   * NitroTPM (src/hypervisor/vtpm.ts): a per-instance swtpm whose state is encrypted under
   * this 32-byte key (base64). The key is given at every launch and never written to disk:
   * spec.json is saved without it.
   */
  readonly tpm?: { readonly key: string };
}

export interface VolumePlug {
  readonly volumeId: string;
  /** NVMe serial: the volume id without its dash, as EC2 does (vol0123…). */
  readonly serial: string;
  /** File name of the unix socket in the instance directory. */
  readonly socketName: string;
}

/** sha256 (checked against the image record) and sha384 (measured into PCR 6) of each file. */
export interface ImageDigests {
  readonly kernel: { readonly sha256: string; readonly sha384: string };
  readonly initrd: { readonly sha256: string; readonly sha384: string };
}

export type InstanceRunState = 'starting' | 'running' | 'stopping' | 'stopped' | 'terminated';

export interface InstanceInfo {
  readonly instanceId: string;
  readonly instanceType: string;
  readonly state: InstanceRunState;
  readonly pid: number | undefined;
  readonly accel: 'kvm' | 'tcg';
  readonly launchedAt: string | undefined; // ISO time of the current QEMU launch
  readonly readyAt: string | undefined; // ISO time the ready marker was seen in this launch
}

export type HypervisorOp =
  | { readonly op: 'host.info'; readonly params: Record<string, never> }
  | { readonly op: 'instance.list'; readonly params: Record<string, never> }
  | { readonly op: 'instance.start'; readonly params: { readonly spec: InstanceSpec } } // create or start a stopped one
  // verifies a kernel image's files against their sha256 and answers both digests of each (PCR 6)
  | { readonly op: 'image.digest'; readonly params: GuestImageRef }
  | { readonly op: 'instance.stop'; readonly params: { readonly instanceId: string; readonly force?: boolean; readonly deadlineMs?: number } }
  | { readonly op: 'instance.reboot'; readonly params: { readonly instanceId: string } }
  | { readonly op: 'instance.terminate'; readonly params: { readonly instanceId: string } }
  | { readonly op: 'instance.describe'; readonly params: { readonly instanceId: string } }
  | { readonly op: 'instance.console'; readonly params: { readonly instanceId: string; readonly latest?: boolean } }
  | { readonly op: 'instance.qmp'; readonly params: { readonly instanceId: string; readonly execute: string; readonly arguments?: Record<string, unknown> } }
  | { readonly op: 'instance.attach-volume'; readonly params: { readonly instanceId: string; readonly volume: VolumePlug } }
  | { readonly op: 'instance.detach-volume'; readonly params: { readonly instanceId: string; readonly volumeId: string; readonly force?: boolean } }
  // NitroTPM: the EK public key (GetInstanceTpmEkPub), base64 DER SubjectPublicKeyInfo or TPMT_PUBLIC.
  | { readonly op: 'instance.tpm-ekpub'; readonly params: { readonly instanceId: string; readonly keyType: 'rsa' | 'ecc-sec-p384'; readonly keyFormat: 'der' | 'tpmt' } };

export type HypervisorRequest = { readonly v: 1; readonly id: number } & HypervisorOp;

export type HypervisorReply = ReplyMessage;

export type HypervisorEvent =
  | { readonly v: 1; readonly event: 'instance.state'; readonly instanceId: string; readonly state: InstanceRunState; readonly reason?: string }
  | { readonly v: 1; readonly event: 'instance.ready'; readonly instanceId: string; readonly readyAt: string }
  /** Sent before a QMP command is refused: the controller appends it to the host audit log. */
  | { readonly v: 1; readonly event: 'audit'; readonly record: Record<string, unknown> };

/** Console output result, as EC2's GetConsoleOutput wants it: base64 of up to the last 64 KiB. */
export interface ConsoleOutput {
  readonly instanceId: string;
  readonly output: string; // base64
  readonly timestamp: string; // ISO time of the last byte written
}

/** Result of host.info. */
export interface HostInfo {
  readonly protocolVersion: number;
  readonly pid: number;
  /** undefined until decided (a KVM smoke boot runs at the first start where KVM might work). */
  readonly accel: 'kvm' | 'tcg' | undefined;
  readonly accelReason: string;
  readonly qemuVersion: string | undefined;
  /** The unprivileged user QEMU runs as, or undefined when it runs as the hypervisor's own user. */
  readonly qemuUser: string | undefined;
  readonly instances: number;
  readonly running: number;
}

/** What each operation answers with (the `result` of an ok reply). */
export interface HypervisorResults {
  'host.info': HostInfo;
  'instance.list': InstanceInfo[];
  'instance.start': InstanceInfo;
  'image.digest': ImageDigests;
  'instance.stop': InstanceInfo;
  'instance.reboot': InstanceInfo;
  'instance.terminate': InstanceInfo;
  'instance.describe': InstanceInfo;
  'instance.console': ConsoleOutput;
  'instance.qmp': unknown;
  'instance.attach-volume': { instanceId: string; volumeId: string; device: string; plugged: boolean };
  'instance.detach-volume': { instanceId: string; volumeId: string; detached: boolean };
  'instance.tpm-ekpub': { instanceId: string; keyType: string; keyFormat: string; keyValue: string };
}

/** The contract the controller's client and the hypervisor's server share: params and result per operation. */
export type HypervisorContract = { readonly [O in HypervisorOp['op']]: Operation<Extract<HypervisorOp, { op: O }>['params'], HypervisorResults[O]> };
