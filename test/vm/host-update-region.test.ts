// `nitride host update` through the region's API (NitrideUpdateHostComponent): SigV4, IAM, the
// region's audit trail before the host's, and the host's release policy kept in step so the
// updated host stays attested — with a real signed-mode controller and a guest writing and
// pinging (the LiveUpdateRig). Also the refusal of a tampered bundle with the host's own code,
// a rollback, and NitrideSetHostRelease with the output of `nitride release policy`.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { callRegion } from '../../src/cli/commands/host-component.js';
import { distEntry } from '../../src/lib/paths.js';
import { LiveUpdateRig } from '../live-update-rig.js';
import { COMPONENT_NAMES } from '../../src/security-chip/pcr.js';

function cli(home: string, args: readonly string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_') && !k.startsWith('NITRIDE_')) env[k] = v;
    const ch = spawn(process.execPath, [distEntry('cli/main.js'), ...args, '--home', home], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, NITRIDE_HOME: home } });
    let out = '';
    let err = '';
    ch.stdout.on('data', (d: Buffer) => (out += d.toString()));
    ch.stderr.on('data', (d: Buffer) => (err += d.toString()));
    ch.on('close', (code) => resolve({ code, out, err }));
  });
}

test('vm host update through the region API: audited, the host\'s release kept in step, refusals in the host\'s terms, rollback, release policy', { timeout: 1_800_000 }, async () => {
  const rig = await LiveUpdateRig.start({ log: (l) => void process.stderr.write(`[rig] ${l}\n`) });
  let ok = false;
  try {
    const home = rig.home;
    const trail = (): string => readFileSync(join(home, 'region', 'audit.log'), 'utf8');
    const hostLog = (): string => readFileSync(join(home, 'host', 'audit.log'), 'utf8');

    // Update the EBS card to B through the region.
    const up = await cli(home, ['host', 'update', '--component', 'ebs', '--bundle', rig.dir('B', 'ebs-card'), '--json']);
    assert.equal(up.code, 0, `${up.err}${up.out}`);
    const r = JSON.parse(up.out) as Record<string, string | boolean>;
    assert.equal(r['digest'], rig.bundles.B['ebs-card']!.digest, 'the host measured the bundle the region measured');
    assert.equal(r['version'], '2026.11.28-b');
    assert.equal(r['previousVersion'], '2026.11.28-a');
    assert.equal(r['attested'], true, 'the region attests the updated host under the release it derived');
    assert.equal((await rig.regionVerdict()).ok, true);
    const t = trail();
    const req = t.indexOf('NitrideUpdateHostComponent');
    assert.ok(req >= 0, 'the region audit trail records the call');
    assert.ok(hostLog().includes('"host.update"'), 'the host audit log records the command the region sent');

    // A tampered bundle: the host refuses with its own code, naming the file; B keeps running and attested.
    const tampered = join(home, 'rel', 'tampered-ebs');
    cpSync(rig.dir('B', 'ebs-card'), tampered, { recursive: true });
    appendFileSync(join(tampered, 'dist', 'src', 'ebs', 'card', 'main.js'), '\n// tampered\n');
    const bad = await cli(home, ['host', 'update', '--component', 'ebs', '--bundle', tampered]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /BundleFileMismatch: .*dist\/src\/ebs\/card\/main\.js/, bad.err);
    assert.equal((await rig.regionVerdict()).ok, true, 'the running version stays, and so does the region\'s view of it');

    // Rollback through the region: back to A and the release before.
    const back = await cli(home, ['host', 'update', '--component', 'ebs', '--rollback', '--json']);
    assert.equal(back.code, 0, `${back.err}${back.out}`);
    const b = JSON.parse(back.out) as Record<string, string | boolean>;
    assert.equal(b['digest'], rig.bundles.A['ebs-card'].digest);
    assert.equal(b['attested'], true);
    const again = await cli(home, ['host', 'update', '--component', 'ebs', '--rollback']);
    assert.equal(again.code, 1);
    assert.match(again.err, /IncorrectState/, 'one step back only');

    // NitrideSetHostRelease with what `nitride release policy --measurements` prints for A.
    const pol = spawnSync(process.execPath, [distEntry('cli/main.js'), 'release', 'policy', '--measurements', '--pubkey', rig.releasePubPath, '--release', 'ops-a', ...COMPONENT_NAMES.flatMap((n) => ['--bundle', rig.dir('A', n)])], { encoding: 'utf8' });
    assert.equal(pol.status, 0, pol.stderr);
    const creds = readFileSync(join(home, 'aws', 'credentials'), 'utf8');
    const api = { endpoint: rig.region!.endpoint, accessKeyId: /aws_access_key_id = (\S+)/.exec(creds)![1]!, secretAccessKey: /aws_secret_access_key = (\S+)/.exec(creds)![1]! };
    const set = await callRegion(api, { Action: 'NitrideSetHostRelease', HostId: rig.hostId, PolicyDocument: pol.stdout });
    assert.deepEqual([set['release'], set['attested']], ['ops-a', 'true']);
    await assert.rejects(callRegion(api, { Action: 'NitrideSetHostRelease', PolicyDocument: '{"release":"x"}' }), /InvalidParameterValue/);
    await assert.rejects(callRegion({ ...api, secretAccessKey: 'x'.repeat(40) }, { Action: 'NitrideUpdateHostComponent', Component: 'ebs', Rollback: 'true' }), /SignatureDoesNotMatch|AuthFailure/);

    // The guest never saw an I/O error through all of it.
    assert.ok(!/hu-io \d+ error/.test(rig.consoleText()), 'no guest I/O error');
    ok = true;
  } finally {
    if (!ok) process.stderr.write(rig.diagnostics());
    await rig.close();
  }
});
