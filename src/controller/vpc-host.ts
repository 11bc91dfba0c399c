// The controller's side of the VPC card: supervises the card process (ComponentSupervisor
// 'vpc', forked with an IPC channel and the ENI socket directory) and turns the region's VPC
// commands into card requests. The socket directory lives outside $NITRIDE_HOME (which is
// 0700) because QEMU, running as nitride-qemu, must be able to reach it: /tmp/nitride-vpc-<id>/
// with 0711 on the parent and the card's 0710 + group nitride-qemu on the directory itself.
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger } from '../lib/log.js';
import { distEntry } from '../lib/paths.js';
import { ControllerError } from './errors.js';
import type { GroupState, VpcCommandBody } from './protocol/vpc-commands.js';
import { ComponentSupervisor, type ComponentEvent } from './supervisor.js';

export interface VpcHostOptions {
  readonly home: string;
  readonly log: Logger;
  readonly entry?: string;
  readonly onLifecycle?: (e: Record<string, unknown>) => void;
  readonly onEvent?: (e: ComponentEvent) => void;
}

/** The per-home socket directory the card listens in (short enough for unix socket paths). */
export function vpcSocketDir(home: string): string {
  const id = createHash('sha256').update(resolve(home)).digest('hex').slice(0, 12);
  return join(tmpdir(), `nitride-vpc-${id}`, 'sockets');
}

export class VpcHost {
  readonly supervisor: ComponentSupervisor;
  readonly socketDir: string;

  constructor(private readonly o: VpcHostOptions) {
    this.socketDir = vpcSocketDir(o.home);
    const parent = join(this.socketDir, '..');
    mkdirSync(parent, { recursive: true, mode: 0o711 });
    chmodSync(parent, 0o711);
    this.supervisor = new ComponentSupervisor({
      name: 'vpc',
      entry: o.entry ?? distEntry('vpc/main.js'),
      args: ['--socket-dir', this.socketDir],
      log: o.log,
      onEvent: (e) => o.onEvent?.(e),
      onLifecycle: (e) => o.onLifecycle?.({ ...e }),
    });
  }

  start(): void {
    this.supervisor.start();
  }

  /** Stops the card (it removes its sockets as it exits) and then its directory. */
  async stop(): Promise<void> {
    await this.supervisor.stop();
    this.removeSocketDir();
  }

  /** Removes the socket directory (tests; a stopped host). */
  removeSocketDir(): void {
    rmSync(join(this.socketDir, '..'), { recursive: true, force: true });
  }

  private async ready(): Promise<void> {
    // The card answers card.info once its entry point listens on the channel.
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await this.supervisor.request('card.info', {}, 2_000);
        return;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private async applyGroups(groups: readonly GroupState[]): Promise<void> {
    for (const g of groups) {
      await this.supervisor.request('sg.set', { groupId: g.groupId, rules: g.rules }, 10_000);
      await this.supervisor.request('sg.members', { groupId: g.groupId, ips: g.members }, 10_000);
    }
  }

  async execute(c: VpcCommandBody): Promise<unknown> {
    await this.ready();
    switch (c.type) {
      case 'eni.put': {
        await this.applyGroups(c.params.groups);
        const e = c.params.eni;
        const known = (await this.supervisor.request('eni.list', {}, 10_000)) as { eniId: string; mac: string; ip: string }[];
        const have = known.find((k) => k.eniId === e.eniId);
        if (have && (have.mac !== e.mac || have.ip !== e.ip)) {
          throw new ControllerError('EniConflict', 'conflict', 'The ENI exists on this host with another MAC or address.', { eniId: e.eniId });
        }
        if (have) {
          return this.supervisor.request('eni.update', {
            eniId: e.eniId,
            patch: { securityGroups: e.securityGroups, sourceDestCheck: e.sourceDestCheck, hostname: e.hostname, mtu: e.mtu, ...(e.imds ? { imds: e.imds } : {}) },
          }, 10_000);
        }
        return this.supervisor.request('eni.add', { eni: e }, 10_000);
      }
      case 'eni.remove':
        return this.supervisor.request('eni.remove', { eniId: c.params.eniId }, 10_000);
      case 'eni.stats':
        return this.supervisor.request('eni.stats', { eniId: c.params.eniId }, 10_000);
      case 'vpc.rules':
        await this.applyGroups(c.params.groups);
        for (const g of c.params.deleted) await this.supervisor.request('sg.delete', { groupId: g }, 10_000);
        return { groups: c.params.groups.length, deleted: c.params.deleted.length };
    }
  }
}
