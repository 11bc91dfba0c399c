// A real controller process in a temporary home, with this test acting as the region:
// enrolment, mTLS refusals, command validation, idempotence and replay, supervision of the
// real hypervisor, the audit log, and a census of sockets proving the controller never
// opened a connection of its own.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readChain, verifyChainText } from '../../src/audit/chain.js';
import { ControllerClient, enrollHost } from '../../src/controller/client.js';
import { ROLE_OPERATOR } from '../../src/controller/dispatcher.js';
import { hostPaths, readRuntime } from '../../src/controller/host-state.js';
import { buildCommand } from '../../src/controller/signing.js';
import { childPids, makeRegion, percentile, readToken, startController, watchForOutbound, type ControllerProcess } from '../../src/controller/testing/fixtures.js';
import { fingerprint } from '../../src/lib/pki/pki.js';
import { waitFor } from '../../src/lib/wait.js';
import { componentIds } from '../../src/lib/privileges.js';

interface AuditEvent {
  type: string;
  id?: string | null;
  command?: string | null;
  error?: string;
  [k: string]: unknown;
}

function auditEvents(home: string): AuditEvent[] {
  return readChain<AuditEvent>(hostPaths(home).audit).map((r) => r.event);
}

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: { code?: string }) => {
    assert.equal(e.code, code);
    return true;
  });
}

