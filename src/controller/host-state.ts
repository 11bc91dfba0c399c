// The controller's files under $NITRIDE_HOME/host (0700):
//   host.key        the host's P-384 private key (0600), made once
//   host-id         the host's id (h- + 17 hex digits), or the one the region gave at enrolment
//   bootstrap.pem   self-signed certificate served before enrolment
//   enroll-token    one-time enrolment secret (0600), deleted when enrolment completes
//   cert.pem        the host certificate issued by the region's CA (after enrolment)
//   ca.pem          the region's CA certificate (after enrolment)
//   audit.log       the hash-chained host audit log
//   controller.json {port, pid, hostId, fingerprint, address} of the running controller
//   hypervisor/     the hypervisor component's state directory
//   operator/       optional client credential for local tools: cert.pem, key.pem (0600), ca.pem
import { randomBytes } from 'node:crypto';
import { letComponentSearch } from '../lib/privileges.js';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSelfSigned, fingerprint, generateKeyPair, writeSecretFile } from '../lib/pki/pki.js';

export interface HostPaths {
  readonly dir: string;
  readonly key: string;
  readonly hostId: string;
  readonly bootstrapCert: string;
  readonly token: string;
  readonly cert: string;
  readonly ca: string;
  readonly audit: string;
  readonly runtime: string;
  readonly hypervisorDir: string;
  readonly operatorDir: string;
}

export function hostPaths(home: string): HostPaths {
  const dir = join(home, 'host');
  return {
    dir,
    key: join(dir, 'host.key'),
    hostId: join(dir, 'host-id'),
    bootstrapCert: join(dir, 'bootstrap.pem'),
    token: join(dir, 'enroll-token'),
    cert: join(dir, 'cert.pem'),
    ca: join(dir, 'ca.pem'),
    audit: join(dir, 'audit.log'),
    runtime: join(dir, 'controller.json'),
    hypervisorDir: join(dir, 'hypervisor'),
    operatorDir: join(dir, 'operator'),
  };
}

export interface HostIdentity {
  readonly hostId: string;
  readonly keyPem: string;
  readonly bootstrapCertPem: string;
  /** Present until enrolment completes. */
  readonly token: string | undefined;
  /** Present after enrolment. */
  readonly enrolment: { readonly certPem: string; readonly caPem: string } | undefined;
}

export interface RuntimeInfo {
  readonly port: number;
  readonly address: string;
  readonly pid: number;
  readonly hostId: string;
  readonly fingerprint: string;
  readonly enrolled: boolean;
}

function mkdir0700(p: string): void {
  mkdirSync(p, { recursive: true, mode: 0o700 });
  chmodSync(p, 0o700);
}

/**
 * Makes what is missing — directory, host key, host id, bootstrap certificate and, while
 * not enrolled, an enrolment token — and returns the host's identity. Idempotent.
 */
export async function initHost(home: string, opts: { bootstrapIps?: readonly string[] } = {}): Promise<HostIdentity> {
  const p = hostPaths(home);
  mkdir0700(p.dir);
  mkdir0700(p.hypervisorDir);
  // the EBS card's user searches both on its way to the instance directories (src/lib/privileges.ts)
  letComponentSearch('ebs', p.dir);
  letComponentSearch('ebs', p.hypervisorDir);
  if (!existsSync(p.key)) writeSecretFile(p.key, generateKeyPair().keyPem);
  chmodSync(p.key, 0o600);
  const keyPem = readFileSync(p.key, 'utf8');
  if (!existsSync(p.hostId)) writeFileSync(p.hostId, `h-${randomBytes(9).toString('hex').slice(0, 17)}\n`, { mode: 0o600 });
  const hostId = readFileSync(p.hostId, 'utf8').trim();
  if (!existsSync(p.bootstrapCert)) {
    writeFileSync(p.bootstrapCert, await createSelfSigned(keyPem, `${hostId} bootstrap`, { dnsNames: [hostId, 'localhost'], ipAddresses: [...(opts.bootstrapIps ?? ['127.0.0.1'])] }), { mode: 0o600 });
  }
  const bootstrapCertPem = readFileSync(p.bootstrapCert, 'utf8');
  const enrolled = existsSync(p.cert) && existsSync(p.ca);
  if (!enrolled && !existsSync(p.token)) writeSecretFile(p.token, `${randomBytes(32).toString('base64url')}\n`);
  return {
    hostId,
    keyPem,
    bootstrapCertPem,
    token: enrolled ? undefined : readFileSync(p.token, 'utf8').trim(),
    enrolment: enrolled ? { certPem: readFileSync(p.cert, 'utf8'), caPem: readFileSync(p.ca, 'utf8') } : undefined,
  };
}

/** Stores the CA-issued certificate, adopts the region's host id, and deletes the token. */
export function saveEnrolment(home: string, e: { hostId: string; certPem: string; caPem: string }): void {
  const p = hostPaths(home);
  writeFileSync(p.ca, e.caPem, { mode: 0o600 });
  writeFileSync(p.hostId, `${e.hostId}\n`, { mode: 0o600 });
  writeFileSync(p.cert, e.certPem, { mode: 0o600 }); // written last: its presence means "enrolled"
  rmSync(p.token, { force: true });
}

export function writeRuntime(home: string, info: RuntimeInfo): void {
  const p = hostPaths(home);
  const tmp = `${p.runtime}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(info)}\n`, { mode: 0o600 });
  renameSync(tmp, p.runtime); // atomic: readers never see half a file
}

export function readRuntime(home: string): RuntimeInfo | undefined {
  try {
    return JSON.parse(readFileSync(hostPaths(home).runtime, 'utf8')) as RuntimeInfo;
  } catch {
    return undefined;
  }
}

export function currentFingerprint(id: HostIdentity): string {
  return fingerprint(id.enrolment?.certPem ?? id.bootstrapCertPem);
}
