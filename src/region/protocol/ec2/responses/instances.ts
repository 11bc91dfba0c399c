// EC2 responses, instances, their states and status, instance types, DescribeInstanceAttribute: the typed
// results and their XML writers.

import type { XmlWriter } from '../../../../lib/xml.js';
import type { InstanceAttributeName } from '../requests/instances.js';
import { type GroupIdentifier, type InstanceState, instanceState, type ResponseOf, type StateReason, type TagItem, writeGroups, writeReturn, type WriterTable, writeState, writeStateReason, writeTags } from './common.js';

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

export type NetworkInterfaceStatus = 'available' | 'associated' | 'attaching' | 'in-use' | 'detaching';

/** An ENI's public address (association): a public IP (ipOwnerId 'amazon') or an Elastic IP. */
export interface NetworkInterfaceAssociation {
  readonly publicIp: string;
  readonly publicDnsName: string;
  readonly ipOwnerId: string;
  /** DescribeNetworkInterfaces only, for an Elastic IP. */
  readonly allocationId?: string | undefined;
  readonly associationId?: string | undefined;
}

export interface NetworkInterfacePrivateIp {
  readonly privateIpAddress: string;
  readonly privateDnsName?: string | undefined;
  readonly primary: boolean;
  readonly association?: NetworkInterfaceAssociation | undefined;
}

export function writeAssociation(w: XmlWriter, a: NetworkInterfaceAssociation | undefined, withIds: boolean): void {
  if (a === undefined) return;
  w.open('association').leaf('publicIp', a.publicIp).leaf('publicDnsName', a.publicDnsName).leaf('ipOwnerId', a.ipOwnerId);
  if (withIds) w.leaf('allocationId', a.allocationId).leaf('associationId', a.associationId);
  w.close();
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
  readonly association?: NetworkInterfaceAssociation | undefined;
}

