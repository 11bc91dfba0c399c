// Forks the hypervisor exactly as the controller's supervisor does (src/lib/channel/child.ts:
// IPC channel, JSON serialization) and returns its typed channel. Tests and benchmarks use
// this; the controller forks through ComponentSupervisor, which uses the same ChildChannel.
import { forkChild, type ChildChannel, type ForkChildOptions } from '../lib/channel/child.js';
import { distEntry } from '../lib/paths.js';
import type { HypervisorContract, HypervisorEvent } from './protocol/messages.js';

export type HypervisorChannel = ChildChannel<HypervisorContract, HypervisorEvent>;

export function forkHypervisor(stateDir: string, opts: Omit<ForkChildOptions, 'component'> & { readonly entry?: string } = {}): HypervisorChannel {
  const { entry, ...rest } = opts;
  return forkChild<HypervisorContract, HypervisorEvent>(entry ?? distEntry('hypervisor/main.js'), ['--state-dir', stateDir], { timeoutMs: 120_000, ...rest, component: 'hypervisor' });
}
