// The jail of every instance when the hypervisor runs as root (docs/HYPERVISOR.md "Jail"):
// its own uid and gid (jail-ids.ts), its own cgroup (cgroup.ts), its own mount namespace
// with only its files (jail-command.ts), and who owns what in its directory:
//
//   <dir>/             ebs:<gid> 0710   the hypervisor's records (spec, runtime, pid, logs),
//                                       the staged kernel and initrd, the EBS card's sockets;
//                                       QEMU may open what is in it but create, rename or
//                                       delete nothing — it cannot swap spec.json or plant a
//                                       symlink where the hypervisor (root) reads or writes.
//                                       Its owner is the EBS card's user (nitride-ebs), which
//                                       creates and removes its export sockets in it; root
//                                       when that user does not exist
//   <dir>/run/         uid:gid 0700     what QEMU and swtpm create: qmp.sock, tpm.sock, tpm.pid
//   <dir>/tpm/         uid:gid 0700     swtpm's encrypted state
//   <dir>/console.log  uid:gid 0600     QEMU appends; the hypervisor reads and rotates
//   sockets QEMU connects to (EBS exports, VPC NICs): root:<gid> 0660 — this instance only
import { spawn, type SpawnOptions } from 'node:child_process';
import { chmod, chown, lstat, mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { HypervisorError } from '../errors.js';
import { COMPONENT_USERS } from '../../lib/privileges.js';
import { systemUserIds } from '../../lib/qemu-user.js';
import { type JailIdentity, JailIds } from './jail-ids.js';
import { jailArgv, type JailPlan } from './jail-command.js';

export const RUN_DIR = 'run';

export class Jailer {
  readonly ids: JailIds;
  /** The empty directory each jail's tmpfs is mounted on, in its own namespace only. */
  readonly root: string;

  /** The owner of the instance directories: the EBS card's user, which puts its sockets there (root without it). */
  private readonly dirOwner: number;

  constructor(stateDir: string) {
    this.ids = new JailIds(stateDir);
    this.dirOwner = systemUserIds(COMPONENT_USERS['ebs'] as string)?.uid ?? 0;
    this.root = join(stateDir, 'jail-root');
  }

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    await chmod(this.root, 0o700);
  }

  /**
   * Gives an instance directory (made by the caller) the jail's ownership: the EBS card's user
   * owns it, the instance's group may traverse it; `run/` and the console log are the instance's own.
   */
  async prepareDir(dir: string, id: JailIdentity, consoleFile: string): Promise<void> {
    await chown(dir, this.dirOwner, id.gid);
    await chmod(dir, 0o710);
    const run = join(dir, RUN_DIR);
    await mkdir(run, { recursive: true, mode: 0o700 });
    await this.own(run, id, 0o700);
    const consolePath = join(dir, consoleFile);
    const f = await open(consolePath, 'a', 0o600);
    await f.close();
    await this.own(consolePath, id, 0o600);
  }

  /**
   * An existing jail's directory (group the instance's, not a symbolic link) gets the owner
   * prepareDir gives: one made while the EBS card ran as root is root's, and the card, now its
   * own user, could not put a volume's socket in it.
   */
  async adoptDir(dir: string): Promise<void> {
    const st = await lstat(dir);
    if (st.isDirectory() && st.gid !== 0 && st.uid !== this.dirOwner) await chown(dir, this.dirOwner, st.gid);
  }

  /** A file or directory of the instance (never a symlink: lstat first) owned by it. */
  async own(path: string, id: JailIdentity, mode: number): Promise<void> {
    const st = await lstat(path);
    if (st.isSymbolicLink()) throw new HypervisorError('JailPathUnsafe', 'internal', 'A path the jail hands over is a symbolic link.', { path });
    await chown(path, id.uid, id.gid);
    await chmod(path, mode);
  }

  /**
   * A card's socket that this instance's QEMU connects to: root:<gid> 0660, so only the
   * instance's processes (and root, the card) can connect. Refuses anything but a socket.
   */
  async claimSocket(path: string, id: JailIdentity): Promise<void> {
    const st = await lstat(path).catch((e: unknown) => {
      throw new HypervisorError('JailSocketMissing', 'unavailable', 'A socket the instance needs does not exist.', { path }, { cause: e });
    });
    if (!st.isSocket()) throw new HypervisorError('JailPathUnsafe', 'internal', 'A path the instance should connect to is not a unix socket.', { path });
    await chown(path, 0, id.gid);
    await chmod(path, 0o660);
  }

  /** Spawns `bin args` inside the jail of `plan` (the pid is the jailed program's own after its execs). */
  spawn(plan: JailPlan, bin: string, args: readonly string[], options: SpawnOptions): ReturnType<typeof spawn> {
    return spawn('unshare', jailArgv(plan, bin, args), options);
  }
}