export function writeInstance(w: XmlWriter, i: Ec2Instance): void {
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

export function writeMetadataOptions(w: XmlWriter, name: string, m: InstanceMetadataOptions): void {
  w.open(name)
    .leaf('state', m.state)
    .leaf('httpTokens', m.httpTokens)
    .leaf('httpPutResponseHopLimit', m.httpPutResponseHopLimit)
    .leaf('httpEndpoint', m.httpEndpoint)
    .leaf('httpProtocolIpv6', m.httpProtocolIpv6)
    .leaf('instanceMetadataTags', m.instanceMetadataTags)
    .close();
}

export function writePrivateIps(w: XmlWriter, ips: readonly NetworkInterfacePrivateIp[], withIds = false): void {
  w.list('privateIpAddressesSet', ips, (x, p) => {
    x.leaf('privateIpAddress', p.privateIpAddress).leaf('privateDnsName', p.privateDnsName).leaf('primary', p.primary);
    writeAssociation(x, p.association, withIds);
  });
}

export function writeInstanceNetworkInterface(w: XmlWriter, n: InstanceNetworkInterface): void {
  w.leaf('networkInterfaceId', n.networkInterfaceId).leaf('subnetId', n.subnetId).leaf('vpcId', n.vpcId).leaf('description', n.description);
  w.leaf('ownerId', n.ownerId).leaf('status', n.status).leaf('macAddress', n.macAddress);
  w.leaf('privateIpAddress', n.privateIpAddress).leaf('privateDnsName', n.privateDnsName).leaf('sourceDestCheck', n.sourceDestCheck);
  writeGroups(w, n.groups);
  writeAssociation(w, n.association, false);
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

export function writeReservation(w: XmlWriter, r: Reservation): void {
  w.leaf('reservationId', r.reservationId).leaf('ownerId', r.ownerId).leaf('requesterId', r.requesterId);
  writeGroups(w, r.groups);
  w.list('instancesSet', r.instances, writeInstance);
}

export function writeStateChanges(w: XmlWriter, changes: readonly InstanceStateChange[]): void {
  w.list('instancesSet', changes, (x, c) => {
    x.leaf('instanceId', c.instanceId);
    writeState(x, 'currentState', c.currentState);
    writeState(x, 'previousState', c.previousState);
  });
}

export function writeStatusSummary(w: XmlWriter, name: string, s: InstanceStatusSummary): void {
  w.open(name).leaf('status', s.status);
  w.list('details', s.details, (x, d) => x.leaf('name', d.name).leaf('status', d.status).leaf('impairedSince', d.impairedSince));
  w.close();
}

export function writeValueList(w: XmlWriter, name: string, values: readonly string[]): void {
  w.list(name, values, (x, v) => x.text(v));
}

export function writeInstanceType(w: XmlWriter, t: InstanceTypeInfo): void {
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

/** One attribute's value (DescribeInstanceAttribute), in the member EC2 answers it with. */
export type InstanceAttributeValue =
  | { readonly kind: 'value'; /** undefined: an empty element, as EC2 sends for an unset value */ readonly value: string | undefined }
  | { readonly kind: 'boolean'; readonly value: boolean }
  | { readonly kind: 'blockDeviceMapping'; readonly mappings: readonly InstanceBlockDeviceMapping[] }
  | { readonly kind: 'groupSet'; readonly groups: readonly GroupIdentifier[] }
  | { readonly kind: 'productCodes' }
  | { readonly kind: 'enclaveOptions'; readonly enabled: boolean };

function writeAttribute(w: XmlWriter, name: InstanceAttributeName, v: InstanceAttributeValue): void {
  switch (v.kind) {
    case 'value':
      if (v.value === undefined) w.empty(name);
      else w.open(name).leaf('value', v.value).close();
      return;
    case 'boolean':
      w.open(name).leaf('value', v.value).close();
      return;
    case 'blockDeviceMapping':
      w.list('blockDeviceMapping', v.mappings, (x, b) => {
        x.leaf('deviceName', b.deviceName);
        x.open('ebs').leaf('volumeId', b.ebs.volumeId).leaf('status', b.ebs.status).leaf('attachTime', b.ebs.attachTime).leaf('deleteOnTermination', b.ebs.deleteOnTermination).close();
      });
      return;
    case 'groupSet':
      writeGroups(w, v.groups);
      return;
    case 'productCodes':
      w.empty('productCodes');
      return;
    case 'enclaveOptions':
      w.open('enclaveOptions').leaf('enabled', v.enabled).close();
      return;
  }
}

export type InstanceResponse =
  | { readonly action: 'RunInstances'; readonly reservation: Reservation }
  | { readonly action: 'DescribeInstances'; readonly reservations: readonly Reservation[]; readonly nextToken?: string | undefined }
  | { readonly action: 'DescribeInstanceStatus'; readonly instanceStatuses: readonly InstanceStatus[]; readonly nextToken?: string | undefined }
  | { readonly action: 'StartInstances' | 'StopInstances' | 'TerminateInstances'; readonly instances: readonly InstanceStateChange[] }
  | { readonly action: 'RebootInstances' }
  | { readonly action: 'GetConsoleOutput'; readonly instanceId: string; readonly timestamp: Date; /** base64 of the console bytes */ readonly output: string }
  | {
      readonly action: 'GetInstanceTpmEkPub';
      readonly instanceId: string;
      readonly keyType: 'rsa-2048' | 'ecc-sec-p384';
      readonly keyFormat: 'der' | 'tpmt';
      /** base64: a DER SubjectPublicKeyInfo (der) or a TPMT_PUBLIC (tpmt) */
      readonly keyValue: string;
    }
  | { readonly action: 'DescribeInstanceTypes'; readonly instanceTypes: readonly InstanceTypeInfo[]; readonly nextToken?: string | undefined }
  | { readonly action: 'DescribeInstanceAttribute'; readonly instanceId: string; readonly attribute: InstanceAttributeName; readonly value: InstanceAttributeValue };

function writeStartInstances(w: XmlWriter, r: ResponseOf<InstanceResponse, 'StartInstances' | 'StopInstances' | 'TerminateInstances'>): void {
  writeStateChanges(w, r.instances);
}

export const INSTANCE_WRITERS: WriterTable<InstanceResponse> = {
  RunInstances: (w, r) => {
    writeReservation(w, r.reservation);
  },
  DescribeInstances(w, r) {
    w.list('reservationSet', r.reservations, writeReservation);
    w.leaf('nextToken', r.nextToken);
  },
  DescribeInstanceStatus(w, r) {
    w.list('instanceStatusSet', r.instanceStatuses, (x, s) => {
      x.leaf('instanceId', s.instanceId).leaf('availabilityZone', s.availabilityZone);
      x.empty('eventsSet');
      writeState(x, 'instanceState', s.instanceState);
      writeStatusSummary(x, 'systemStatus', s.systemStatus);
      writeStatusSummary(x, 'instanceStatus', s.instanceStatus);
    });
    w.leaf('nextToken', r.nextToken);
  },
  StartInstances: writeStartInstances,
  StopInstances: writeStartInstances,
  TerminateInstances: writeStartInstances,
  RebootInstances: writeReturn,
  GetConsoleOutput: (w, r) => {
    w.leaf('instanceId', r.instanceId).leaf('timestamp', r.timestamp).leaf('output', r.output);
  },
  GetInstanceTpmEkPub: (w, r) => {
    w.leaf('instanceId', r.instanceId).leaf('keyType', r.keyType).leaf('keyFormat', r.keyFormat).leaf('keyValue', r.keyValue);
  },
  DescribeInstanceTypes(w, r) {
    w.list('instanceTypeSet', r.instanceTypes, writeInstanceType);
    w.leaf('nextToken', r.nextToken);
  },
  DescribeInstanceAttribute(w, r) {
    w.leaf('instanceId', r.instanceId);
    writeAttribute(w, r.attribute, r.value);
  },
};
