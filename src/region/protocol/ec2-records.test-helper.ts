// Shared by the EC2 response tests: a running instance and its primary network interface as
// DescribeInstances renders them, each with the fields every test writes the same way; a test
// replaces what it is about (its addresses, its devices, its interfaces).
import { instanceState, type Ec2Instance, type InstanceNetworkInterface } from './ec2/responses/index.js';

export const TEST_OWNER = '123456789012';
export const TEST_INSTANCE = 'i-0123456789abcdef0';
export const TEST_VPC = 'vpc-0123456789abcdef0';
export const TEST_SUBNET = 'subnet-0123456789abcdef0';
export const TEST_ENI = 'eni-0123456789abcdef0';

/** A running t3.micro in local-1a launched at `launchTime`, with no groups, devices or tags; `over` replaces any field. */
export function testInstance(launchTime: Date, over: Partial<Ec2Instance> = {}): Ec2Instance {
  return {
    instanceId: TEST_INSTANCE,
    imageId: 'ami-0123456789abcdef0',
    state: instanceState('running'),
    privateDnsName: 'ip-10-0-0-5.local-1.compute.internal',
    dnsName: '',
    reason: '',
    amiLaunchIndex: 0,
    instanceType: 't3.micro',
    launchTime,
    placement: { availabilityZone: 'local-1a', tenancy: 'default' },
    monitoring: { state: 'disabled' },
    privateIpAddress: '10.0.0.5',
    securityGroups: [],
    architecture: 'x86_64',
    rootDeviceType: 'ebs',
    blockDeviceMappings: [],
    virtualizationType: 'hvm',
    tags: [],
    hypervisor: 'xen',
    ebsOptimized: false,
    metadataOptions: { state: 'applied', httpTokens: 'required', httpPutResponseHopLimit: 1, httpEndpoint: 'enabled', httpProtocolIpv6: 'disabled', instanceMetadataTags: 'disabled' },
    ...over,
  };
}

/** An instance's primary interface (device 0, in use) with `privateIpAddress`, attached at `attachTime`; `over` replaces any field. */
export function testInstanceEni(attachTime: Date, privateIpAddress: string, over: Partial<InstanceNetworkInterface> = {}): InstanceNetworkInterface {
  return {
    networkInterfaceId: TEST_ENI,
    subnetId: TEST_SUBNET,
    vpcId: TEST_VPC,
    description: '',
    ownerId: TEST_OWNER,
    status: 'in-use',
    macAddress: '02:00:00:00:00:01',
    privateIpAddress,
    sourceDestCheck: true,
    groups: [],
    attachment: { attachmentId: 'eni-attach-0123456789abcdef0', deviceIndex: 0, status: 'attached', attachTime, deleteOnTermination: true },
    privateIpAddresses: [{ privateIpAddress, primary: true }],
    interfaceType: 'interface',
    ...over,
  };
}