/** A TLS request that presents the given client credential (or none). Resolves with the status or rejects with the TLS error. */
function rawRequest(port: number, caPem: string, cred: { certPem: string; keyPem: string } | undefined, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/command',
        method: 'POST',
        agent: false,
        ca: caPem,
        minVersion: 'TLSv1.3',
        checkServerIdentity: () => undefined,
        ...(cred ? { cert: cred.certPem, key: cred.keyPem } : {}),
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('controller: enrolment, mTLS, typed signed commands, audit, supervision, no outbound connection', { timeout: 180_000 }, async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'nitride-ctl-'));
  let ctl: ControllerProcess | undefined;
  let client: ControllerClient | undefined;
  const clients: ControllerClient[] = [];
  let watcher: ReturnType<typeof watchForOutbound> | undefined;
  try {
    ctl = await startController(home);
    const c0 = ctl;
    const port = c0.runtime.port;
    watcher = watchForOutbound(() => ({ controller: c0.proc.pid, others: childPids(c0.proc.pid ?? 0) }), port);
    const region = await makeRegion();
    let hostId = '';

    await t.test('first start: host key, token and bootstrap certificate with tight modes', () => {
      const p = hostPaths(home);
      // as root: searchable (not listable) by the EBS card's group on its way to the instance directories
      const ebs = process.getuid?.() === 0 ? componentIds('ebs') : undefined;
      for (const d of [p.dir, p.hypervisorDir]) assert.deepEqual([statSync(d).mode & 0o777, ebs ? statSync(d).gid : undefined], [ebs ? 0o710 : 0o700, ebs?.gid]);
      assert.equal(statSync(p.key).mode & 0o777, 0o600);
      assert.equal(statSync(p.key).uid, process.getuid?.());
      assert.equal(statSync(p.token).mode & 0o777, 0o600);
      const rt = readRuntime(home);
      assert.equal(rt?.enrolled, false);
      assert.equal(rt?.fingerprint, fingerprint(readFileSync(p.bootstrapCert, 'utf8')));
    });

    await t.test('before enrolment only /v1/enroll is served, and a wrong token is refused', async () => {
      const status = await rawRequest(port, region.ca.certPem, undefined, '{}').catch(() => -1);
      assert.equal(status, -1, 'the bootstrap certificate is not trusted by a client that trusts only the region CA');
      await expectCode(enrollHost({ address: '127.0.0.1', port, token: 'wrong', ca: region.ca }), 'EnrollmentTokenInvalid');
      await expectCode(enrollHost({ address: '127.0.0.1', port, token: readToken(home), ca: region.ca, bootstrapFingerprint: 'ab'.repeat(32) }), 'EnrollmentFailed');
    });

    await t.test('enrolment with the token; the token is then gone and mTLS is required', async () => {
      const token = readToken(home);
      const r = await enrollHost({ address: '127.0.0.1', port, token, ca: region.ca, hostId: 'h-test-1', bootstrapFingerprint: c0.runtime.fingerprint });
      hostId = r.hostId;
      assert.equal(hostId, 'h-test-1');
      assert.equal(existsSync(hostPaths(home).token), false);
      assert.equal(readRuntime(home)?.enrolled, true);
      assert.equal(readRuntime(home)?.fingerprint, r.fingerprint);
      await expectCode(enrollHost({ address: '127.0.0.1', port, token, ca: region.ca }), 'ControllerUnreachable'); // no client cert: TLS refuses
      client = new ControllerClient({ address: '127.0.0.1', port, caPem: region.ca.certPem, certPem: region.certPem, keyPem: region.keyPem, hostId });
      clients.push(client);
    });
    assert.ok(client);
    const cl = client;

    await t.test('host.status over mTLS', async () => {
      const st = await cl.send('host.status', {});
      assert.equal(st['hostId'], hostId);
      assert.equal(st['enrolled'], true);
      assert.ok(st['accel'] === 'kvm' || st['accel'] === 'tcg', `accel: ${String(st['accel'])}`);
      assert.equal(st.components[0]?.name, 'hypervisor');
      assert.equal(st.components[0]?.state, 'running');
      assert.ok(Array.isArray(st['instances']));
      const times: number[] = [];
      for (let i = 0; i < 40; i++) {
        const a = performance.now();
        await cl.send('host.status', {});
        times.push(performance.now() - a);
      }
      const rss = ((await cl.send('host.status', {})) as { controller: { rssBytes: number } }).controller.rssBytes;
      t.diagnostic(`host.status over mTLS: p50 ${percentile(times, 50).toFixed(1)} ms, p90 ${percentile(times, 90).toFixed(1)} ms; controller RSS ${(rss / 1048576).toFixed(1)} MiB`);
    });

    await t.test('a client without a certificate is refused at TLS and audited', async () => {
      const before = auditEvents(home).filter((e) => e.type === 'tls.refused').length;
      await assert.rejects(rawRequest(port, region.ca.certPem, undefined, JSON.stringify(buildCommand('host.status', {}, region.keyPem))));
      const after = await waitFor('a tls.refused record to be appended', () => {
        const all = auditEvents(home).filter((e) => e.type === 'tls.refused');
        return all.length > before ? all : undefined;
      }, 10_000, 20);
      assert.ok(after.slice(before).some((e) => e.error === 'ClientCertificateRequired' && (e['source'] as { address?: string }).address === '127.0.0.1'));
    });

    await t.test('a certificate from another CA is refused at TLS and audited with its fingerprint', async () => {
      const stranger = await makeRegion();
      const before = auditEvents(home).filter((e) => e.type === 'tls.refused').length;
      await assert.rejects(rawRequest(port, region.ca.certPem, stranger, JSON.stringify(buildCommand('host.status', {}, stranger.keyPem))));
      const sc = new ControllerClient({ address: '127.0.0.1', port, caPem: region.ca.certPem, certPem: stranger.certPem, keyPem: stranger.keyPem, hostId, retries: 0 });
      clients.push(sc);
      await expectCode(sc.send('host.status', {}), 'ControllerUnreachable');
      await waitFor('a tls.refused record naming the stranger\'s certificate', () =>
        auditEvents(home).filter((e) => e.type === 'tls.refused').slice(before).some((e) => e.error === 'ClientCertificateUntrusted' && e['offeredCertFingerprint'] === fingerprint(stranger.certPem)),
      10_000, 20);
    });

    await t.test('malformed, unknown, wrong-version, badly signed, stale and future commands are refused with clear errors', async () => {
      const cases: [string, string | Buffer, number, string][] = [
        ['not JSON', '{"v":1,', 400, 'MalformedCommand'],
        ['not an object', '[1,2]', 400, 'MalformedCommand'],
        ['unknown type', JSON.stringify(buildCommand('host.shell', {}, region.keyPem)), 400, 'UnknownCommandType'],
        ['bad version', JSON.stringify(buildCommand('host.status', {}, region.keyPem, { v: 2 })), 400, 'UnsupportedVersion'],
        ['bad params', JSON.stringify(buildCommand('instance.describe', { instanceId: '../../etc' }, region.keyPem)), 400, 'InvalidParameter'],
        ['stale', JSON.stringify(buildCommand('host.status', {}, region.keyPem, { issuedAt: new Date(Date.now() - 6 * 60_000) })), 403, 'CommandExpired'],
        ['future', JSON.stringify(buildCommand('host.status', {}, region.keyPem, { issuedAt: new Date(Date.now() + 3 * 60_000) })), 403, 'CommandFromFuture'],
      ];
      const other = await makeRegion(undefined, region.ca);
      cases.push(['signed by another key', JSON.stringify(buildCommand('host.status', {}, other.keyPem)), 403, 'SignatureInvalid']);
      const tampered = buildCommand('instance.list', {}, region.keyPem);
      cases.push(['tampered after signing', JSON.stringify({ ...tampered, type: 'host.status' }), 403, 'SignatureInvalid']);
      for (const [what, body, status, code] of cases) {
        const r = await cl.postRaw(body);
        assert.equal(r.status, status, `${what}: status`);
        const err = (r.body as { ok: boolean; error: { code: string; kind: string; message: string } }).error;
        assert.equal((r.body as { ok: boolean }).ok, false, what);
        assert.equal(err.code, code, `${what}: code`);
        assert.ok(err.message.length > 10, `${what}: message`);
      }
      const refused = auditEvents(home).filter((e) => e.type === 'command.refused').map((e) => e.error);
      for (const [, , , code] of cases) assert.ok(refused.includes(code), `audit has a refusal ${code}`);
    });

    await t.test('seeded random bodies get clean 4xx refusals and the controller stays up', async () => {
      let seed = 42;
      const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
      const valid = JSON.stringify(buildCommand('instance.list', {}, region.keyPem));
      for (let i = 0; i < 120; i++) {
        let body: Buffer;
        if (i % 3 === 0) body = Buffer.from(Array.from({ length: rnd(300) }, () => rnd(256)));
        else {
          // mutate a valid command: flip, drop or duplicate characters
          const chars = [...valid];
          for (let k = 0; k < 1 + rnd(6); k++) {
            const at = rnd(chars.length);
            const op = rnd(3);
            if (op === 0) chars[at] = String.fromCharCode(32 + rnd(95));
            else if (op === 1) chars.splice(at, 1);
            else chars.splice(at, 0, chars[at] ?? '');
          }
          body = Buffer.from(chars.join(''));
        }
        if (body.toString('utf8') === valid) continue; // a no-op mutation
        const r = await cl.postRaw(body);
        assert.ok(r.status >= 400 && r.status < 500, `status ${r.status} for body ${body.toString('utf8').slice(0, 200)}`);
        assert.equal((r.body as { ok: boolean }).ok, false);
      }
      assert.equal(((await cl.send('host.status', {})) as { hostId: string }).hostId, hostId);
    });

    await t.test('a repeated id returns the first reply without re-executing; a reused id with other content is refused', async () => {
      const id = randomUUID();
      const env = buildCommand('host.restart-component', { component: 'hypervisor' }, region.keyPem, { id });
      const a = await cl.sendEnvelope(env);
      const b = await cl.sendEnvelope(env);
      assert.equal(a.status, 200);
      assert.deepEqual(b.body, a.body);
      const accepted = auditEvents(home).filter((e) => e.type === 'command.accepted' && e.id === id);
      assert.equal(accepted.length, 1, 'executed once');
      assert.equal(auditEvents(home).filter((e) => e.type === 'command.duplicate' && e.id === id).length, 1);
      const reused = await cl.postRaw(JSON.stringify(buildCommand('host.status', {}, region.keyPem, { id })));
      assert.equal(reused.status, 409);
      assert.equal((reused.body as { error: { code: string } }).error.code, 'CommandIdReused');
    });

    await t.test('host.restart-component restarts the hypervisor; a crashed hypervisor is restarted too', async () => {
      const s1 = (await cl.send('host.status', {})) as { components: { pid: number; restarts: number }[] };
      const r = (await cl.send('host.restart-component', { component: 'hypervisor' })) as { pid: number; restarts: number };
      assert.notEqual(r.pid, s1.components[0]?.pid);
      assert.equal(r.restarts, (s1.components[0]?.restarts ?? 0) + 1);
      process.kill(r.pid, 'SIGKILL');
      const s2 = await waitFor('the hypervisor to run again under a new pid', async () => {
        const s = (await cl.send('host.status', {})) as { components: { pid: number; restarts: number; state: string }[] };
        return s.components[0]?.pid !== r.pid && s.components[0]?.state === 'running' ? s : undefined;
      }, 20_000, 200);
      assert.notEqual(s2.components[0]?.pid, r.pid);
      assert.equal(s2.components[0]?.restarts, r.restarts + 1);
      // it answers again
      assert.ok(Array.isArray(await cl.send('instance.list', {})));
      const ev = auditEvents(home);
      assert.ok(ev.some((e) => e.type === 'component.exited' && e['signal'] === 'SIGKILL'));
    });

    await t.test("the hypervisor's errors come back as the controller's errors", async () => {
      await assert.rejects(cl.send('instance.describe', { instanceId: 'i-0000000000000dead' }), (e: { kind?: string; code?: string; context?: Record<string, unknown> }) => {
        assert.equal(e.kind, 'not-found');
        assert.equal(e.context?.['status'], 404);
        assert.equal(e.context?.['component'], 'hypervisor');
        return true;
      });
    });

    await t.test('the read-only operator role may read but not act', async () => {
      const op = await makeRegion(ROLE_OPERATOR, region.ca);
      const oc = new ControllerClient({ address: '127.0.0.1', port, caPem: region.ca.certPem, certPem: op.certPem, keyPem: op.keyPem, hostId });
      clients.push(oc);
      assert.equal(((await oc.send('host.status', {})) as { hostId: string }).hostId, hostId);
      await expectCode(oc.send('instance.terminate', { instanceId: 'i-0000000000000dead' }), 'Forbidden');
    });

    await t.test('the audit log verifies and holds every command', () => {
      const text = readFileSync(hostPaths(home).audit, 'utf8');
      const v = verifyChainText(text);
      assert.ok(v.ok, JSON.stringify(v));
      const ev = auditEvents(home);
      const accepted = ev.filter((e) => e.type === 'command.accepted');
      const results = new Set(ev.filter((e) => e.type === 'command.result').map((e) => e.id));
      assert.ok(accepted.length >= 45);
      for (const a of accepted) assert.ok(results.has(a.id), `outcome recorded for ${String(a.id)}`);
      for (const e of accepted) assert.ok(e['principal'] && (e['source'] as { address: string }).address === '127.0.0.1');
      assert.equal(statSync(hostPaths(home).audit).mode & 0o777, 0o600);
    });

    await t.test('after a controller restart it is still enrolled and a command it already ran is not run again', async () => {
      const id = randomUUID();
      const env = buildCommand('instance.list', {}, region.keyPem, { id });
      assert.equal((await cl.sendEnvelope(env)).status, 200);
      const w = watcher?.stop();
      assert.ok(w && w.samples > 20, 'the socket census ran');
      assert.ok(w.listenerSeen > 0 && w.acceptedSeen > 0, `the census saw the listener and accepted connections: ${JSON.stringify({ ...w, violations: w.violations.length })}`);
      assert.deepEqual(w.violations, [], 'no socket other than the listener and accepted connections');
      watcher = undefined;
      cl.close();
      await c0.stop();
      ctl = await startController(home, { port });
      const c1 = ctl;
      watcher = watchForOutbound(() => ({ controller: c1.proc.pid, others: childPids(c1.proc.pid ?? 0) }), port);
      assert.equal(ctl.runtime.enrolled, true);
      assert.equal(ctl.runtime.port, port);
      const again = await cl.sendEnvelope(env);
      assert.equal(again.status, 409);
      assert.equal((again.body as { error: { code: string } }).error.code, 'CommandReplayed');
      const st = (await cl.send('host.status', {})) as { hostId: string; controller: { rssBytes: number } };
      assert.equal(st.hostId, hostId);
      t.diagnostic(`controller RSS after a restart (enrolled, X.509 library not loaded): ${(st.controller.rssBytes / 1048576).toFixed(1)} MiB`);
      assert.ok(verifyChainText(readFileSync(hostPaths(home).audit, 'utf8')).ok);
    });

    const w = watcher?.stop();
    watcher = undefined;
    if (w) assert.deepEqual(w.violations, []);
  } catch (e) {
    if (ctl) process.stderr.write(`--- controller output ---\n${ctl.output()}\n`);
    throw e;
  } finally {
    watcher?.stop();
    for (const c of clients) c.close();
    await ctl?.stop();
    rmSync(home, { recursive: true, force: true });
  }
});
