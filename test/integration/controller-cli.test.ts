// The `nitride host` and `nitride controller` command lines, run as real processes.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { enrollHost } from '../../src/controller/client.js';
import { ROLE_OPERATOR } from '../../src/controller/dispatcher.js';
import { hostPaths, readRuntime } from '../../src/controller/host-state.js';
import { childPids, makeRegion, readToken } from '../../src/controller/testing/fixtures.js';
import { SUBCOMMANDS } from '../../src/cli/commands/host.js';
import { distEntry } from '../../src/lib/paths.js';
import { writeSecretFile } from '../../src/lib/pki/pki.js';
import { waitFor } from '../../src/lib/wait.js';

const CLI = distEntry('cli/main.js');
const FORBIDDEN = /shell|exec|ssh|debug|memory|attach|login|gdb/;

function cli(args: string[], home: string): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, NITRIDE_HOME: home }, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('nitride host has no shell, exec, ssh, debug or memory subcommand', () => {
  const home = mkdtempSync(join(tmpdir(), 'nitride-cli-'));
  try {
    for (const name of Object.keys(SUBCOMMANDS)) assert.doesNotMatch(name, FORBIDDEN);
    const help = cli(['host', 'help'], home);
    assert.equal(help.code, 0);
    const listed = help.out.split('\n').filter((l) => /^ {2}\S/.test(l)).map((l) => l.trim().split(/\s+/)[0]);
    assert.deepEqual(listed.sort(), Object.keys(SUBCOMMANDS).sort());
    for (const bad of ['shell', 'exec', 'ssh', 'debug', 'memory']) {
      const r = cli(['host', bad], home);
      assert.equal(r.code, 2, `host ${bad} is refused`);
      assert.match(r.err, /unknown subcommand/);
    }
    const top = cli(['--help'], home);
    const topListed = top.out.split('\n').filter((l) => /^ {2}\S/.test(l)).map((l) => l.trim().split(/\s+/)[0] ?? '');
    assert.ok(topListed.includes('host') && topListed.includes('controller'), top.out);
    for (const name of topListed) assert.doesNotMatch(name, FORBIDDEN);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('host init, enroll-token and status; controller run through the CLI; status asks the controller with an operator credential', { timeout: 90_000 }, async () => {
  const home = mkdtempSync(join(tmpdir(), 'nitride-cli-'));
  let proc: ReturnType<typeof spawn> | undefined;
  let out = '';
  try {
    const init = cli(['host', 'init', '--json'], home);
    assert.equal(init.code, 0, init.err);
    const { hostId, enrolled } = JSON.parse(init.out) as { hostId: string; enrolled: boolean };
    assert.match(hostId, /^h-[0-9a-f]{17}$/);
    assert.equal(enrolled, false);
    assert.equal(JSON.parse(cli(['host', 'init', '--json'], home).out).hostId, hostId, 'idempotent');
    const tok = cli(['host', 'enroll-token'], home);
    assert.equal(tok.code, 0);
    assert.equal(tok.out.trim(), readToken(home));
    const st0 = cli(['host', 'status'], home);
    assert.equal(st0.code, 0, st0.err);
    assert.match(st0.out, /enrolled\s+no/);
    assert.match(st0.out, /controller\s+not running/);

    proc = spawn(process.execPath, [CLI, 'controller', 'run', '--home', home, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const started = proc;
    await waitFor('the controller to write its runtime record', () => readRuntime(home)?.pid === started.pid, 20_000, 50);
    const port = readRuntime(home)?.port ?? 0;
    const region = await makeRegion();
    const enr = await enrollHost({ address: '127.0.0.1', port, token: tok.out.trim(), ca: region.ca, bootstrapFingerprint: JSON.parse(cli(['host', 'status', '--json'], home).out).certificateFingerprint });
    assert.equal(enr.hostId, hostId);
    const noToken = cli(['host', 'enroll-token'], home);
    assert.equal(noToken.code, 1);
    assert.match(noToken.err, /already enrolled/);

    const st1 = JSON.parse(cli(['host', 'status', '--json'], home).out) as { enrolled: boolean; controller: { pid: number }; live: unknown; audit: { ok: boolean } };
    assert.equal(st1.enrolled, true);
    assert.equal(st1.controller.pid, proc.pid);
    assert.equal(st1.live, null, 'no operator credential yet');
    assert.equal(st1.audit.ok, true);

    const op = await makeRegion(ROLE_OPERATOR, region.ca);
    mkdirSync(hostPaths(home).operatorDir, { mode: 0o700 });
    writeSecretFile(join(hostPaths(home).operatorDir, 'cert.pem'), op.certPem);
    writeSecretFile(join(hostPaths(home).operatorDir, 'key.pem'), op.keyPem);
    const st2 = JSON.parse(cli(['host', 'status', '--json'], home).out) as { live: { hostId: string; components: { name: string }[] } };
    assert.equal(st2.live.hostId, hostId, JSON.stringify(st2));
    assert.equal(st2.live.components[0]?.name, 'hypervisor');

    const hv = childPids(proc.pid ?? 0);
    // The controller's children are its components: the hypervisor and the cards.
    const cmdlines = hv.map((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
    assert.ok(cmdlines.some((c) => c.includes('hypervisor/main.js')), cmdlines.join('\n'));
    assert.ok(cmdlines.some((c) => c.includes('vpc/main.js')), cmdlines.join('\n'));
    assert.ok(cmdlines.every((c) => /hypervisor\/main\.js|vpc\/main\.js|ebs\/card\/main\.js/.test(c)), `only components: ${cmdlines.join('\n')}`);
    const exited = new Promise<number | null>((r) => proc?.once('exit', (c) => r(c)));
    proc.kill('SIGTERM');
    assert.equal(await exited, 0);
    proc = undefined;
    const alive = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await waitFor('every component to exit with the controller', () => hv.every((pid) => !alive(pid)), 10_000, 50);
  } catch (e) {
    process.stderr.write(`--- controller output ---\n${out}\n`);
    throw e;
  } finally {
    proc?.kill('SIGKILL');
    rmSync(home, { recursive: true, force: true });
  }
});
