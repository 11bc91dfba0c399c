// Test ladder for the card: a forked card process (exactly as the controller forks it) in a
// temporary directory QEMU's user could reach, plus ENI descriptions built from a few facts.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forkVpcCard, type VpcCardChannel } from '../client.js';
import type { EniInfo, EniStats } from '../card.js';
import type { EniConfig, GroupRules, ImdsConfig } from '../model.js';

export class CardHarness {
  stderr = '';
  private constructor(readonly dir: string, readonly channel: VpcCardChannel) {
    channel.child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-50_000);
    });
  }

  /** `env`: the card's environment instead of the test's (e.g. NITRIDE_DNS_UPSTREAM). */
  static async start(opts: { env?: NodeJS.ProcessEnv } = {}): Promise<CardHarness> {
    const dir = await mkdtemp(join(tmpdir(), 'nitride-vpc-'));
    // The card checks that QEMU's user can reach its socket directory.
    await chmod(dir, 0o711);
    const ch = forkVpcCard(join(dir, 'sockets'), { stdio: 'pipe', ...(opts.env ? { env: opts.env } : {}) });
    const h = new CardHarness(dir, ch);
    try {
      await Promise.race([
        ch.ready,
        new Promise((_, reject) => ch.child.once('exit', (c) => reject(new Error(`card exited (${c}): ${h.stderr}`)))),
      ]);
    } catch (e) {
      await h.stop();
      throw e;
    }
    return h;
  }

  addEni(eni: EniConfig): Promise<EniInfo> {
    return this.channel.request('eni.add', { eni });
  }

  stats(eniId: string): Promise<EniStats> {
    return this.channel.request('eni.stats', { eniId });
  }

  setRules(groupId: string, rules: GroupRules): Promise<unknown> {
    return this.channel.request('sg.set', { groupId, rules });
  }

  alive(): boolean {
    return this.channel.child.exitCode === null && this.channel.child.signalCode === null;
  }

  async stop(): Promise<void> {
    await this.channel.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}

let n = 0;
/** An ENI in `vpcId` at `ip` in subnet `cidr`, MAC derived from a counter. */
export function eni(vpcId: string, cidr: string, ip: string, groups: string[], extra: Partial<EniConfig> = {}): EniConfig {
  n++;
  const id = `${(process.pid & 0xffff).toString(16).padStart(4, '0')}${n.toString(16).padStart(4, '0')}`;
  return {
    eniId: `eni-${id}`,
    mac: `02:00:${id.slice(0, 2)}:${id.slice(2, 4)}:${id.slice(4, 6)}:${id.slice(6, 8)}`,
    ip,
    subnetCidr: cidr,
    subnetId: `subnet-${cidr.split('.')[2] ?? '0'}`,
    vpcId,
    securityGroups: groups,
    sourceDestCheck: true,
    hostname: `ip-${ip.replaceAll('.', '-')}.local`,
    mtu: 1500,
    ...extra,
  };
}

export function imds(instanceId: string, extra: Partial<ImdsConfig> = {}): ImdsConfig {
  return { instanceId, httpTokens: 'required', hopLimit: 1, endpoint: 'enabled', ...extra };
}
