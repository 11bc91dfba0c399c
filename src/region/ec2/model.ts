// The region's records for EC2 resources, as kept in the state store. They hold what
// EC2 reports plus what the region needs to drive hosts (desired state, host, launch
// generation). API responses are built from them by the handlers.

import type { InstanceStateName } from '../protocol/ec2/responses/index.js';
import { Ec2Error } from '../protocol/errors.js';
import type { SealedSecret } from '../../iam/root-key.js';

export type { InstanceStateName };
export { INSTANCE_STATE_CODES as STATE_CODES } from '../protocol/ec2/responses/index.js';

export type DesiredState = 'running' | 'stopped' | 'terminated';

export interface StateReason {
  readonly code: string;
  readonly message: string;
}

export interface InstanceRecord {
  readonly id: string; // i-…
  readonly reservationId: string;
  readonly accountId: string;
  readonly requesterPrincipal: string;
  readonly imageId: string;
  readonly instanceType: string;
  readonly amiLaunchIndex: number;
  readonly clientToken: string | undefined;
  readonly state: InstanceStateName;
  readonly desired: DesiredState;
  readonly stateReason: StateReason | undefined;
  readonly stateTransitionReason: string;
  readonly launchTime: string; // ISO: the latest start
  readonly createdAt: string;
  readonly stateChangedAt: string;
  readonly terminatedAt: string | undefined;
  readonly userData: string | undefined; // base64, as given
  readonly tags: Readonly<Record<string, string>>;
  readonly hostId: string | undefined;
  readonly availabilityZone: string;
  /** Incremented on every launch; part of the idempotent command ids sent to hosts. */
  readonly generation: number;
  /** Set when the guest printed its ready marker in the current launch. */
  readonly readyAt: string | undefined;
  readonly accel: string | undefined;
  readonly subnetId: string | undefined;
  readonly securityGroupIds: readonly string[];
  readonly privateIpAddress: string | undefined;
  readonly keyName: string | undefined;
  /** The key pair's OpenSSH public key line at launch: IMDS serves it even after the pair is deleted. */
  readonly publicKey?: string;
  readonly metadataOptions: { readonly httpTokens: 'optional' | 'required'; readonly httpPutResponseHopLimit: number; readonly httpEndpoint: 'enabled' | 'disabled' };
  /** StopInstances --force: skip the ACPI shutdown and stop at once. */
  readonly forceStop: boolean;
  /** Pending reboot request generation (a reboot is a command, not a state). */
  readonly rebootRequested: number;
  /**
   * NitroTPM (image TpmSupport=v2.0): the instance's 32-byte vTPM state key, sealed with the
   * region root key (src/region/ec2/instances.ts). Sent with every instance.start; dropped at
   * terminate, when the host destroys the state it protected.
   */
  readonly vtpm?: { readonly sealedKey: SealedSecret };
  /**
   * An EBS-backed instance (src/region/ec2/root-volumes.ts): the root volume made at launch, the
   * root device name, the firmware, and the other EBS devices of its launch (IMDS
   * block-device-mapping/ebsN). The root volume at a start is the volume attached at deviceName
   * then (RootVolumes.rootVolumeOf): DetachVolume / AttachVolume may replace it while stopped.
   */
  readonly rootDevice?: { readonly volumeId: string; readonly deviceName: string; readonly firmware: 'legacy-bios' | 'uefi'; readonly ebsDevices: readonly string[] };
  /**
   * The attributes RunInstances, a launch template and ModifyInstanceAttribute set
   * (src/region/ec2/instance-attributes.ts); absent in records written before them, and each
   * absent member has EC2's default (INSTANCE_ATTRIBUTE_DEFAULTS).
   */
  readonly attributes?: Partial<InstanceAttributes>;
}

