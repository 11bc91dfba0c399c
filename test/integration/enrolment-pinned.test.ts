// Pinned enrolment: the region enrols a controller only when the certificate it meets is the
// bootstrap certificate the host operator read (`nitride host init` prints its sha256). A TLS
// man-in-the-middle in this test presents its own certificate, forwards every request to the
// real controller and rewrites the fingerprint the controller names to its own, so the only
// thing that can catch it is the pinned fingerprint: the enrolment is refused as
// InvalidParameterValue with the pinned and served fingerprints, audited, and nothing is
// stored. The same token with the correct fingerprint, directly, enrols the host.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readChain } from '../../src/audit/chain.js';
import { regionTrailPath, type StoredAuditEvent } from '../../src/audit/trail.js';
import { hostPaths } from '../../src/controller/host-state.js';
import { readToken, startController, type ControllerProcess } from '../../src/controller/testing/fixtures.js';
import { createSelfSigned, fingerprint, generateKeyPair } from '../../src/lib/pki/pki.js';
import { Region } from '../../src/region/region.js';
import { execFile } from 'node:child_process';
import { distEntry } from '../../src/lib/paths.js';

/** `nitride …` as the region operator runs it (asynchronous: the region answers from this process). */
function cli(args: string[], home: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [distEntry('cli/main.js'), ...args], { env: { ...process.env, NITRIDE_HOME: home }, encoding: 'utf8', timeout: 60_000 }, (e, out, err) =>
      res({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, out, err }),
    );
  });
}

