// The region's certificate authority and its own client credential for the control
// channel. Hosts get certificates from this CA when they enrol; the region presents
// its client certificate (OU nitride-region) on every connection to a controller.
// Files live in $NITRIDE_HOME/region/pki (0700), keys 0600.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
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
