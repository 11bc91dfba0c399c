// Helpers shared by the root-volume tests with the nitride-minimal disk (rootboot-region,
// rootboot-lifecycle).
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { chown, mkdir, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateSnapshotCommand, CreateVolumeCommand, DeleteVolumeCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { cleanEnv } from '../region-fixtures.js';
import { componentIds } from '../../src/lib/privileges.js';

const GiB = 2 ** 30;

/** EC2's error code of a refused call ('no error' when it was not refused). */
export async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as { name?: string; Code?: string }).Code ?? (e as { name?: string }).name ?? String(e);
  }
  return 'no error';
}

/**
 * TEST FIXTURE ONLY: a completed snapshot holding the disk, through CreateVolume, the host's
 * volume store file (plain bytes for an unencrypted volume) and CreateSnapshot.
 */
export async function diskSnapshot(ec2: EC2Client, home: string, diskPath: string, sizeGiB: number): Promise<string> {
  const vol = (await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'local-1a', Size: sizeGiB, Encrypted: false }))).VolumeId!;
  const dir = join(home, 'host', 'ebs', 'volumes');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${vol}.vol`);
  assert.equal(spawnSync('cp', ['--sparse=always', diskPath, file]).status, 0);
  assert.equal(spawnSync('truncate', ['-s', String(sizeGiB * GiB), file]).status, 0);
  // the store is the EBS card's user's (src/lib/privileges.ts)
  const ebs = process.getuid?.() === 0 ? componentIds('ebs') : undefined;
  if (ebs) for (const p of [dir, file]) await chown(p, ebs.uid, ebs.gid);
  const snap = (await ec2.send(new CreateSnapshotCommand({ VolumeId: vol, Description: 'nitride-minimal-disk' }))).SnapshotId!;
  await ec2.send(new DeleteVolumeCommand({ VolumeId: vol }));
  return snap;
}

/** AWS CLI v2 against an in-process region (withLocalRegion writes the nitride profile into HOME/aws). */
export async function awsV2(home: string, endpoint: string): Promise<(args: readonly string[]) => Promise<Record<string, unknown>>> {
  const tmp = await mkdtemp(join(home, 'cli-home-')); // inside the region's home, removed with it
  const env = cleanEnv({ AWS_CONFIG_FILE: join(home, 'aws', 'config'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'aws', 'credentials'), HOME: tmp });
  return (args) =>
    new Promise((resolve, reject) => {
      execFile('/usr/bin/aws', ['--profile', 'nitride', '--endpoint-url', endpoint, ...args, '--output', 'json'], { env, encoding: 'utf8', timeout: 120_000 }, (e, stdout, stderr) => {
        if (e) reject(new Error(`aws ${args.join(' ')}: ${stderr}`));
        else resolve(stdout.trim() === '' ? {} : (JSON.parse(stdout) as Record<string, unknown>));
      });
    });
}