/** An HTTPS relay with its own certificate that rewrites `real` to `own` in every reply body. */
async function startRelay(targetPort: number, real: string): Promise<{ server: Server; port: number; own: string; requests: string[] }> {
  const kp = generateKeyPair();
  const cert = await createSelfSigned(kp.keyPem, 'mitm', { ipAddresses: ['127.0.0.1'] });
  const own = fingerprint(cert);
  const requests: string[] = [];
  const server = createServer({ key: kp.keyPem, cert, minVersion: 'TLSv1.3' }, (req, res) => {
    requests.push(req.url ?? '');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const up = request({ host: '127.0.0.1', port: targetPort, path: req.url, method: req.method, headers: { 'content-type': 'application/json' }, rejectUnauthorized: false, agent: false }, (ur) => {
        const back: Buffer[] = [];
        ur.on('data', (c: Buffer) => back.push(c));
        ur.on('end', () => {
          const body = Buffer.from(Buffer.concat(back).toString('utf8').split(real).join(own));
          res.writeHead(ur.statusCode ?? 502, { 'content-type': 'application/json', 'content-length': body.length });
          res.end(body);
        });
      });
      up.on('error', () => res.destroy());
      up.end(Buffer.concat(chunks));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port, own, requests };
}

function enrolmentEvents(home: string): StoredAuditEvent[] {
  return readChain<StoredAuditEvent>(regionTrailPath(home))
    .map((r) => r.event)
    .filter((e) => e.eventName === 'NitrideHostEnrolment');
}

test('an enrolment through a relay that swaps the certificate is refused with the pinned fingerprint, audited, and nothing is stored', { timeout: 180_000 }, async () => {
  const hostHome = mkdtempSync(join(tmpdir(), 'nitride-pin-host-'));
  const regionHome = mkdtempSync(join(tmpdir(), 'nitride-pin-region-'));
  let ctl: ControllerProcess | undefined;
  let region: Region | undefined;
  let relay: Server | undefined;
  try {
    ctl = await startController(hostHome);
    // What the host operator reads on the host and hands to the region operator.
    const pinned = fingerprint(readFileSync(hostPaths(hostHome).bootstrapCert, 'utf8'));
    const token = readToken(hostHome);
    const mitm = await startRelay(ctl.runtime.port, pinned);
    relay = mitm.server;
    region = await Region.open({ home: regionHome, port: 0, localHost: false, reconcileIntervalMs: 500 });
    const r = region;

    // Not a fingerprint at all: refused before any connection.
    await assert.rejects(r.fleet.enroll('127.0.0.1', mitm.port, token, { fingerprint: 'SHA256:nope' }), (e: { code?: string }) => e.code === 'InvalidParameterValue');
    assert.deepEqual(mitm.requests, []);

    // Through the relay, pinned (written the way an operator may paste it): refused.
    const pasted = `SHA256:${pinned.toUpperCase().match(/../g)!.join(':')}`;
    await assert.rejects(r.fleet.enroll('127.0.0.1', mitm.port, token, { fingerprint: pasted }), (e: { code?: string; message?: string; context?: { details?: { pinned?: string; served?: string } } }) => {
      assert.equal(e.code, 'InvalidParameterValue');
      assert.match(e.message ?? '', /does not match the pinned fingerprint/);
      assert.equal(e.context?.details?.served, mitm.own);
      return true;
    });
    assert.deepEqual(mitm.requests, ['/v1/enroll'], 'the region stopped after the first reply: it signed nothing for the relay');
    assert.equal(r.fleet.hosts().length, 0, 'nothing stored');
    const refused = enrolmentEvents(regionHome);
    assert.equal(refused.length, 1);
    assert.equal(refused[0]?.errorCode, 'EnrollmentFailed');
    assert.equal(refused[0]?.requestParameters?.['trust'], `pinned:${pinned}`);
    assert.equal(refused[0]?.requestParameters?.['port'], mitm.port);
    assert.match(refused[0]?.errorMessage ?? '', /does not match the pinned fingerprint/);
    assert.equal((refused[0]?.responseElements?.['details'] as { served?: string } | undefined)?.served, mitm.own);

    // The operator's `nitride host add` (NitrideAddHost through the region API): without a
    // fingerprint it is refused before anything is sent; through the relay it is refused with
    // the region's reason, and audited once more.
    const bare = await cli(['host', 'add', '--address', '127.0.0.1', '--port', String(mitm.port), '--token', token], regionHome);
    assert.equal(bare.code, 2, bare.err);
    assert.match(bare.err, /give the host's bootstrap fingerprint .*or name --trust-on-first-use/);
    assert.deepEqual(mitm.requests, ['/v1/enroll']);
    const viaRelay = await cli(['host', 'add', '--address', '127.0.0.1', '--port', String(mitm.port), '--token', token, '--fingerprint', pinned], regionHome);
    assert.equal(viaRelay.code, 1, viaRelay.out + viaRelay.err);
    assert.match(viaRelay.err, /InvalidParameterValue: .*does not match the pinned fingerprint/);
    assert.equal(r.fleet.hosts().length, 0, 'nothing stored');
    assert.equal(enrolmentEvents(regionHome).filter((e) => e.errorCode === 'EnrollmentFailed').length, 2);

    // Directly, with the correct fingerprint: enrolled, and audited as such.
    const added = await cli(['host', 'add', '--address', '127.0.0.1', '--port', String(ctl.runtime.port), '--token', token, '--fingerprint', pinned, '--json'], regionHome);
    assert.equal(added.code, 0, added.err);
    const addedJson = JSON.parse(added.out) as { hostId: string; trust: string };
    assert.equal(addedJson.trust, 'pinned');
    const host = r.fleet.hosts()[0]!;
    assert.equal(host.id, addedJson.hostId);
    assert.equal(r.fleet.hosts().length, 1);
    assert.equal(host.port, ctl.runtime.port);
    const ok = enrolmentEvents(regionHome).filter((e) => e.errorCode === undefined);
    assert.equal(ok.length, 1);
    assert.equal(ok[0]?.responseElements?.['hostId'], host.id);
    assert.equal(ok[0]?.requestParameters?.['trust'], `pinned:${pinned}`);
    assert.ok(!readFileSync(regionTrailPath(regionHome), 'utf8').includes(token), 'the enrolment token is redacted from the trail');
  } finally {
    relay?.close();
    relay?.closeAllConnections();
    await region?.close();
    await ctl?.stop();
    rmSync(hostHome, { recursive: true, force: true });
    rmSync(regionHome, { recursive: true, force: true });
  }
});
