// EC2 Query responses: typed results in, the XML EC2 answers with out.
//
//   renderEc2Response(requestId, response) → '<?xml …?><DescribeInstancesResponse xmlns="…">…'
//   renderEc2Error(requestId, code, message) → { status, body }   (EC2's <Response><Errors>… body)
//
// Element names are the locationNames of botocore's ec2/2016-11-15 model: every list is a
// <xxxSet> (or the model's name) of <item> children; absent optional members are omitted;
// timestamps are ISO 8601 with milliseconds (what EC2 sends and SDKs parse).

import { ec2HttpStatus, type Ec2Error } from './errors.js';
import { XmlWriter } from './xml.js';
import type { Ec2Action, VolumeType } from './ec2-requests.js';

export const EC2_XMLNS = 'http://ec2.amazonaws.com/doc/2016-11-15/';

// ---------------------------------------------------------------- response objects

export type InstanceStateName = 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';

/** EC2's state codes (the low byte of InstanceState.Code). */
export const INSTANCE_STATE_CODES: Readonly<Record<InstanceStateName, number>> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

export interface InstanceState {
  readonly code: number;
  readonly name: InstanceStateName;
}

export function instanceState(name: InstanceStateName): InstanceState {
  return { code: INSTANCE_STATE_CODES[name], name };
}

export interface StateReason {
  readonly code: string;
  readonly message: string;
}

export interface TagItem {
  readonly key: string;
  readonly value: string;
}

export interface GroupIdentifier {
  readonly groupId: string;
  readonly groupName: string;
}

export interface Placement {
  readonly availabilityZone: string;
  readonly tenancy: 'default' | 'dedicated' | 'host';
  readonly groupName?: string | undefined;
}

export interface InstanceMetadataOptions {
  readonly state: 'pending' | 'applied';
  readonly httpTokens: 'optional' | 'required';
  readonly httpPutResponseHopLimit: number;
  readonly httpEndpoint: 'enabled' | 'disabled';
  readonly httpProtocolIpv6: 'enabled' | 'disabled';
  readonly instanceMetadataTags: 'enabled' | 'disabled';
}

export interface InstanceBlockDeviceMapping {
  readonly deviceName: string;
  readonly ebs: {
    readonly volumeId: string;
    readonly status: 'attaching' | 'attached' | 'detaching' | 'detached';
    readonly attachTime: Date;
    readonly deleteOnTermination: boolean;
  };
}

export interface Ec2Instance {
  readonly instanceId: string;
  readonly imageId: string;
  readonly state: InstanceState;
  readonly privateDnsName: string;
  /** Public DNS name; '' when none (EC2 sends an empty <dnsName/>). */
  readonly dnsName: string;
  /** StateTransitionReason, e.g. 'User initiated (2024-01-01 00:00:00 GMT)'; '' when none. */
  readonly reason: string;
  readonly keyName?: string | undefined;
  readonly amiLaunchIndex: number;
  readonly instanceType: string;
  readonly launchTime: Date;
  readonly placement: Placement;
  readonly kernelId?: string | undefined;
  readonly ramdiskId?: string | undefined;
  readonly monitoring: { readonly state: 'disabled' | 'disabling' | 'enabled' | 'pending' };
  readonly subnetId?: string | undefined;
  readonly vpcId?: string | undefined;
  readonly privateIpAddress?: string | undefined;
  readonly ipAddress?: string | undefined;
  readonly sourceDestCheck?: boolean | undefined;
  readonly securityGroups: readonly GroupIdentifier[];
  readonly stateReason?: StateReason | undefined;
  readonly architecture: 'i386' | 'x86_64' | 'arm64';
  readonly rootDeviceType: 'ebs' | 'instance-store';
  readonly rootDeviceName?: string | undefined;
  readonly blockDeviceMappings: readonly InstanceBlockDeviceMapping[];
  readonly virtualizationType: 'hvm' | 'paravirtual';
  readonly clientToken?: string | undefined;
  readonly tags: readonly TagItem[];
  readonly hypervisor: 'xen' | 'ovm';
  readonly ebsOptimized: boolean;
  readonly enaSupport?: boolean | undefined;
  readonly metadataOptions: InstanceMetadataOptions;
  readonly bootMode?: 'legacy-bios' | 'uefi' | 'uefi-preferred' | undefined;
  readonly currentInstanceBootMode?: 'legacy-bios' | 'uefi' | undefined;
  readonly tpmSupport?: string | undefined;
  readonly platformDetails?: string | undefined;
  /** The instance's ENIs (networkInterfaceSet); absent or [] renders an empty set. */
  readonly networkInterfaces?: readonly InstanceNetworkInterface[] | undefined;
}

export interface Reservation {
  readonly reservationId: string;
  readonly ownerId: string;
  readonly requesterId?: string | undefined;
  readonly groups: readonly GroupIdentifier[];
  readonly instances: readonly Ec2Instance[];
}

export interface InstanceStateChange {
  readonly instanceId: string;
  readonly currentState: InstanceState;
  readonly previousState: InstanceState;
}

export type SummaryStatus = 'ok' | 'impaired' | 'insufficient-data' | 'not-applicable' | 'initializing';

export interface InstanceStatusSummary {
  readonly status: SummaryStatus;
  readonly details: readonly { readonly name: 'reachability'; readonly status: 'passed' | 'failed' | 'insufficient-data' | 'initializing'; readonly impairedSince?: Date | undefined }[];
}

export interface InstanceStatus {
  readonly instanceId: string;
  readonly availabilityZone: string;
  readonly instanceState: InstanceState;
  readonly instanceStatus: InstanceStatusSummary;
  readonly systemStatus: InstanceStatusSummary;
}

export interface Image {
  readonly imageId: string;
  readonly imageLocation: string;
  readonly imageState: 'pending' | 'available' | 'invalid' | 'deregistered' | 'transient' | 'failed' | 'error' | 'disabled';
  readonly imageOwnerId: string;
  readonly imageOwnerAlias?: string | undefined;
  readonly creationDate: Date;
  readonly isPublic: boolean;
  readonly architecture: 'i386' | 'x86_64' | 'arm64';
  readonly imageType: 'machine' | 'kernel' | 'ramdisk';
  readonly kernelId?: string | undefined;
  readonly ramdiskId?: string | undefined;
  readonly name: string;
  readonly description?: string | undefined;
  readonly rootDeviceType: 'ebs' | 'instance-store';
  readonly rootDeviceName?: string | undefined;
  readonly blockDeviceMappings: readonly {
    readonly deviceName: string;
    readonly ebs?:
      | {
          readonly snapshotId?: string | undefined;
          readonly volumeSize?: number | undefined;
          readonly volumeType?: string | undefined;
          readonly deleteOnTermination?: boolean | undefined;
          readonly encrypted?: boolean | undefined;
          readonly kmsKeyId?: string | undefined;
          readonly iops?: number | undefined;
          readonly throughput?: number | undefined;
        }
      | undefined;
    readonly virtualName?: string | undefined;
    readonly noDevice?: boolean | undefined;
  }[];
  readonly virtualizationType: 'hvm' | 'paravirtual';
  readonly hypervisor: 'xen' | 'ovm';
  readonly enaSupport?: boolean | undefined;
  readonly bootMode?: 'legacy-bios' | 'uefi' | 'uefi-preferred' | undefined;
  readonly tpmSupport?: string | undefined;
  readonly platformDetails?: string | undefined;
  readonly usageOperation?: string | undefined;
  readonly tags: readonly TagItem[];
  readonly stateReason?: StateReason | undefined;
}

