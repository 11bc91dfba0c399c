// `nitride release` and `nitride attest` run as real processes: keygen, build, verify,
// tamper refusals naming the file, the policy a release implies, and attestation
// verification against the CA, a policy, a nonce and an event log.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { distEntry } from '../../src/lib/paths.js';
import { createAttestationDocument } from '../../src/security-chip/attestation-document.js';
import { verifyBundle } from '../../src/security-chip/bundle.js';
import { measureBundle, measureHostConfig, measureReleaseKey } from '../../src/security-chip/measure.js';
import { PcrBank } from '../../src/security-chip/pcr.js';
import { makeHostIdentity, type HostIdentity } from '../../src/security-chip/testing/host-identity.js';

const CLI = distEntry('cli/main.js');
let dir: string;
let id: HostIdentity;

function cli(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.error, undefined, String(r.error));
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function srcTree(name: string, content: string): string {
  const root = join(dir, `src-${name}`);
  mkdirSync(join(root, 'dist', 'src', name), { recursive: true });
  writeFileSync(join(root, 'dist', 'src', name, 'main.js'), content);
  writeFileSync(join(root, 'dist', 'src', name, 'util.js'), `// ${name} util\n`);
  return root;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nitride-sc-cli-'));
  id = await makeHostIdentity('h-0aaaaaaaaaaaaaaaa');
  writeFileSync(join(dir, 'ca.pem'), id.ca.certPem);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('nitride release', () => {
  it('keygen writes a 0600 Ed25519 key and refuses to overwrite it', () => {
    const r = cli(['release', 'keygen', '--out', 'keys']);
    assert.equal(r.code, 0, r.err);
    assert.equal(statSync(join(dir, 'keys', 'release.key')).mode & 0o777, 0o600);
    assert.match(readFileSync(join(dir, 'keys', 'release.pub'), 'utf8'), /BEGIN PUBLIC KEY/);
    assert.equal(cli(['release', 'keygen', '--out', 'keys']).code, 2);
  });

  it('build with no --from bundles the compiled tree and runtime dependencies, and verify accepts it', () => {
    const r = cli(['release', 'build', '--component', 'controller', '--key', 'keys/release.key', '--out', 'controller-default']);
    assert.equal(r.code, 0, r.err);
    const m = JSON.parse(readFileSync(join(dir, 'controller-default', 'manifest.json'), 'utf8')) as { files: { path: string }[] };
    const paths = new Set(m.files.map((f) => f.path));
    for (const p of ['dist/src/controller/main.js', 'dist/src/hypervisor/main.js', 'dist/src/cli/main.js', 'package.json', 'node_modules/@peculiar/x509/package.json', 'node_modules/better-sqlite3/package.json']) assert.ok(paths.has(p), p);
    assert.ok(![...paths].some((p) => p.endsWith('.test.js') || p.includes('/testing/')), 'no tests in a release bundle');
    assert.ok(![...paths].some((p) => p.startsWith('node_modules/typescript/') || p.startsWith('node_modules/cbor-x/')), 'no dev dependencies');
    const v = cli(['release', 'verify', '--pubkey', 'keys/release.pub', '--bundle', 'controller-default', '--component', 'controller', '--json']);
    assert.equal(v.code, 0, v.err);
    const j = JSON.parse(v.out) as { ok: boolean; name: string; pcr: number };
    assert.deepEqual([j.ok, j.name, j.pcr], [true, 'controller', 1]);
  });

  it('verify refuses a changed file naming it, a missing file, an extra file, the wrong key and the wrong component', () => {
    for (const name of ['hypervisor', 'ebs-card', 'vpc-card'] as const) {
      const root = srcTree(name, `// ${name} v1\n`);
      const r = cli(['release', 'build', '--component', name, '--version', '1.0.0', '--root', root, '--from', 'dist/src', '--key', 'keys/release.key', '--out', `${name}-v1`]);
      assert.equal(r.code, 0, r.err);
    }
    cli(['release', 'build', '--component', 'hypervisor', '--version', '1.0.0', '--root', srcTree('hypervisor', '// hypervisor v1\n'), '--from', 'dist/src', '--key', 'keys/release.key', '--out', 'tampered']);
    assert.equal(cli(['release', 'verify', '--pubkey', 'keys/release.pub', '--bundle', 'tampered']).code, 0);

    writeFileSync(join(dir, 'tampered', 'dist', 'src', 'hypervisor', 'util.js'), '// hypervisor util with a debug port\n');
    let r = cli(['release', 'verify', '--pubkey', 'keys/release.pub', '--bundle', 'tampered']);
    assert.equal(r.code, 1);
    assert.match(r.err, /REFUSED BundleFileMismatch/);
    assert.match(r.err, /file: dist\/src\/hypervisor\/util\.js/);

    unlinkSync(join(dir, 'tampered', 'dist', 'src', 'hypervisor', 'util.js'));
    r = cli(['release', 'verify', '--pubkey', 'keys/release.pub', '--bundle', 'tampered']);
    assert.equal(r.code, 1);
    assert.match(r.err, /REFUSED BundleFileMissing.*\n\s+file: dist\/src\/hypervisor\/util\.js/);

    writeFileSync(join(dir, 'hypervisor-v1', 'dist', 'src', 'hypervisor', 'inject.js'), 'evil');
    r = cli(['release', 'verify', '--pubkey', 'keys/release.pub', '--bundle', 'hypervisor-v1']);
    assert.match(r.err, /REFUSED BundleExtraFile.*\n\s+file: dist\/src\/hypervisor\/inject\.js/);
    unlinkSync(join(dir, 'hypervisor-v1', 'dist', 'src', 'hypervisor', 'inject.js'));

    assert.equal(cli(['release', 'keygen', '--out', 'other-keys']).code, 0);
    r = cli(['release', 'verify', '--pubkey', 'other-keys/release.pub', '--bundle', 'hypervisor-v1']);
    assert.equal(r.code, 1);
    assert.match(r.err, /REFUSED BundleSignatureInvalid/);

    r = cli(['release', 'verify', '--pubkey', 'keys/release.pub', '--bundle', 'hypervisor-v1', '--component', 'vpc-card']);
    assert.equal(r.code, 1);
    assert.match(r.err, /REFUSED BundleWrongComponent/);

    // Re-signing after a change with the release key makes it valid again (sign reuses the manifest's name and version).
    writeFileSync(join(dir, 'tampered', 'dist', 'src', 'hypervisor', 'util.js'), '// hypervisor util v1.0.1\n');
    r = cli(['release', 'sign', '--key', 'keys/release.key', '--bundle', 'tampered']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /hypervisor 1\.0\.0/);
    assert.equal(cli(['release', 'verify', '--pubkey', 'keys/release.pub', '--bundle', 'tampered']).code, 0);
  });
});

describe('nitride attest verify', () => {
  let policyPath: string;
  let bank: PcrBank;

  before(async () => {
    const r = cli(['release', 'policy', '--pubkey', 'keys/release.pub', '--release', 'r1', '--bundle', 'controller-default', '--bundle', 'hypervisor-v1', '--bundle', 'ebs-card-v1', '--bundle', 'vpc-card-v1', '--out', 'policy.json']);
    assert.equal(r.code, 0, r.err);
    policyPath = join(dir, 'policy.json');
    const pub = readFileSync(join(dir, 'keys', 'release.pub'), 'utf8');
    bank = new PcrBank();
    measureHostConfig(bank, { hostId: 'h-0aaaaaaaaaaaaaaaa' });
    for (const b of ['controller-default', 'hypervisor-v1', 'ebs-card-v1', 'vpc-card-v1']) {
      const v = await verifyBundle(join(dir, b), pub);
      if (b === 'controller-default') measureReleaseKey(bank, v.releaseKeyDigest);
      measureBundle(bank, v);
    }
    writeFileSync(join(dir, 'events.json'), JSON.stringify(bank.events()));
  });

  function doc(name: string, extra: { nonce?: Buffer; pcrs?: PcrBank } = {}): string {
    const d = createAttestationDocument({
      hostKeyPem: id.hostKeyPem,
      hostCertPem: id.hostCertPem,
      caChainPem: [id.ca.certPem],
      moduleId: 'h-0aaaaaaaaaaaaaaaa',
      pcrs: (extra.pcrs ?? bank).values(),
      ...(extra.nonce ? { nonce: extra.nonce } : {}),
    });
    writeFileSync(join(dir, name), d);
    return name;
  }

  it('accepts a matching document (raw or base64) with policy, nonce and event log', () => {
    const policy = JSON.parse(readFileSync(policyPath, 'utf8')) as { release: string; pcrs: Record<string, string> };
    assert.deepEqual(Object.keys(policy.pcrs).sort(), ['1', '2', '3', '4', '7']);
    const nonce = Buffer.alloc(32, 0x5a);
    const f = doc('good.cbor', { nonce });
    let r = cli(['attest', 'verify', '--doc', f, '--ca', 'ca.pem', '--policy', 'policy.json', '--nonce', nonce.toString('hex'), '--event-log', 'events.json']);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /^OK attestation of h-0aaaaaaaaaaaaaaaa/);
    assert.match(r.out, /policy: release r1, PCR 1, 2, 3, 4, 7 match/);
    assert.match(r.out, /event log: replays/);
    writeFileSync(join(dir, 'good.b64'), readFileSync(join(dir, f)).toString('base64'));
    r = cli(['attest', 'verify', '--doc', 'good.b64', '--ca', 'ca.pem', '--json']);
    assert.equal(r.code, 0, r.out + r.err);
    assert.equal((JSON.parse(r.out) as { pcrs: Record<string, string> }).pcrs['1'], bank.value(1).toString('hex'));
  });

  it('prints precisely which PCRs differ from the policy', () => {
    const evil = new PcrBank();
    for (const e of bank.events()) evil.extend(e.pcrIndex, e.pcrIndex === 2 ? 'ee'.repeat(48) : e.digest, e.description);
    const f = doc('evil.cbor', { pcrs: evil });
    const policy = JSON.parse(readFileSync(policyPath, 'utf8')) as { pcrs: Record<string, string> };
    let r = cli(['attest', 'verify', '--doc', f, '--ca', 'ca.pem', '--policy', 'policy.json']);
    assert.equal(r.code, 1);
    assert.match(r.out, /^REFUSED AttestationPcrMismatch: The attested values of PCR 2 differ/);
    assert.ok(r.out.includes(`PCR 2: expected ${policy.pcrs['2']}`), r.out);
    assert.ok(r.out.includes(`actual   ${evil.value(2).toString('hex')}`), r.out);
    r = cli(['attest', 'verify', '--doc', f, '--ca', 'ca.pem', '--policy', 'policy.json', '--json']);
    assert.equal(r.code, 1);
    const j = JSON.parse(r.out) as { ok: boolean; code: string; release: string; mismatches: { pcr: number; expected: string; actual: string }[] };
    assert.deepEqual(j.mismatches, [{ pcr: 2, expected: policy.pcrs['2'], actual: evil.value(2).toString('hex') }]);
    assert.equal(j.release, 'r1');
  });

  it('refuses a wrong nonce, a wrong CA, a tampered document and a tampered event log', async () => {
    const f = doc('nonce.cbor', { nonce: Buffer.alloc(32, 1) });
    let r = cli(['attest', 'verify', '--doc', f, '--ca', 'ca.pem', '--nonce', '02'.repeat(32)]);
    assert.equal(r.code, 1);
    assert.match(r.out, /REFUSED AttestationNonceMismatch/);

    const other = await makeHostIdentity();
    writeFileSync(join(dir, 'other-ca.pem'), other.ca.certPem);
    r = cli(['attest', 'verify', '--doc', f, '--ca', 'other-ca.pem']);
    assert.equal(r.code, 1);
    assert.match(r.out, /REFUSED AttestationCertUntrusted/);

    const bytes = readFileSync(join(dir, f));
    bytes[bytes.length - 5] = (bytes[bytes.length - 5] ?? 0) ^ 0xff; // inside the signature
    writeFileSync(join(dir, 'flipped.cbor'), bytes);
    r = cli(['attest', 'verify', '--doc', 'flipped.cbor', '--ca', 'ca.pem']);
    assert.equal(r.code, 1);
    assert.match(r.out, /REFUSED AttestationSignatureInvalid/);

    writeFileSync(join(dir, 'junk.cbor'), Buffer.from([0xd2, 0x84, 0x40]));
    r = cli(['attest', 'verify', '--doc', 'junk.cbor', '--ca', 'ca.pem']);
    assert.equal(r.code, 1);
    assert.match(r.out, /REFUSED AttestationMalformed/);

    const events = JSON.parse(readFileSync(join(dir, 'events.json'), 'utf8')) as { pcrIndex: number; digest: string }[];
    (events[2] as { digest: string }).digest = 'ab'.repeat(48);
    writeFileSync(join(dir, 'events-bad.json'), JSON.stringify(events));
    r = cli(['attest', 'verify', '--doc', doc('plain.cbor'), '--ca', 'ca.pem', '--event-log', 'events-bad.json']);
    assert.equal(r.code, 1);
    assert.match(r.out, /REFUSED EventLogMismatch/);
    assert.match(r.out, /PCR \d+: expected/);
  });
});
