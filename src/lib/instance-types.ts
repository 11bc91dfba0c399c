// The instance-type catalogue, with EC2's names and sizes. The hypervisor sizes guests
// from it and the region checks capacity and answers DescribeInstanceTypes from it.
import { NitrideError } from './errors.js';

export interface InstanceType {
  readonly name: string;
  readonly vcpus: number;
  readonly memoryMiB: number;
  /** Local NVMe instance storage in GiB (EC2's `d` types); 0 when none. */
  readonly instanceStorageGiB: number;
  readonly burstable: boolean;
}

const t = (name: string, vcpus: number, memoryMiB: number, instanceStorageGiB = 0, burstable = false): InstanceType => ({
  name,
  vcpus,
  memoryMiB,
  instanceStorageGiB,
  burstable,
});

export const INSTANCE_TYPES: readonly InstanceType[] = [
  t('t3.nano', 2, 512, 0, true),
  t('t3.micro', 2, 1024, 0, true),
  t('t3.small', 2, 2048, 0, true),
  t('t3.medium', 2, 4096, 0, true),
  t('t3.large', 2, 8192, 0, true),
  t('m5.large', 2, 8192),
  t('m5.xlarge', 4, 16384),
  t('m5d.large', 2, 8192, 75),
  t('m5d.xlarge', 4, 16384, 150),
  t('c5.large', 2, 4096),
  t('r5.large', 2, 16384),
];

export function findInstanceType(name: string): InstanceType | undefined {
  return INSTANCE_TYPES.find((it) => it.name === name);
}

export function requireInstanceType(name: string): InstanceType {
  const it = findInstanceType(name);
  if (!it) {
    throw new NitrideError('InvalidInstanceType', 'invalid', `The instance type '${name}' does not exist.`, { instanceType: name });
  }
  return it;
}
