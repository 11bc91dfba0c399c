// VM-test fixtures for the controller: the guest image as an InstanceSpec, QEMU pids from
// the hypervisor's instance directories under the controller's home, console polling through
// the controller, a dump of the consoles and QEMU logs, and a cleanup that kills every QEMU.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InstanceInfo, InstanceSpec, ConsoleOutput } from '../../hypervisor/protocol/messages.js';
import { ensureImage } from '../../image/build.js';
import { imageCacheDir } from '../../lib/paths.js';
import type { ControllerClient } from '../client.js';
import { hostPaths } from '../host-state.js';

export function newInstanceId(): string {
  return `i-${randomBytes(9).toString('hex').slice(0, 17)}`;
}

export async function guestSpec(instanceType = 't3.nano', instanceId = newInstanceId()): Promise<InstanceSpec> {
  const m = await ensureImage({ cacheDir: imageCacheDir(), say: (l) => process.stderr.write(`[image] ${l}\n`) });
  return {
    instanceId,
    instanceType,
    image: { kernel: m.kernel.path, initrd: m.initrd.path, cmdline: m.cmdline, kernelSha256: m.kernel.sha256, initrdSha256: m.initrd.sha256 },
  };
}

function instancesDir(home: string): string {
  return join(hostPaths(home).hypervisorDir, 'instances');
}

export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** QEMU pids named by the instance pidfiles under this home, that are still that guest's QEMU. */
export function qemuPids(home: string): number[] {
  const out: number[] = [];
  const d = instancesDir(home);
  if (!existsSync(d)) return out;
  for (const id of readdirSync(d)) {
    try {
      const pid = Number(readFileSync(join(d, id, 'qemu.pid'), 'utf8').trim());
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (pid > 1 && cmd.includes(id)) out.push(pid);
    } catch {
      // no pidfile or no process
    }
  }
  return out;
}

export function consoleText(c: unknown): string {
  return Buffer.from((c as ConsoleOutput).output ?? '', 'base64').toString('utf8');
}

export function count(hay: string, needle: string): number {
  return hay.split(needle).length - 1;
}

/** Polls instance.console through the controller until `marker` appears `times` times. */
export async function waitForConsole(client: ControllerClient, instanceId: string, marker: string, times: number, timeoutMs: number): Promise<string> {
  const end = Date.now() + timeoutMs;
  let text = '';
  for (;;) {
    text = consoleText(await client.send('instance.console', { instanceId }));
    if (count(text, marker) >= times) return text;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${times}× '${marker}' on ${instanceId}'s console:\n${text.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function waitForState(client: ControllerClient, instanceId: string, state: string, timeoutMs: number): Promise<InstanceInfo> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const info = (await client.send('instance.describe', { instanceId })) as InstanceInfo;
    if (info.state === state) return info;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${instanceId} to be ${state}; it is ${info.state}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The consoles and QEMU logs of every instance under this home (for failures). */
export function dumpInstances(home: string): string {
  const d = instancesDir(home);
  if (!existsSync(d)) return '(no instances)';
  const parts: string[] = [];
  for (const id of readdirSync(d)) {
    for (const f of ['console.prev.log', 'console.log', 'qemu.log']) {
      try {
        parts.push(`--- ${id}/${f} ---\n${readFileSync(join(d, id, f), 'utf8').slice(-6000)}`);
      } catch {
        // absent
      }
    }
  }
  return parts.join('\n');
}

/** Kills every QEMU of this home (SIGKILL) and waits until they are gone. */
export async function killAllQemu(home: string, extra: readonly number[] = []): Promise<void> {
  const pids = [...new Set([...qemuPids(home), ...extra])];
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  const end = Date.now() + 5_000;
  while (pids.some(pidAlive) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}