export interface InstanceTypeInfo {
  readonly instanceType: string;
  readonly currentGeneration: boolean;
  readonly freeTierEligible: boolean;
  readonly supportedUsageClasses: readonly string[];
  readonly supportedRootDeviceTypes: readonly string[];
  readonly supportedVirtualizationTypes: readonly string[];
  readonly bareMetal: boolean;
  readonly hypervisor: 'nitro' | 'xen';
  readonly supportedArchitectures: readonly string[];
  readonly sustainedClockSpeedInGhz?: number | undefined;
  readonly defaultVCpus: number;
  readonly defaultCores?: number | undefined;
  readonly defaultThreadsPerCore?: number | undefined;
  readonly memorySizeInMiB: number;
  readonly instanceStorageSupported: boolean;
  /** Present when instanceStorageSupported. */
  readonly instanceStorageTotalSizeInGB?: number | undefined;
  readonly ebsOptimizedSupport: 'unsupported' | 'supported' | 'default';
  readonly ebsEncryptionSupport: 'unsupported' | 'supported';
  readonly ebsNvmeSupport: 'unsupported' | 'supported' | 'required';
  readonly networkPerformance: string;
  readonly maximumNetworkInterfaces: number;
  readonly ipv4AddressesPerInterface: number;
  readonly ipv6AddressesPerInterface: number;
  readonly ipv6Supported: boolean;
  readonly enaSupport: 'unsupported' | 'supported' | 'required';
  readonly hibernationSupported: boolean;
  readonly burstablePerformanceSupported: boolean;
  readonly dedicatedHostsSupported: boolean;
  readonly autoRecoverySupported: boolean;
  readonly supportedBootModes: readonly string[];
  readonly nitroEnclavesSupport?: 'unsupported' | 'supported' | undefined;
  readonly nitroTpmSupport?: 'unsupported' | 'supported' | undefined;
  readonly nitroTpmSupportedVersions?: readonly string[] | undefined;
}

export interface TagDescription {
  readonly resourceId: string;
  readonly resourceType: string;
  readonly key: string;
  readonly value: string;
}

export interface Region {
  readonly regionName: string;
  readonly regionEndpoint: string;
  readonly optInStatus: 'opt-in-not-required' | 'opted-in' | 'not-opted-in';
}

export interface AvailabilityZone {
  readonly zoneName: string;
  readonly zoneId: string;
  readonly zoneState: 'available' | 'information' | 'impaired' | 'unavailable' | 'constrained';
  readonly regionName: string;
  readonly groupName: string;
  readonly networkBorderGroup: string;
  readonly optInStatus: 'opt-in-not-required' | 'opted-in' | 'not-opted-in';
  readonly zoneType: 'availability-zone' | 'local-zone' | 'wavelength-zone';
  readonly messages: readonly string[];
}

// ---------------------------------------------------------------- EBS response objects

export type VolumeState = 'creating' | 'available' | 'in-use' | 'deleting' | 'deleted' | 'error';
export type VolumeAttachmentState = 'attaching' | 'attached' | 'detaching' | 'detached' | 'busy';

export interface VolumeAttachment {
  readonly volumeId: string;
  readonly instanceId: string;
  readonly device: string;
  readonly state: VolumeAttachmentState;
  readonly attachTime: Date;
  readonly deleteOnTermination: boolean;
}

export interface Volume {
  readonly volumeId: string;
  /** GiB */
  readonly size: number;
  /** The source snapshot; EC2 sends an empty <snapshotId/> when there is none. */
  readonly snapshotId?: string | undefined;
  readonly availabilityZone: string;
  readonly availabilityZoneId?: string | undefined;
  readonly state: VolumeState;
  readonly createTime: Date;
  readonly attachments: readonly VolumeAttachment[];
  readonly volumeType: VolumeType;
  readonly iops?: number | undefined;
  readonly throughput?: number | undefined;
  readonly encrypted: boolean;
  /** The KMS key ARN, when encrypted. */
  readonly kmsKeyId?: string | undefined;
  readonly multiAttachEnabled: boolean;
  readonly tags: readonly TagItem[];
}

export interface VolumeModification {
  readonly volumeId: string;
  readonly modificationState: 'modifying' | 'optimizing' | 'completed' | 'failed';
  readonly statusMessage?: string | undefined;
  readonly targetSize: number;
  readonly targetIops?: number | undefined;
  readonly targetVolumeType: VolumeType;
  readonly targetThroughput?: number | undefined;
  readonly targetMultiAttachEnabled?: boolean | undefined;
  readonly originalSize: number;
  readonly originalIops?: number | undefined;
  readonly originalVolumeType: VolumeType;
  readonly originalThroughput?: number | undefined;
  readonly originalMultiAttachEnabled?: boolean | undefined;
  /** 0–100 */
  readonly progress: number;
  readonly startTime: Date;
  readonly endTime?: Date | undefined;
}

export type SnapshotState = 'pending' | 'completed' | 'error' | 'recoverable' | 'recovering';

export interface Snapshot {
  readonly snapshotId: string;
  /** The source volume (EC2 shows vol-ffffffff for a copied snapshot). */
  readonly volumeId: string;
  readonly state: SnapshotState;
  readonly stateMessage?: string | undefined;
  readonly startTime: Date;
  /** e.g. '100%' (a string on the wire). */
  readonly progress: string;
  readonly ownerId: string;
  readonly ownerAlias?: string | undefined;
  /** EC2 sends an empty <description/> when there is none. */
  readonly description: string;
  readonly volumeSize: number;
  readonly encrypted: boolean;
  readonly kmsKeyId?: string | undefined;
  readonly storageTier?: 'archive' | 'standard' | undefined;
  readonly completionTime?: Date | undefined;
  readonly tags: readonly TagItem[];
}

// ---------------------------------------------------------------- VPC response objects

