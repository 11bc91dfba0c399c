// The Debian packages Nitride's components and tests need, and an idempotent installer
// that says what it does. Checks with dpkg-query; installs only what is missing.
import { spawn, spawnSync } from 'node:child_process';
import { NitrideError } from '../lib/errors.js';

export interface PackageNeed {
  readonly name: string;
  readonly why: string;
}

export const DEBIAN_PACKAGES: readonly PackageNeed[] = [
  { name: 'qemu-system-x86', why: 'the hypervisor runs guests with qemu-system-x86_64' },
  { name: 'qemu-utils', why: 'qemu-img and qemu-io, NBD interop tests' },
  { name: 'linux-image-cloud-amd64', why: 'the guest kernel of the nitride-minimal image' },
  { name: 'busybox-static', why: 'the guest userland of the nitride-minimal image' },
  { name: 'cpio', why: 'packs the guest initramfs' },
  { name: 'lz4', why: 'unpacks the PVH vmlinux from the kernel bzImage' },
  { name: 'zstd', why: 'reads zstd-compressed initramfs images when inspecting a disk' },
  { name: 'mtools', why: 'reads EFI system partitions when inspecting a disk and writes those of bootable test disks (no mount)' },
  { name: 'fdisk', why: 'sfdisk writes partition tables in the image tests and the debian-12 build' },
  { name: 'e2fsprogs', why: 'debugfs reads ext4 root file systems when inspecting a disk (no mount)' },
  { name: 'iproute2', why: 'network namespaces for multi-host tests' },
  { name: 'procps', why: 'process checks in tests' },
  { name: 'awscli', why: 'AWS CLI v2 (/usr/bin/aws), a real client in the API tests' },
  { name: 'libnbd-bin', why: 'nbdinfo and nbdcopy, NBD interop tests' },
  { name: 'nbdkit', why: 'a reference NBD server in interop tests' },
  { name: 'fio', why: 'NBD benchmark (fio nbd engine)' },
  { name: 'iperf3', why: 'network throughput figures' },
  { name: 'tcpdump', why: 'captures proving inter-host traffic is sealed' },
  { name: 'openssl', why: 'independent ES384/COSE and XTS checks in tests' },
  { name: 'python3-cryptography', why: 'an independent AES-XTS implementation that decrypts volumes in tests' },
  { name: 'python3-boto3', why: "boto3, a real client in the API tests (test/fixtures/boto3/real-tools.py) and under Ansible's AWS modules, from Debian: no pip; its botocore models make docs/API-COVERAGE.md" },
  { name: 'swtpm', why: 'per-guest vTPM' },
  { name: 'swtpm-tools', why: 'vTPM manufacture (EK certificates)' },
  { name: 'ovmf', why: 'UEFI firmware for instances whose image has BootMode uefi' },
  { name: 'grub-pc-bin', why: 'GRUB for BIOS in bootable test disks (src/image/minimal-disk.ts)' },
  { name: 'grub-efi-amd64-bin', why: 'GRUB for UEFI in bootable test disks' },
  { name: 'dosfstools', why: 'mkfs.vfat for the EFI system partition' },
  { name: 'putty-tools', why: 'puttygen reads the .ppk key pairs CreateKeyPair returns, in tests' },
  { name: 'openssh-client', why: 'ssh-keygen reads the key pairs CreateKeyPair returns and computes fingerprints, in tests' },
  { name: 'ansible', why: "Ansible with the amazon.aws collection: a real tool's playbook against the region in tests (test/vm/ansible.test.ts)" },
];

export function missingPackages(needs: readonly PackageNeed[] = DEBIAN_PACKAGES): PackageNeed[] {
  return needs.filter((p) => {
    const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', p.name], { encoding: 'utf8' });
    return r.status !== 0 || !r.stdout.includes('install ok installed');
  });
}

function runStreaming(cmd: string, args: string[], say: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    let tail = '';
    const onData = (buf: Buffer): void => {
      const text = tail + buf.toString('utf8');
      const lines = text.split('\n');
      tail = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) say(`  ${l}`);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new NitrideError('SetupFailed', 'unavailable', `${cmd} ${args.join(' ')} exited with status ${code}.`, { cmd, args }));
    });
  });
}

export async function installPackages(missing: readonly PackageNeed[], say: (line: string) => void): Promise<void> {
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new NitrideError(
      'SetupNeedsRoot',
      'unavailable',
      `These Debian packages are missing and installing them needs root: ${missing.map((p) => p.name).join(' ')}.`,
      { missing: missing.map((p) => p.name) },
    );
  }
  say(`apt-get update …`);
  await runStreaming('apt-get', ['update', '-q'], say);
  say(`apt-get install ${missing.map((p) => p.name).join(' ')} …`);
  await runStreaming('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing.map((p) => p.name)], say);
}
