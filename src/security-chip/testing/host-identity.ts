// Test fixtures: a region CA and a host identity (P-384 key + certificate issued by the CA),
// made with the same PKI code the region uses at enrolment.
import { createCa, generateKeyPair, issueCert, type CaMaterial } from '../../lib/pki/pki.js';

export interface HostIdentity {
  readonly ca: CaMaterial;
  readonly hostKeyPem: string;
  readonly hostCertPem: string;
}

export async function makeHostIdentity(hostId = 'h-0123456789abcdef0', opts: { days?: number } = {}): Promise<HostIdentity> {
  const ca = await createCa('Nitride region CA');
  const kp = generateKeyPair();
  const hostCertPem = await issueCert(ca, { subjectPublicKeyPem: kp.publicKeyPem, commonName: hostId, organizationalUnit: 'nitride-host', usage: 'both', days: opts.days ?? 30 });
  return { ca, hostKeyPem: kp.keyPem, hostCertPem };
}