export interface Vpc {
  readonly vpcId: string;
  readonly state: 'pending' | 'available';
  readonly cidrBlock: string;
  readonly dhcpOptionsId: string;
  readonly instanceTenancy: 'default' | 'dedicated' | 'host';
  readonly isDefault: boolean;
  readonly ownerId: string;
  /** The primary block's association (vpc-cidr-assoc-…) and any secondary ones. */
  readonly cidrBlockAssociations: readonly {
    readonly associationId: string;
    readonly cidrBlock: string;
    readonly state: 'associating' | 'associated' | 'disassociating' | 'disassociated' | 'failing' | 'failed';
  }[];
  readonly tags: readonly TagItem[];
}

export interface Subnet {
  readonly subnetId: string;
  readonly state: 'pending' | 'available' | 'unavailable' | 'failed' | 'failed-insufficient-capacity';
  readonly vpcId: string;
  readonly cidrBlock: string;
  readonly availableIpAddressCount: number;
  readonly availabilityZone: string;
  readonly availabilityZoneId: string;
  readonly defaultForAz: boolean;
  readonly mapPublicIpOnLaunch: boolean;
  readonly ownerId: string;
  /** arn:aws:ec2:<region>:<account>:subnet/<id> */
  readonly subnetArn: string;
  readonly tags: readonly TagItem[];
}

/** A security group named in a rule (response side: EC2 fills userId and groupId). */
export interface UserIdGroupPair {
  readonly userId: string;
  readonly groupId: string;
  readonly groupName?: string | undefined;
  readonly vpcId?: string | undefined;
  readonly description?: string | undefined;
}

export interface IpPermission {
  /** 'tcp' | 'udp' | 'icmp' | 'icmpv6' | '-1' or a protocol number, as EC2 shows it. */
  readonly ipProtocol: string;
  /** Absent for '-1' (all traffic). */
  readonly fromPort?: number | undefined;
  readonly toPort?: number | undefined;
  readonly userIdGroupPairs: readonly UserIdGroupPair[];
  readonly ipRanges: readonly { readonly cidrIp: string; readonly description?: string | undefined }[];
  readonly ipv6Ranges: readonly { readonly cidrIpv6: string; readonly description?: string | undefined }[];
  readonly prefixListIds: readonly { readonly prefixListId: string; readonly description?: string | undefined }[];
}

export interface SecurityGroup {
  readonly groupId: string;
  readonly groupName: string;
  /** Wire name groupDescription. */
  readonly description: string;
  readonly ownerId: string;
  readonly vpcId?: string | undefined;
  readonly ipPermissions: readonly IpPermission[];
  readonly ipPermissionsEgress: readonly IpPermission[];
  readonly securityGroupArn?: string | undefined;
  readonly tags: readonly TagItem[];
}

/** One rule as Authorize* answers it (securityGroupRuleSet). */
export interface SecurityGroupRule {
  readonly securityGroupRuleId: string;
  readonly groupId: string;
  readonly groupOwnerId: string;
  readonly isEgress: boolean;
  readonly ipProtocol: string;
  /** -1 when the protocol has no ports. */
  readonly fromPort: number;
  readonly toPort: number;
  readonly cidrIpv4?: string | undefined;
  readonly cidrIpv6?: string | undefined;
  readonly prefixListId?: string | undefined;
  readonly referencedGroupInfo?: { readonly groupId: string; readonly userId: string; readonly vpcId?: string | undefined } | undefined;
  readonly description?: string | undefined;
  readonly tags: readonly TagItem[];
}

export type NetworkInterfaceStatus = 'available' | 'associated' | 'attaching' | 'in-use' | 'detaching';

export interface NetworkInterfacePrivateIp {
  readonly privateIpAddress: string;
  readonly privateDnsName?: string | undefined;
  readonly primary: boolean;
}

export interface NetworkInterface {
  readonly networkInterfaceId: string;
  readonly subnetId: string;
  readonly vpcId: string;
  readonly availabilityZone: string;
  readonly availabilityZoneId?: string | undefined;
  /** EC2 sends an empty <description/> when there is none. */
  readonly description: string;
  readonly ownerId: string;
  readonly requesterId?: string | undefined;
  readonly requesterManaged: boolean;
  readonly status: NetworkInterfaceStatus;
  /** aa:bb:cc:dd:ee:ff */
  readonly macAddress: string;
  readonly privateIpAddress: string;
  readonly privateDnsName?: string | undefined;
  readonly sourceDestCheck: boolean;
  readonly groups: readonly GroupIdentifier[];
  readonly attachment?:
    | {
        readonly attachmentId: string;
        readonly instanceId: string;
        readonly instanceOwnerId: string;
        readonly deviceIndex: number;
        readonly networkCardIndex?: number | undefined;
        readonly status: 'attaching' | 'attached' | 'detaching' | 'detached';
        readonly attachTime: Date;
        readonly deleteOnTermination: boolean;
      }
    | undefined;
  readonly privateIpAddresses: readonly NetworkInterfacePrivateIp[];
  readonly interfaceType: 'interface' | 'efa' | 'trunk';
  readonly tags: readonly TagItem[];
}

/** An instance's ENI as DescribeInstances shows it (networkInterfaceSet of the instance). */
export interface InstanceNetworkInterface {
  readonly networkInterfaceId: string;
  readonly subnetId: string;
  readonly vpcId: string;
  readonly description: string;
  readonly ownerId: string;
  readonly status: NetworkInterfaceStatus;
  readonly macAddress: string;
  readonly privateIpAddress: string;
  readonly privateDnsName?: string | undefined;
  readonly sourceDestCheck: boolean;
  readonly groups: readonly GroupIdentifier[];
  readonly attachment: {
    readonly attachmentId: string;
    readonly deviceIndex: number;
    readonly networkCardIndex?: number | undefined;
    readonly status: 'attaching' | 'attached' | 'detaching' | 'detached';
    readonly attachTime: Date;
    readonly deleteOnTermination: boolean;
  };
  readonly privateIpAddresses: readonly NetworkInterfacePrivateIp[];
  readonly interfaceType: 'interface' | 'efa' | 'trunk';
}

// ---------------------------------------------------------------- the response union

