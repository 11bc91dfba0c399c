// The region's certificate authority and its own client credential for the control
// channel. Hosts get certificates from this CA when they enrol; the region presents
// its client certificate (OU nitride-region) on every connection to a controller.
// Files live in $NITRIDE_HOME/region/pki (0700), keys 0600.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { createCa, generateKeyPair, issueCert, writeSecretFile, type CaMaterial } from '../lib/pki/pki.js';

export const REGION_ROLE = 'nitride-region';

export interface RegionPki {
  readonly ca: CaMaterial;
  readonly client: { readonly certPem: string; readonly keyPem: string };
}

export async function loadOrCreateRegionPki(home: string): Promise<RegionPki> {
  const dir = join(home, 'region', 'pki');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = (n: string): string => join(dir, n);
  if (!existsSync(f('ca.key')) || !existsSync(f('ca.crt'))) {
    const ca = await createCa('Nitride region CA');
    writeSecretFile(f('ca.key'), ca.keyPem);
    writeSecretFile(f('ca.crt'), ca.certPem);
  }
  const ca: CaMaterial = { certPem: readFileSync(f('ca.crt'), 'utf8'), keyPem: readFileSync(f('ca.key'), 'utf8') };
  if (!existsSync(f('region.key')) || !existsSync(f('region.crt'))) {
    const kp = generateKeyPair();
    const cert = await issueCert(ca, { subjectPublicKeyPem: kp.publicKeyPem, commonName: 'region', organizationalUnit: REGION_ROLE, usage: 'client', days: 825 });
    writeSecretFile(f('region.key'), kp.keyPem);
    writeSecretFile(f('region.crt'), cert);
  }
  return { ca, client: { certPem: readFileSync(f('region.crt'), 'utf8'), keyPem: readFileSync(f('region.key'), 'utf8') } };
}

/** The names the region's own server certificate covers: this machine, and HOST when given. */
const serverNames = (host?: string): { dnsNames: string[]; ipAddresses: string[] } => {
  const dnsNames = ['localhost'];
  const ipAddresses = ['127.0.0.1', '::1'];
  if (host !== undefined && host !== '0.0.0.0' && host !== '::' && host !== 'localhost' && !ipAddresses.includes(host)) (isIP(host) ? ipAddresses : dnsNames).push(host);
  return { dnsNames, ipAddresses };
};

/**
 * A fresh server certificate for the API's HTTPS (issued by the region CA on every start, so
 * its names follow the listen address): api.crt/api.key beside the CA. Clients trust ca.crt.
 */
export async function issueApiServerCert(home: string, pki: RegionPki, host?: string): Promise<{ certPem: string; keyPem: string }> {
  const kp = generateKeyPair();
  const certPem = await issueCert(pki.ca, { subjectPublicKeyPem: kp.publicKeyPem, commonName: 'nitride-region-api', organizationalUnit: 'nitride-region-api', usage: 'server', days: 825, ...serverNames(host) });
  const dir = join(home, 'region', 'pki');
  writeSecretFile(join(dir, 'api.key'), kp.keyPem);
  writeSecretFile(join(dir, 'api.crt'), certPem);
  return { certPem, keyPem: kp.keyPem };
}