/** An instance's protection flags, what a guest poweroff does, and the flags EC2 reports. */
export interface InstanceAttributes {
  /** TerminateInstances is refused (OperationNotPermitted) while set. */
  readonly disableApiTermination: boolean;
  /** StopInstances is refused (OperationNotPermitted) while set. */
  readonly disableApiStop: boolean;
  /** What the region does when the guest powers itself off. */
  readonly instanceInitiatedShutdownBehavior: 'stop' | 'terminate';
  readonly ebsOptimized: boolean;
  readonly enaSupport: boolean;
}

export const INSTANCE_ATTRIBUTE_DEFAULTS: InstanceAttributes = { disableApiTermination: false, disableApiStop: false, instanceInitiatedShutdownBehavior: 'stop', ebsOptimized: false, enaSupport: false };

/** An instance's attributes, each absent one at its default. */
export const attributesOf = (r: InstanceRecord): InstanceAttributes => ({ ...INSTANCE_ATTRIBUTE_DEFAULTS, ...r.attributes });

export interface ImageRecord {
  readonly id: string; // ami-…
  readonly name: string;
  readonly description: string;
  readonly ownerId: string;
  readonly public: boolean;
  readonly state: 'available' | 'pending' | 'failed' | 'deregistered';
  readonly creationDate: string;
  readonly architecture: 'x86_64';
  /** A kernel + initramfs image (rootDeviceType instance-store, e.g. nitride-minimal); absent for an EBS-backed image. */
  readonly kernel?: { readonly path: string; readonly sha256: string };
  readonly initrd?: { readonly path: string; readonly sha256: string };
  readonly cmdline: string;
  readonly tpmSupport: 'v2.0' | undefined;
  readonly bootMode: 'legacy-bios' | 'uefi' | undefined;
  readonly tags: Readonly<Record<string, string>>;
  /** 'ebs': the image is its root snapshot plus mappings. Absent in records written before EBS images: instance-store. */
  readonly rootDeviceType?: 'ebs' | 'instance-store';
  readonly rootDeviceName?: string | undefined;
  readonly blockDeviceMappings?: readonly ImageBlockDeviceMapping[];
  readonly enaSupport?: boolean;
}

/** One mapping of an image, as RegisterImage / CreateImage / CopyImage record it (the EC2 shape). */
export interface ImageBlockDeviceMapping {
  readonly deviceName: string;
  readonly ebs?: {
    readonly snapshotId: string | undefined;
    readonly volumeSize: number; // GiB
    readonly volumeType: string;
    readonly deleteOnTermination: boolean;
    readonly encrypted: boolean;
    readonly kmsKeyId?: string | undefined;
    readonly iops?: number | undefined;
    readonly throughput?: number | undefined;
  };
  readonly virtualName?: string | undefined;
  readonly noDevice?: boolean | undefined;
}

export interface HostRecord {
  readonly id: string; // h-…
  readonly address: string;
  readonly port: number;
  readonly availabilityZone: string;
  readonly memoryMiB: number;
  readonly vcpus: number;
  readonly enrolledAt: string;
  readonly certFingerprint: string;
}

export const REGION_NAME = 'local-1';
export const DEFAULT_AZ = 'local-1a';
export const AVAILABILITY_ZONES = ['local-1a'] as const;
/** A zone's id, as DescribeAvailabilityZones and DescribeInstanceTypeOfferings name it. */
export const zoneIdOf = (zone: string): string => `local1-az${AVAILABILITY_ZONES.indexOf(zone as (typeof AVAILABILITY_ZONES)[number]) + 1}`;

/** EC2's answer to an availability zone this region does not have. */
export function checkAvailabilityZone(az: string | undefined, given = az ?? ''): string {
  if (az === undefined || !(AVAILABILITY_ZONES as readonly string[]).includes(az)) {
    throw new Ec2Error('InvalidParameterValue', `Invalid availability zone: [${given}]`, { context: { availabilityZone: given } });
  }
  return az;
}
/** Terminated instances stay visible for an hour, as in EC2. */
export const TERMINATED_VISIBLE_MS = 60 * 60 * 1000;