export type Ec2Response =
  | { readonly action: 'RunInstances'; readonly reservation: Reservation }
  | { readonly action: 'DescribeInstances'; readonly reservations: readonly Reservation[]; readonly nextToken?: string | undefined }
  | { readonly action: 'DescribeInstanceStatus'; readonly instanceStatuses: readonly InstanceStatus[]; readonly nextToken?: string | undefined }
  | { readonly action: 'StartInstances' | 'StopInstances' | 'TerminateInstances'; readonly instances: readonly InstanceStateChange[] }
  | { readonly action: 'RebootInstances' | 'CreateTags' | 'DeleteTags' | 'DeregisterImage' }
  | { readonly action: 'GetConsoleOutput'; readonly instanceId: string; readonly timestamp: Date; /** base64 of the console bytes */ readonly output: string }
  | {
      readonly action: 'GetInstanceTpmEkPub';
      readonly instanceId: string;
      readonly keyType: 'rsa-2048' | 'ecc-sec-p384';
      readonly keyFormat: 'der' | 'tpmt';
      /** base64: a DER SubjectPublicKeyInfo (der) or a TPMT_PUBLIC (tpmt) */
      readonly keyValue: string;
    }
  | { readonly action: 'NitrideSetHostRelease'; readonly hostId: string; readonly release: string; readonly attested: boolean }
  | {
      readonly action: 'NitrideUpdateHostComponent';
      readonly hostId: string;
      readonly component: string;
      readonly version: string;
      readonly digest: string;
      readonly previousVersion: string | undefined;
      readonly release: string;
      readonly attested: boolean;
    }
  | { readonly action: 'DescribeImages'; readonly images: readonly Image[]; readonly nextToken?: string | undefined }
  | { readonly action: 'RegisterImage'; readonly imageId: string }
  | { readonly action: 'CopyImage'; readonly imageId: string }
  | { readonly action: 'CreateImage'; readonly imageId: string }
  | { readonly action: 'DescribeInstanceTypes'; readonly instanceTypes: readonly InstanceTypeInfo[]; readonly nextToken?: string | undefined }
  | { readonly action: 'DescribeTags'; readonly tags: readonly TagDescription[]; readonly nextToken?: string | undefined }
  | { readonly action: 'DescribeRegions'; readonly regions: readonly Region[] }
  | { readonly action: 'DescribeAvailabilityZones'; readonly availabilityZones: readonly AvailabilityZone[] }
  | { readonly action: 'CreateVolume'; readonly volume: Volume }
  | { readonly action: 'DescribeVolumes'; readonly volumes: readonly Volume[]; readonly nextToken?: string | undefined }
  | { readonly action: 'AttachVolume' | 'DetachVolume'; readonly attachment: VolumeAttachment }
  | { readonly action: 'ModifyVolume'; readonly modification: VolumeModification }
  | { readonly action: 'CreateSnapshot'; readonly snapshot: Snapshot }
  | { readonly action: 'DescribeSnapshots'; readonly snapshots: readonly Snapshot[]; readonly nextToken?: string | undefined }
  | { readonly action: 'CopySnapshot'; readonly snapshotId: string; readonly tags?: readonly TagItem[] | undefined }
  | { readonly action: 'EnableEbsEncryptionByDefault' | 'DisableEbsEncryptionByDefault' | 'GetEbsEncryptionByDefault'; readonly ebsEncryptionByDefault: boolean }
  | { readonly action: 'GetEbsDefaultKmsKeyId' | 'ModifyEbsDefaultKmsKeyId' | 'ResetEbsDefaultKmsKeyId'; /** the key's ARN */ readonly kmsKeyId: string }
  | {
      readonly action:
        | 'DeleteVolume'
        | 'DeleteSnapshot'
        | 'DeleteVpc'
        | 'DeleteSubnet'
        | 'ModifyNetworkInterfaceAttribute'
        | 'ModifyInstanceAttribute';
    }
  | { readonly action: 'CreateVpc'; readonly vpc: Vpc }
  | { readonly action: 'DescribeVpcs'; readonly vpcs: readonly Vpc[]; readonly nextToken?: string | undefined }
  | { readonly action: 'CreateSubnet'; readonly subnet: Subnet }
  | { readonly action: 'DescribeSubnets'; readonly subnets: readonly Subnet[]; readonly nextToken?: string | undefined }
  | { readonly action: 'CreateSecurityGroup'; readonly groupId: string; readonly securityGroupArn?: string | undefined; readonly tags?: readonly TagItem[] | undefined }
  | { readonly action: 'DescribeSecurityGroups'; readonly securityGroups: readonly SecurityGroup[]; readonly nextToken?: string | undefined }
  | { readonly action: 'DeleteSecurityGroup'; /** the deleted group's id */ readonly groupId: string }
  | { readonly action: 'AuthorizeSecurityGroupIngress' | 'AuthorizeSecurityGroupEgress'; readonly rules: readonly SecurityGroupRule[] }
  | {
      readonly action: 'RevokeSecurityGroupIngress' | 'RevokeSecurityGroupEgress';
      /** Permissions of the request that matched no rule (EC2 still answers return=true for the rest). */
      readonly unknownIpPermissions?: readonly IpPermission[] | undefined;
    }
  | { readonly action: 'DescribeNetworkInterfaces'; readonly networkInterfaces: readonly NetworkInterface[]; readonly nextToken?: string | undefined }
  | { readonly action: 'ModifyInstanceMetadataOptions'; readonly instanceId: string; readonly metadataOptions: InstanceMetadataOptions };

// Every action's response is in the union (checked at compile time).
type _Covers = Ec2Action extends Ec2Response['action'] ? true : never;
const _covers: _Covers = true;
void _covers;

// ---------------------------------------------------------------- writers for each shape

function writeState(w: XmlWriter, name: string, s: InstanceState): void {
  w.open(name).leaf('code', s.code).leaf('name', s.name).close();
}

function writeTags(w: XmlWriter, tags: readonly TagItem[]): void {
  // EC2 omits tagSet when a resource has no tags.
  if (tags.length === 0) return;
  w.list('tagSet', tags, (x, t) => x.leaf('key', t.key).leaf('value', t.value));
}

function writeGroups(w: XmlWriter, groups: readonly GroupIdentifier[]): void {
  w.list('groupSet', groups, (x, g) => x.leaf('groupId', g.groupId).leaf('groupName', g.groupName));
}

function writeStateReason(w: XmlWriter, r: StateReason | undefined): void {
  if (r === undefined) return;
  w.open('stateReason').leaf('code', r.code).leaf('message', r.message).close();
}

