// Shared by the InstanceService unit tests: the account that calls, a host record for a host
// the test stands in for, and an image record (with or without TpmSupport) to launch from.
import type { HostRecord, ImageRecord } from './model.js';

export const testCaller = { accountId: '123456789012', arn: 'arn:aws:iam::123456789012:root' };

export const testHost: HostRecord = { id: 'h-0123456789abcdef0', address: '127.0.0.1', port: 9, availabilityZone: 'local-1a', memoryMiB: 16384, vcpus: 2, enrolledAt: new Date().toISOString(), certFingerprint: '0'.repeat(64) };

/** An available image of testCaller's, with TpmSupport v2.0 when `tpm`. */
export function testImage(id: string, tpm = false): ImageRecord {
  return {
    id,
    name: id,
    description: '',
    ownerId: testCaller.accountId,
    public: false,
    state: 'available',
    creationDate: new Date().toISOString(),
    architecture: 'x86_64',
    kernel: { path: '/k/vmlinuz', sha256: 'a'.repeat(64) },
    initrd: { path: '/k/initrd.img', sha256: 'b'.repeat(64) },
    cmdline: 'console=ttyS0',
    tpmSupport: tpm ? 'v2.0' : undefined,
    bootMode: undefined,
    tags: {},
  };
}
