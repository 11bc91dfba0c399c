// host.status: what this host is and runs — identity, capacity, the controller process, each
// component with the signed bundle it runs, the security chip's state, and the hypervisor's
// facts and guests.
import { cpus, totalmem } from 'node:os';
import { currentFingerprint } from './host-state.js';
import type { ControllerParts } from './parts.js';
import type { HostStatusResult } from './protocol/commands.js';

export async function hostStatus(p: ControllerParts): Promise<HostStatusResult> {
  const identity = p.identity();
  const hv = await p.hypervisor.report();
  const info = hv.info;
  return {
    hostId: identity.hostId,
    enrolled: identity.enrolment !== undefined,
    fingerprint: currentFingerprint(identity),
    accel: info !== null ? info.accel : null,
    uptimeS: Math.round((Date.now() - p.started) / 1000),
    // Capacity the region schedules against: this machine's memory and CPUs.
    memoryMiB: Math.floor(totalmem() / (1024 * 1024)),
    vcpus: cpus().length,
    controller: { pid: process.pid, rssBytes: process.memoryUsage().rss, port: p.front.port, address: p.address, auditRecords: p.auditRecords() },
    // each with the version of the signed bundle it runs ('dev' when unsigned)
    components: [
      { ...p.hypervisor.supervisor.status(), version: p.chip.currentBundle('hypervisor')?.manifest.version ?? 'dev' },
      { ...p.ebs.supervisor.status(), version: p.chip.currentBundle('ebs-card')?.manifest.version ?? 'dev' },
      { ...p.vpc.supervisor.status(), version: p.chip.currentBundle('vpc-card')?.manifest.version ?? 'dev' },
    ],
    securityChip: p.chip.status(),
    // Which signed bundle each component runs, and what a rollback would return to (host.update).
    componentVersions: p.chip.versions(),
    hypervisor: info,
    instances: hv.instances,
    ...(hv.error ? { hypervisorError: hv.error } : {}),
  };
}