function writeInstance(w: XmlWriter, i: Ec2Instance): void {
  w.leaf('instanceId', i.instanceId).leaf('imageId', i.imageId);
  writeState(w, 'instanceState', i.state);
  w.leaf('privateDnsName', i.privateDnsName).leaf('dnsName', i.dnsName).leaf('reason', i.reason);
  w.leaf('keyName', i.keyName).leaf('amiLaunchIndex', i.amiLaunchIndex);
  w.empty('productCodes');
  w.leaf('instanceType', i.instanceType).leaf('launchTime', i.launchTime);
  w.open('placement').leaf('availabilityZone', i.placement.availabilityZone).leaf('groupName', i.placement.groupName ?? '').leaf('tenancy', i.placement.tenancy).close();
  w.leaf('kernelId', i.kernelId).leaf('ramdiskId', i.ramdiskId);
  w.open('monitoring').leaf('state', i.monitoring.state).close();
  w.leaf('subnetId', i.subnetId).leaf('vpcId', i.vpcId).leaf('privateIpAddress', i.privateIpAddress).leaf('ipAddress', i.ipAddress);
  w.leaf('sourceDestCheck', i.sourceDestCheck);
  writeGroups(w, i.securityGroups);
  writeStateReason(w, i.stateReason);
  w.leaf('architecture', i.architecture).leaf('rootDeviceType', i.rootDeviceType).leaf('rootDeviceName', i.rootDeviceName);
  w.list('blockDeviceMapping', i.blockDeviceMappings, (x, b) => {
    x.leaf('deviceName', b.deviceName);
    x.open('ebs').leaf('volumeId', b.ebs.volumeId).leaf('status', b.ebs.status).leaf('attachTime', b.ebs.attachTime).leaf('deleteOnTermination', b.ebs.deleteOnTermination).close();
  });
  w.leaf('virtualizationType', i.virtualizationType).leaf('clientToken', i.clientToken ?? '');
  writeTags(w, i.tags);
  w.leaf('hypervisor', i.hypervisor);
  w.list('networkInterfaceSet', i.networkInterfaces ?? [], writeInstanceNetworkInterface);
  w.leaf('ebsOptimized', i.ebsOptimized).leaf('enaSupport', i.enaSupport);
  writeMetadataOptions(w, 'metadataOptions', i.metadataOptions);
  w.leaf('bootMode', i.bootMode).leaf('currentInstanceBootMode', i.currentInstanceBootMode).leaf('tpmSupport', i.tpmSupport).leaf('platformDetails', i.platformDetails);
}

function writeMetadataOptions(w: XmlWriter, name: string, m: InstanceMetadataOptions): void {
  w.open(name)
    .leaf('state', m.state)
    .leaf('httpTokens', m.httpTokens)
    .leaf('httpPutResponseHopLimit', m.httpPutResponseHopLimit)
    .leaf('httpEndpoint', m.httpEndpoint)
    .leaf('httpProtocolIpv6', m.httpProtocolIpv6)
    .leaf('instanceMetadataTags', m.instanceMetadataTags)
    .close();
}

function writeAttachment(w: XmlWriter, a: VolumeAttachment): void {
  w.leaf('volumeId', a.volumeId).leaf('instanceId', a.instanceId).leaf('device', a.device).leaf('status', a.state);
  w.leaf('attachTime', a.attachTime).leaf('deleteOnTermination', a.deleteOnTermination);
}

function writeVolume(w: XmlWriter, v: Volume): void {
  w.leaf('volumeId', v.volumeId).leaf('size', v.size).leaf('snapshotId', v.snapshotId ?? '');
  w.leaf('availabilityZone', v.availabilityZone).leaf('availabilityZoneId', v.availabilityZoneId);
  w.leaf('status', v.state).leaf('createTime', v.createTime);
  w.list('attachmentSet', v.attachments, writeAttachment);
  writeTags(w, v.tags);
  w.leaf('volumeType', v.volumeType).leaf('iops', v.iops).leaf('throughput', v.throughput);
  w.leaf('encrypted', v.encrypted).leaf('kmsKeyId', v.kmsKeyId).leaf('multiAttachEnabled', v.multiAttachEnabled);
}

function writeVolumeModification(w: XmlWriter, m: VolumeModification): void {
  w.open('volumeModification');
  w.leaf('volumeId', m.volumeId).leaf('modificationState', m.modificationState).leaf('statusMessage', m.statusMessage);
  w.leaf('targetSize', m.targetSize).leaf('targetIops', m.targetIops).leaf('targetVolumeType', m.targetVolumeType);
  w.leaf('targetThroughput', m.targetThroughput).leaf('targetMultiAttachEnabled', m.targetMultiAttachEnabled);
  w.leaf('originalSize', m.originalSize).leaf('originalIops', m.originalIops).leaf('originalVolumeType', m.originalVolumeType);
  w.leaf('originalThroughput', m.originalThroughput).leaf('originalMultiAttachEnabled', m.originalMultiAttachEnabled);
  w.leaf('progress', m.progress).leaf('startTime', m.startTime).leaf('endTime', m.endTime);
  w.close();
}

function writeSnapshot(w: XmlWriter, s: Snapshot): void {
  w.leaf('snapshotId', s.snapshotId).leaf('volumeId', s.volumeId).leaf('status', s.state).leaf('statusMessage', s.stateMessage);
  w.leaf('startTime', s.startTime).leaf('progress', s.progress).leaf('ownerId', s.ownerId).leaf('ownerAlias', s.ownerAlias);
  w.leaf('volumeSize', s.volumeSize).leaf('description', s.description).leaf('encrypted', s.encrypted).leaf('kmsKeyId', s.kmsKeyId);
  w.leaf('storageTier', s.storageTier).leaf('completionTime', s.completionTime);
  writeTags(w, s.tags);
}

function writeVpc(w: XmlWriter, v: Vpc): void {
  w.leaf('vpcId', v.vpcId).leaf('ownerId', v.ownerId).leaf('state', v.state).leaf('cidrBlock', v.cidrBlock);
  w.list('cidrBlockAssociationSet', v.cidrBlockAssociations, (x, a) => {
    x.leaf('cidrBlock', a.cidrBlock).leaf('associationId', a.associationId);
    x.open('cidrBlockState').leaf('state', a.state).close();
  });
  w.leaf('dhcpOptionsId', v.dhcpOptionsId);
  writeTags(w, v.tags);
  w.leaf('instanceTenancy', v.instanceTenancy).leaf('isDefault', v.isDefault);
}

function writeSubnet(w: XmlWriter, s: Subnet): void {
  w.leaf('subnetId', s.subnetId).leaf('subnetArn', s.subnetArn).leaf('state', s.state).leaf('ownerId', s.ownerId);
  w.leaf('vpcId', s.vpcId).leaf('cidrBlock', s.cidrBlock);
  w.empty('ipv6CidrBlockAssociationSet');
  w.leaf('availableIpAddressCount', s.availableIpAddressCount).leaf('availabilityZone', s.availabilityZone).leaf('availabilityZoneId', s.availabilityZoneId);
  w.leaf('defaultForAz', s.defaultForAz).leaf('mapPublicIpOnLaunch', s.mapPublicIpOnLaunch);
  // IPv6, customer-owned IPs and DNS64 are not offered: EC2's values for a subnet without them.
  w.leaf('mapCustomerOwnedIpOnLaunch', false).leaf('assignIpv6AddressOnCreation', false).leaf('enableDns64', false).leaf('ipv6Native', false);
  w.open('privateDnsNameOptionsOnLaunch')
    .leaf('hostnameType', 'ip-name')
    .leaf('enableResourceNameDnsARecord', false)
    .leaf('enableResourceNameDnsAAAARecord', false)
    .close();
  writeTags(w, s.tags);
}

