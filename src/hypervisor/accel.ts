// Chooses the accelerator: KVM only when a short smoke boot proves it runs a stock guest
// to its ready marker, TCG otherwise. Some hosts expose a /dev/kvm that answers but cannot
// run stock guests (the nested kvm_pvm module); those are recognised without a boot. The
// verdict is cached in the state directory, keyed by the host kernel release.
import { existsSync } from 'node:fs';
import { chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MARKERS } from '../image/markers.js';
import { buildQemuArgs, INSTANCE_FILES } from './protocol/qemu-args.js';
import type { GuestImageRef } from './protocol/messages.js';
import { launchQemu, pidAlive, type QemuOwner, readQemuLog, stageImage } from './qemu-process.js';

export type Accel = 'kvm' | 'tcg';
export interface AccelVerdict {
  readonly accel: Accel;
  readonly reason: string;
  readonly kernelRelease: string;
  readonly decidedAt: string;
}

const SMOKE_DEADLINE_MS = 20_000;

/** The verdict that needs no boot, or undefined when only a smoke boot can tell. */
export function quickAccelVerdict(env: NodeJS.ProcessEnv = process.env): AccelVerdict | undefined {
  const v = (accel: Accel, reason: string): AccelVerdict => ({ accel, reason, kernelRelease: release(), decidedAt: new Date().toISOString() });
  const forced = env['NITRIDE_ACCEL'];
  if (forced === 'tcg') return v('tcg', 'forced by NITRIDE_ACCEL=tcg');
  if (forced === 'probe') return existsSync('/dev/kvm') ? undefined : v('tcg', '/dev/kvm does not exist'); // always smoke-boot
  if (!existsSync('/dev/kvm')) return v('tcg', '/dev/kvm does not exist');
  if (existsSync('/sys/module/kvm_pvm')) return v('tcg', 'the kvm_pvm module provides /dev/kvm and cannot run stock guests');
  return undefined;
}

export class AccelSelector {
  private verdict: AccelVerdict | undefined;
  private pending: Promise<AccelVerdict> | undefined;

  constructor(
    private readonly stateDir: string,
    private readonly owner: QemuOwner | undefined,
  ) {}

  /** What is known without booting anything (cache or quick checks). */
  async known(): Promise<AccelVerdict | undefined> {
    if (this.verdict) return this.verdict;
    const quick = quickAccelVerdict();
    if (quick) return (this.verdict = quick);
    try {
      const cached = JSON.parse(await readFile(join(this.stateDir, 'accel.json'), 'utf8')) as AccelVerdict;
      if (cached.kernelRelease === release() && (cached.accel === 'kvm' || cached.accel === 'tcg')) return (this.verdict = cached);
    } catch {
      // no cache yet
    }
    return undefined;
  }

  /** The verdict, running the smoke boot with `image` the first time it is needed. */
  async get(image: GuestImageRef | undefined): Promise<AccelVerdict> {
    const k = await this.known();
    if (k) return k;
    // Only a kernel image can be smoke-booted; a root-volume instance runs under TCG until
    // an instance with an image has settled the question (the verdict is not cached).
    if (!image) return { accel: 'tcg', reason: 'undecided: no kernel image to smoke-boot yet', kernelRelease: release(), decidedAt: new Date().toISOString() };
    this.pending ??= this.smoke(image).finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async smoke(image: GuestImageRef): Promise<AccelVerdict> {
    const dir = join(this.stateDir, 'accel-smoke');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    let verdict: AccelVerdict;
    let pid: number | undefined;
    try {
      if (this.owner) await chown(dir, this.owner.uid, this.owner.gid);
      await stageImage(image, dir, this.owner);
      const args = buildQemuArgs({ instanceId: 'i-00000000000000000', vcpus: 1, memoryMiB: 256, accel: 'kvm', hotplugSlots: 0, cmdline: image.cmdline });
      pid = (await launchQemu(dir, args, this.owner ? { owner: this.owner } : {})).pid;
      const deadline = Date.now() + SMOKE_DEADLINE_MS;
      let ok = false;
      while (Date.now() < deadline) {
        const text = await readFile(join(dir, INSTANCE_FILES.console), 'utf8').catch(() => '');
        if (text.includes(MARKERS.ready)) {
          ok = true;
          break;
        }
        if (!(await pidAlive(pid))) break;
        await sleep(100);
      }
      verdict = {
        accel: ok ? 'kvm' : 'tcg',
        reason: ok
          ? 'a KVM smoke boot reached the ready marker'
          : `a KVM smoke boot did not reach the ready marker${await readQemuLog(dir, 300).then((l) => (l.trim() ? `: ${l.trim().split('\n').pop() ?? ''}` : ''))}`,
        kernelRelease: release(),
        decidedAt: new Date().toISOString(),
      };
    } catch (e) {
      verdict = { accel: 'tcg', reason: `the KVM smoke boot failed: ${e instanceof Error ? e.message : String(e)}`, kernelRelease: release(), decidedAt: new Date().toISOString() };
    } finally {
      if (pid !== undefined) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await rm(dir, { recursive: true, force: true });
    }
    await writeFile(join(this.stateDir, 'accel.json'), `${JSON.stringify(verdict)}\n`, { mode: 0o600 });
    this.verdict = verdict;
    return verdict;
  }
}
