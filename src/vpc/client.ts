// Forks the VPC card exactly as the controller's supervisor does (src/lib/channel/child.ts)
// and returns its typed channel; `ready` resolves on the card's card.ready event. Tests and
// benchmarks use this; the controller forks through ComponentSupervisor, on the same ChildChannel.
import { forkChild, type ChildChannel, type ForkChildOptions } from '../lib/channel/child.js';
import { distEntry } from '../lib/paths.js';
import { giveToComponent } from '../lib/privileges.js';
import type { VpcContract } from './protocol/messages.js';

export type VpcCardChannel = ChildChannel<VpcContract>;

export function forkVpcCard(socketDir: string, opts: Omit<ForkChildOptions, 'component' | 'readyEvent'> & { readonly entry?: string } = {}): VpcCardChannel {
  const { entry, ...rest } = opts;
  giveToComponent('vpc', socketDir, 0o710); // as root the card runs as its own user, in a directory of its own
  return forkChild<VpcContract>(entry ?? distEntry('vpc/main.js'), ['--socket-dir', socketDir], { timeoutMs: 10_000, ...rest, component: 'vpc', readyEvent: 'card.ready' });
}