function writeIpPermission(w: XmlWriter, p: IpPermission): void {
  w.leaf('ipProtocol', p.ipProtocol).leaf('fromPort', p.fromPort).leaf('toPort', p.toPort);
  w.list('groups', p.userIdGroupPairs, (x, g) => x.leaf('description', g.description).leaf('userId', g.userId).leaf('groupId', g.groupId).leaf('groupName', g.groupName).leaf('vpcId', g.vpcId));
  w.list('ipRanges', p.ipRanges, (x, r) => x.leaf('cidrIp', r.cidrIp).leaf('description', r.description));
  w.list('ipv6Ranges', p.ipv6Ranges, (x, r) => x.leaf('cidrIpv6', r.cidrIpv6).leaf('description', r.description));
  w.list('prefixListIds', p.prefixListIds, (x, r) => x.leaf('prefixListId', r.prefixListId).leaf('description', r.description));
}

function writeSecurityGroup(w: XmlWriter, g: SecurityGroup): void {
  w.leaf('ownerId', g.ownerId).leaf('groupId', g.groupId).leaf('groupName', g.groupName).leaf('groupDescription', g.description);
  w.list('ipPermissions', g.ipPermissions, writeIpPermission);
  w.list('ipPermissionsEgress', g.ipPermissionsEgress, writeIpPermission);
  w.leaf('vpcId', g.vpcId).leaf('securityGroupArn', g.securityGroupArn);
  writeTags(w, g.tags);
}

function writeSecurityGroupRule(w: XmlWriter, r: SecurityGroupRule): void {
  w.leaf('securityGroupRuleId', r.securityGroupRuleId).leaf('groupId', r.groupId).leaf('groupOwnerId', r.groupOwnerId).leaf('isEgress', r.isEgress);
  w.leaf('ipProtocol', r.ipProtocol).leaf('fromPort', r.fromPort).leaf('toPort', r.toPort);
  w.leaf('cidrIpv4', r.cidrIpv4).leaf('cidrIpv6', r.cidrIpv6).leaf('prefixListId', r.prefixListId);
  if (r.referencedGroupInfo !== undefined) {
    w.open('referencedGroupInfo').leaf('groupId', r.referencedGroupInfo.groupId).leaf('userId', r.referencedGroupInfo.userId).leaf('vpcId', r.referencedGroupInfo.vpcId).close();
  }
  w.leaf('description', r.description);
  writeTags(w, r.tags);
}

function writePrivateIps(w: XmlWriter, ips: readonly NetworkInterfacePrivateIp[]): void {
  w.list('privateIpAddressesSet', ips, (x, p) => x.leaf('privateIpAddress', p.privateIpAddress).leaf('privateDnsName', p.privateDnsName).leaf('primary', p.primary));
}

function writeNetworkInterface(w: XmlWriter, n: NetworkInterface): void {
  w.leaf('networkInterfaceId', n.networkInterfaceId).leaf('subnetId', n.subnetId).leaf('vpcId', n.vpcId);
  w.leaf('availabilityZone', n.availabilityZone).leaf('availabilityZoneId', n.availabilityZoneId).leaf('description', n.description);
  w.leaf('ownerId', n.ownerId).leaf('requesterId', n.requesterId).leaf('requesterManaged', n.requesterManaged);
  w.leaf('status', n.status).leaf('macAddress', n.macAddress).leaf('privateIpAddress', n.privateIpAddress).leaf('privateDnsName', n.privateDnsName);
  w.leaf('sourceDestCheck', n.sourceDestCheck);
  writeGroups(w, n.groups);
  const a = n.attachment;
  if (a !== undefined) {
    w.open('attachment')
      .leaf('attachmentId', a.attachmentId)
      .leaf('instanceId', a.instanceId)
      .leaf('instanceOwnerId', a.instanceOwnerId)
      .leaf('deviceIndex', a.deviceIndex)
      .leaf('networkCardIndex', a.networkCardIndex)
      .leaf('status', a.status)
      .leaf('attachTime', a.attachTime)
      .leaf('deleteOnTermination', a.deleteOnTermination)
      .close();
  }
  // EC2 sends tagSet for network interfaces even when empty.
  w.list('tagSet', n.tags, (x, t) => x.leaf('key', t.key).leaf('value', t.value));
  writePrivateIps(w, n.privateIpAddresses);
  w.empty('ipv6AddressesSet');
  w.leaf('interfaceType', n.interfaceType);
}

function writeInstanceNetworkInterface(w: XmlWriter, n: InstanceNetworkInterface): void {
  w.leaf('networkInterfaceId', n.networkInterfaceId).leaf('subnetId', n.subnetId).leaf('vpcId', n.vpcId).leaf('description', n.description);
  w.leaf('ownerId', n.ownerId).leaf('status', n.status).leaf('macAddress', n.macAddress);
  w.leaf('privateIpAddress', n.privateIpAddress).leaf('privateDnsName', n.privateDnsName).leaf('sourceDestCheck', n.sourceDestCheck);
  writeGroups(w, n.groups);
  const a = n.attachment;
  w.open('attachment')
    .leaf('attachmentId', a.attachmentId)
    .leaf('deviceIndex', a.deviceIndex)
    .leaf('networkCardIndex', a.networkCardIndex)
    .leaf('status', a.status)
    .leaf('attachTime', a.attachTime)
    .leaf('deleteOnTermination', a.deleteOnTermination)
    .close();
  writePrivateIps(w, n.privateIpAddresses);
  w.empty('ipv6AddressesSet');
  w.leaf('interfaceType', n.interfaceType);
}

function writeReservation(w: XmlWriter, r: Reservation): void {
  w.leaf('reservationId', r.reservationId).leaf('ownerId', r.ownerId).leaf('requesterId', r.requesterId);
  writeGroups(w, r.groups);
  w.list('instancesSet', r.instances, writeInstance);
}

function writeStateChanges(w: XmlWriter, changes: readonly InstanceStateChange[]): void {
  w.list('instancesSet', changes, (x, c) => {
    x.leaf('instanceId', c.instanceId);
    writeState(x, 'currentState', c.currentState);
    writeState(x, 'previousState', c.previousState);
  });
}

function writeStatusSummary(w: XmlWriter, name: string, s: InstanceStatusSummary): void {
  w.open(name).leaf('status', s.status);
  w.list('details', s.details, (x, d) => x.leaf('name', d.name).leaf('status', d.status).leaf('impairedSince', d.impairedSince));
  w.close();
}

