// Record → response object: what the EC2 API shows of the region's records.
import { INSTANCE_TYPES, type InstanceType } from '../../lib/instance-types.js';
import type { Ec2Instance, Image, InstanceStatus, InstanceTypeInfo, Reservation, TagItem } from '../protocol/ec2/responses/index.js';
import { instanceState } from '../protocol/ec2/responses/index.js';
import { BUILTIN_OWNER } from '../ec2/images.js';
import type { ImageRecord, InstanceRecord } from '../ec2/model.js';
import { attributesOf, REGION_NAME } from '../ec2/model.js';

export const tagItems = (tags: Readonly<Record<string, string>>): TagItem[] => Object.entries(tags).map(([key, value]) => ({ key, value }));

export function instanceView(r: InstanceRecord): Ec2Instance {
  const ip = r.privateIpAddress;
  return {
    instanceId: r.id,
    imageId: r.imageId,
    state: instanceState(r.state),
    privateDnsName: ip ? `ip-${ip.replace(/\./g, '-')}.${REGION_NAME}.compute.internal` : '',
    dnsName: '',
    reason: r.stateTransitionReason,
    ...(r.keyName ? { keyName: r.keyName } : {}),
    amiLaunchIndex: r.amiLaunchIndex,
    instanceType: r.instanceType,
    launchTime: new Date(r.launchTime),
    placement: { availabilityZone: r.availabilityZone, tenancy: 'default' },
    monitoring: { state: 'disabled' },
    ...(r.subnetId ? { subnetId: r.subnetId } : {}),
    ...(ip ? { privateIpAddress: ip } : {}),
    securityGroups: [],
    ...(r.stateReason ? { stateReason: r.stateReason } : {}),
    architecture: 'x86_64',
    rootDeviceType: r.rootDevice ? 'ebs' : 'instance-store',
    ...(r.rootDevice ? { rootDeviceName: r.rootDevice.deviceName } : {}),
    blockDeviceMappings: [],
    virtualizationType: 'hvm',
    ...(r.clientToken ? { clientToken: r.clientToken } : {}),
    tags: tagItems(r.tags),
    hypervisor: 'xen',
    ebsOptimized: attributesOf(r).ebsOptimized,
    enaSupport: attributesOf(r).enaSupport,
    metadataOptions: {
      state: 'applied',
      httpTokens: r.metadataOptions.httpTokens,
      httpPutResponseHopLimit: r.metadataOptions.httpPutResponseHopLimit,
      httpEndpoint: r.metadataOptions.httpEndpoint,
      httpProtocolIpv6: 'disabled',
      instanceMetadataTags: 'disabled',
    },
    platformDetails: 'Linux/UNIX',
    ...(r.vtpm ? { tpmSupport: 'v2.0' } : {}), // NitroTPM: launched from a TpmSupport=v2.0 image
  };
}

/** Groups instances into reservations, keeping the order in which they come. */
export function reservations(records: readonly InstanceRecord[]): Reservation[] {
  const byId = new Map<string, { ownerId: string; requesterId: string; instances: Ec2Instance[] }>();
  for (const r of records) {
    let g = byId.get(r.reservationId);
    if (!g) {
      g = { ownerId: r.accountId, requesterId: r.accountId, instances: [] };
      byId.set(r.reservationId, g);
    }
    g.instances.push(instanceView(r));
  }
  return [...byId.entries()].map(([reservationId, g]) => ({ reservationId, ownerId: g.ownerId, groups: [], instances: g.instances }));
}

export function instanceStatusView(r: InstanceRecord): InstanceStatus {
  const running = r.state === 'running';
  const inst = !running ? 'not-applicable' : r.readyAt ? 'ok' : 'initializing';
  const detail = inst === 'ok' ? 'passed' : 'initializing';
  return {
    instanceId: r.id,
    availabilityZone: r.availabilityZone,
    instanceState: instanceState(r.state),
    instanceStatus: { status: inst, details: running ? [{ name: 'reachability', status: detail }] : [] },
    systemStatus: { status: running ? 'ok' : 'not-applicable', details: running ? [{ name: 'reachability', status: 'passed' }] : [] },
  };
}

export function imageView(i: ImageRecord): Image {
  return {
    imageId: i.id,
    imageLocation: i.ownerId === BUILTIN_OWNER ? `amazon/${i.name}` : `${i.ownerId}/${i.name}`,
    imageState: i.state,
    imageOwnerId: i.ownerId,
    ...(i.ownerId === BUILTIN_OWNER ? { imageOwnerAlias: 'amazon' } : {}),
    creationDate: new Date(i.creationDate),
    isPublic: i.public,
    architecture: i.architecture,
    imageType: 'machine',
    name: i.name,
    description: i.description,
    rootDeviceType: i.rootDeviceType ?? 'instance-store',
    ...(i.rootDeviceName !== undefined ? { rootDeviceName: i.rootDeviceName } : {}),
    blockDeviceMappings: (i.blockDeviceMappings ?? []).map((m) => ({
      deviceName: m.deviceName,
      ...(m.ebs ? { ebs: { ...m.ebs } } : {}),
      ...(m.virtualName !== undefined ? { virtualName: m.virtualName } : {}),
      ...(m.noDevice ? { noDevice: true } : {}),
    })),
    virtualizationType: 'hvm',
    hypervisor: 'xen',
    enaSupport: i.enaSupport ?? false,
    ...(i.bootMode ? { bootMode: i.bootMode } : {}),
    ...(i.tpmSupport ? { tpmSupport: i.tpmSupport } : {}),
    platformDetails: 'Linux/UNIX',
    usageOperation: 'RunInstances',
    tags: tagItems(i.tags),
  };
}

export function instanceTypeView(t: InstanceType): InstanceTypeInfo {
  return {
    instanceType: t.name,
    currentGeneration: true,
    freeTierEligible: t.name === 't3.micro',
    supportedUsageClasses: ['on-demand'],
    supportedRootDeviceTypes: ['ebs', 'instance-store'],
    supportedVirtualizationTypes: ['hvm'],
    bareMetal: false,
    hypervisor: 'nitro',
    supportedArchitectures: ['x86_64'],
    defaultVCpus: t.vcpus,
    defaultCores: Math.max(1, t.vcpus / 2),
    defaultThreadsPerCore: t.vcpus > 1 ? 2 : 1,
    memorySizeInMiB: t.memoryMiB,
    instanceStorageSupported: t.instanceStorageGiB > 0,
    ...(t.instanceStorageGiB > 0 ? { instanceStorageTotalSizeInGB: t.instanceStorageGiB } : {}),
    ebsOptimizedSupport: 'default',
    ebsEncryptionSupport: 'supported',
    ebsNvmeSupport: 'required',
    networkPerformance: t.burstable ? 'Up to 5 Gigabit' : 'Up to 10 Gigabit',
    maximumNetworkInterfaces: 1,
    ipv4AddressesPerInterface: 1,
    ipv6AddressesPerInterface: 0,
    ipv6Supported: false,
    enaSupport: 'unsupported',
    hibernationSupported: false,
    burstablePerformanceSupported: t.burstable,
    dedicatedHostsSupported: false,
    autoRecoverySupported: false,
    supportedBootModes: ['legacy-bios'],
    nitroEnclavesSupport: 'unsupported',
    nitroTpmSupport: 'supported',
    nitroTpmSupportedVersions: ['2.0'],
  };
}

export const allInstanceTypes = (): readonly InstanceType[] => INSTANCE_TYPES;
