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
import type { Ec2Action } from './ec2-requests.js';

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
    readonly ebs?: { readonly snapshotId?: string | undefined; readonly volumeSize?: number | undefined; readonly volumeType?: string | undefined; readonly deleteOnTermination?: boolean | undefined; readonly encrypted?: boolean | undefined } | undefined;
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

// ---------------------------------------------------------------- the response union

export type Ec2Response =
  | { readonly action: 'RunInstances'; readonly reservation: Reservation }
  | { readonly action: 'DescribeInstances'; readonly reservations: readonly Reservation[]; readonly nextToken?: string | undefined }
  | { readonly action: 'DescribeInstanceStatus'; readonly instanceStatuses: readonly InstanceStatus[]; readonly nextToken?: string | undefined }
  | { readonly action: 'StartInstances' | 'StopInstances' | 'TerminateInstances'; readonly instances: readonly InstanceStateChange[] }
  | { readonly action: 'RebootInstances' | 'CreateTags' | 'DeleteTags' | 'DeregisterImage' }
  | { readonly action: 'GetConsoleOutput'; readonly instanceId: string; readonly timestamp: Date; /** base64 of the console bytes */ readonly output: string }
  | { readonly action: 'DescribeImages'; readonly images: readonly Image[]; readonly nextToken?: string | undefined }
  | { readonly action: 'RegisterImage'; readonly imageId: string }
  | { readonly action: 'DescribeInstanceTypes'; readonly instanceTypes: readonly InstanceTypeInfo[]; readonly nextToken?: string | undefined }
  | { readonly action: 'DescribeTags'; readonly tags: readonly TagDescription[]; readonly nextToken?: string | undefined }
  | { readonly action: 'DescribeRegions'; readonly regions: readonly Region[] }
  | { readonly action: 'DescribeAvailabilityZones'; readonly availabilityZones: readonly AvailabilityZone[] };

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
  w.empty('networkInterfaceSet');
  w.leaf('ebsOptimized', i.ebsOptimized).leaf('enaSupport', i.enaSupport);
  const m = i.metadataOptions;
  w.open('metadataOptions')
    .leaf('state', m.state)
    .leaf('httpTokens', m.httpTokens)
    .leaf('httpPutResponseHopLimit', m.httpPutResponseHopLimit)
    .leaf('httpEndpoint', m.httpEndpoint)
    .leaf('httpProtocolIpv6', m.httpProtocolIpv6)
    .leaf('instanceMetadataTags', m.instanceMetadataTags)
    .close();
  w.leaf('bootMode', i.bootMode).leaf('currentInstanceBootMode', i.currentInstanceBootMode).leaf('tpmSupport', i.tpmSupport).leaf('platformDetails', i.platformDetails);
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
    x.leaf('deviceName', b.deviceName);
    if (b.ebs !== undefined) {
      x.open('ebs')
        .leaf('snapshotId', b.ebs.snapshotId)
        .leaf('volumeSize', b.ebs.volumeSize)
        .leaf('deleteOnTermination', b.ebs.deleteOnTermination)
        .leaf('volumeType', b.ebs.volumeType)
        .leaf('encrypted', b.ebs.encrypted)
        .close();
    }
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
    case 'DescribeImages':
      w.list('imagesSet', r.images, writeImage);
      w.leaf('nextToken', r.nextToken);
      return;
    case 'RegisterImage':
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