function writeImage(w: XmlWriter, i: Image): void {
  w.leaf('imageId', i.imageId).leaf('imageLocation', i.imageLocation).leaf('imageState', i.imageState);
  w.leaf('imageOwnerId', i.imageOwnerId).leaf('creationDate', i.creationDate).leaf('isPublic', i.isPublic);
  w.leaf('architecture', i.architecture).leaf('imageType', i.imageType).leaf('kernelId', i.kernelId).leaf('ramdiskId', i.ramdiskId);
  w.leaf('platformDetails', i.platformDetails).leaf('usageOperation', i.usageOperation);
  w.leaf('imageOwnerAlias', i.imageOwnerAlias).leaf('name', i.name).leaf('description', i.description);
  w.leaf('rootDeviceType', i.rootDeviceType).leaf('rootDeviceName', i.rootDeviceName);
  w.list('blockDeviceMapping', i.blockDeviceMappings, (x, b) => {
    x.leaf('deviceName', b.deviceName).leaf('virtualName', b.virtualName);
    if (b.ebs !== undefined) {
      x.open('ebs')
        .leaf('snapshotId', b.ebs.snapshotId)
        .leaf('volumeSize', b.ebs.volumeSize)
        .leaf('deleteOnTermination', b.ebs.deleteOnTermination)
        .leaf('volumeType', b.ebs.volumeType)
        .leaf('iops', b.ebs.iops)
        .leaf('encrypted', b.ebs.encrypted)
        .leaf('kmsKeyId', b.ebs.kmsKeyId)
        .leaf('throughput', b.ebs.throughput)
        .close();
    }
    if (b.noDevice === true) x.leaf('noDevice', '');
  });
  w.leaf('virtualizationType', i.virtualizationType).leaf('hypervisor', i.hypervisor).leaf('enaSupport', i.enaSupport);
  w.leaf('bootMode', i.bootMode).leaf('tpmSupport', i.tpmSupport);
  writeStateReason(w, i.stateReason);
  writeTags(w, i.tags);
}

function writeValueList(w: XmlWriter, name: string, values: readonly string[]): void {
  w.list(name, values, (x, v) => x.text(v));
}

function writeInstanceType(w: XmlWriter, t: InstanceTypeInfo): void {
  w.leaf('instanceType', t.instanceType).leaf('currentGeneration', t.currentGeneration).leaf('freeTierEligible', t.freeTierEligible);
  writeValueList(w, 'supportedUsageClasses', t.supportedUsageClasses);
  writeValueList(w, 'supportedRootDeviceTypes', t.supportedRootDeviceTypes);
  writeValueList(w, 'supportedVirtualizationTypes', t.supportedVirtualizationTypes);
  w.leaf('bareMetal', t.bareMetal).leaf('hypervisor', t.hypervisor);
  w.open('processorInfo');
  writeValueList(w, 'supportedArchitectures', t.supportedArchitectures);
  w.leaf('sustainedClockSpeedInGhz', t.sustainedClockSpeedInGhz).close();
  w.open('vCpuInfo').leaf('defaultVCpus', t.defaultVCpus).leaf('defaultCores', t.defaultCores).leaf('defaultThreadsPerCore', t.defaultThreadsPerCore).close();
  w.open('memoryInfo').leaf('sizeInMiB', t.memorySizeInMiB).close();
  w.leaf('instanceStorageSupported', t.instanceStorageSupported);
  if (t.instanceStorageTotalSizeInGB !== undefined) w.open('instanceStorageInfo').leaf('totalSizeInGB', t.instanceStorageTotalSizeInGB).leaf('nvmeSupport', 'required').close();
  w.open('ebsInfo').leaf('ebsOptimizedSupport', t.ebsOptimizedSupport).leaf('encryptionSupport', t.ebsEncryptionSupport).leaf('nvmeSupport', t.ebsNvmeSupport).close();
  w.open('networkInfo')
    .leaf('networkPerformance', t.networkPerformance)
    .leaf('maximumNetworkInterfaces', t.maximumNetworkInterfaces)
    .leaf('ipv4AddressesPerInterface', t.ipv4AddressesPerInterface)
    .leaf('ipv6AddressesPerInterface', t.ipv6AddressesPerInterface)
    .leaf('ipv6Supported', t.ipv6Supported)
    .leaf('enaSupport', t.enaSupport)
    .close();
  w.leaf('hibernationSupported', t.hibernationSupported).leaf('burstablePerformanceSupported', t.burstablePerformanceSupported);
  w.leaf('dedicatedHostsSupported', t.dedicatedHostsSupported).leaf('autoRecoverySupported', t.autoRecoverySupported);
  writeValueList(w, 'supportedBootModes', t.supportedBootModes);
  w.leaf('nitroEnclavesSupport', t.nitroEnclavesSupport).leaf('nitroTpmSupport', t.nitroTpmSupport);
  if (t.nitroTpmSupportedVersions !== undefined) {
    w.open('nitroTpmInfo');
    writeValueList(w, 'supportedVersions', t.nitroTpmSupportedVersions);
    w.close();
  }
}

function writeBody(w: XmlWriter, r: Ec2Response): void {
  switch (r.action) {
    case 'RunInstances':
      writeReservation(w, r.reservation);
      return;
    case 'DescribeInstances':
      w.list('reservationSet', r.reservations, writeReservation);
      w.leaf('nextToken', r.nextToken);
      return;
    case 'DescribeInstanceStatus':
      w.list('instanceStatusSet', r.instanceStatuses, (x, s) => {
        x.leaf('instanceId', s.instanceId).leaf('availabilityZone', s.availabilityZone);
        x.empty('eventsSet');
        writeState(x, 'instanceState', s.instanceState);
        writeStatusSummary(x, 'systemStatus', s.systemStatus);
        writeStatusSummary(x, 'instanceStatus', s.instanceStatus);
      });
      w.leaf('nextToken', r.nextToken);
      return;
    case 'StartInstances':
    case 'StopInstances':
    case 'TerminateInstances':
      writeStateChanges(w, r.instances);
      return;
    case 'RebootInstances':
    case 'CreateTags':
    case 'DeleteTags':
    case 'DeregisterImage':
      w.leaf('return', true);
      return;
    case 'GetConsoleOutput':
      w.leaf('instanceId', r.instanceId).leaf('timestamp', r.timestamp).leaf('output', r.output);
      return;
    case 'GetInstanceTpmEkPub':
      w.leaf('instanceId', r.instanceId).leaf('keyType', r.keyType).leaf('keyFormat', r.keyFormat).leaf('keyValue', r.keyValue);
      return;
    case 'NitrideSetHostRelease':
      w.leaf('hostId', r.hostId).leaf('release', r.release).leaf('attested', r.attested);
      return;
    case 'NitrideUpdateHostComponent':
      w.leaf('hostId', r.hostId).leaf('component', r.component).leaf('version', r.version).leaf('digest', r.digest).leaf('previousVersion', r.previousVersion).leaf('release', r.release).leaf('attested', r.attested);
      return;
    case 'DescribeImages':
      w.list('imagesSet', r.images, writeImage);
      w.leaf('nextToken', r.nextToken);
      return;
    case 'RegisterImage':
    case 'CopyImage':
    case 'CreateImage':
      w.leaf('imageId', r.imageId);
      return;
    case 'DescribeInstanceTypes':
      w.list('instanceTypeSet', r.instanceTypes, writeInstanceType);
      w.leaf('nextToken', r.nextToken);
      return;
    case 'DescribeTags':
      w.list('tagSet', r.tags, (x, t) => x.leaf('resourceId', t.resourceId).leaf('resourceType', t.resourceType).leaf('key', t.key).leaf('value', t.value));
      w.leaf('nextToken', r.nextToken);
      return;
    case 'DescribeRegions':
      w.list('regionInfo', r.regions, (x, g) => x.leaf('regionName', g.regionName).leaf('regionEndpoint', g.regionEndpoint).leaf('optInStatus', g.optInStatus));
      return;
    case 'DescribeAvailabilityZones':
      w.list('availabilityZoneInfo', r.availabilityZones, (x, z) => {
        x.leaf('zoneName', z.zoneName).leaf('zoneState', z.zoneState).leaf('regionName', z.regionName).leaf('zoneId', z.zoneId);
        x.leaf('groupName', z.groupName).leaf('networkBorderGroup', z.networkBorderGroup).leaf('optInStatus', z.optInStatus).leaf('zoneType', z.zoneType);
        x.list('messageSet', z.messages, (y, m) => y.leaf('message', m));
      });
      return;
    case 'CreateVolume':
      writeVolume(w, r.volume);
      return;
    case 'DescribeVolumes':
      w.list('volumeSet', r.volumes, writeVolume);
      w.leaf('nextToken', r.nextToken);
      return;
    case 'AttachVolume':
    case 'DetachVolume':
      writeAttachment(w, r.attachment);
      return;
    case 'ModifyVolume':
      writeVolumeModification(w, r.modification);
      return;
    case 'CreateSnapshot':
      writeSnapshot(w, r.snapshot);
      return;
    case 'DescribeSnapshots':
      w.list('snapshotSet', r.snapshots, writeSnapshot);
      w.leaf('nextToken', r.nextToken);
      return;
    case 'CopySnapshot':
      w.leaf('snapshotId', r.snapshotId);
      writeTags(w, r.tags ?? []);
      return;
    case 'EnableEbsEncryptionByDefault':
    case 'DisableEbsEncryptionByDefault':
    case 'GetEbsEncryptionByDefault':
      w.leaf('ebsEncryptionByDefault', r.ebsEncryptionByDefault);
      return;
    case 'GetEbsDefaultKmsKeyId':
    case 'ModifyEbsDefaultKmsKeyId':
    case 'ResetEbsDefaultKmsKeyId':
      w.leaf('kmsKeyId', r.kmsKeyId);
      return;
    case 'DeleteVolume':
    case 'DeleteSnapshot':
    case 'DeleteVpc':
    case 'DeleteSubnet':
    case 'ModifyNetworkInterfaceAttribute':
    case 'ModifyInstanceAttribute':
      w.leaf('return', true);
      return;
    case 'CreateVpc':
      w.element('vpc', (x) => writeVpc(x, r.vpc));
      return;
    case 'DescribeVpcs':
      w.list('vpcSet', r.vpcs, writeVpc);
      w.leaf('nextToken', r.nextToken);
      return;
    case 'CreateSubnet':
      w.element('subnet', (x) => writeSubnet(x, r.subnet));
      return;
    case 'DescribeSubnets':
      w.list('subnetSet', r.subnets, writeSubnet);
      w.leaf('nextToken', r.nextToken);
      return;
    case 'CreateSecurityGroup':
      w.leaf('return', true).leaf('groupId', r.groupId).leaf('securityGroupArn', r.securityGroupArn);
      writeTags(w, r.tags ?? []);
      return;
    case 'DescribeSecurityGroups':
      w.list('securityGroupInfo', r.securityGroups, writeSecurityGroup);
      w.leaf('nextToken', r.nextToken);
      return;
    case 'DeleteSecurityGroup':
      w.leaf('return', true).leaf('groupId', r.groupId);
      return;
    case 'AuthorizeSecurityGroupIngress':
    case 'AuthorizeSecurityGroupEgress':
      w.leaf('return', true);
      w.list('securityGroupRuleSet', r.rules, writeSecurityGroupRule);
      return;
    case 'RevokeSecurityGroupIngress':
    case 'RevokeSecurityGroupEgress':
      w.leaf('return', true);
      if (r.unknownIpPermissions !== undefined && r.unknownIpPermissions.length > 0) w.list('unknownIpPermissionSet', r.unknownIpPermissions, writeIpPermission);
      return;
    case 'DescribeNetworkInterfaces':
      w.list('networkInterfaceSet', r.networkInterfaces, writeNetworkInterface);
      w.leaf('nextToken', r.nextToken);
      return;
    case 'ModifyInstanceMetadataOptions':
      w.leaf('instanceId', r.instanceId);
      writeMetadataOptions(w, 'instanceMetadataOptions', r.metadataOptions);
      return;
  }
}

/** The XML body of a successful EC2 response (HTTP 200, Content-Type text/xml;charset=UTF-8). */
export function renderEc2Response(requestId: string, response: Ec2Response): string {
  const w = new XmlWriter();
  w.open(`${response.action}Response`, { xmlns: EC2_XMLNS });
  w.leaf('requestId', requestId);
  writeBody(w, response);
  w.close();
  return w.toString();
}

/**
 * EC2's error document and HTTP status:
 * <Response><Errors><Error><Code>…</Code><Message>…</Message></Error></Errors><RequestID>…</RequestID></Response>
 */
export function renderEc2Error(requestId: string, code: string, message: string, status: number = ec2HttpStatus(code)): { status: number; body: string } {
  const w = new XmlWriter();
  w.open('Response');
  w.open('Errors').open('Error').leaf('Code', code).leaf('Message', message).close().close();
  w.leaf('RequestID', requestId);
  w.close();
  return { status, body: w.toString() };
}

/** renderEc2Error for a thrown Ec2Error (its code, message and status). */
export function renderEc2ErrorFrom(requestId: string, e: Ec2Error): { status: number; body: string } {
  return renderEc2Error(requestId, e.code, e.message, e.httpStatus);
}

/** The content type EC2 answers with. */
export const EC2_CONTENT_TYPE = 'text/xml;charset=UTF-8';
