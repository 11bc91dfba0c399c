// TLS for the region API (issue 20, item 5): the front door serves HTTPS with a server
// certificate from the region CA; the written profile names that CA (ca_bundle) and an https
// endpoint_url, and both AWS CLIs and SDK v3 work over it; plain HTTP is refused off loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { IAMClient, ListUsersCommand } from '@aws-sdk/client-iam';
import { KMSClient, ListKeysCommand } from '@aws-sdk/client-kms';
import { readAwsProfile } from '../../src/lib/aws-profile.js';
import { Region, caBundlePath } from '../../src/region/region.js';
import { createCa, generateKeyPair, issueCert } from '../../src/lib/pki/pki.js';
import { CLIS, CLI_MAIN, cleanEnv, type CliName } from '../region-fixtures.js';

/** One AWS CLI with the profile nitride as the region wrote it; v2 (2.9) does not read endpoint_url, so it gets --endpoint-url (its TLS trust still comes from ca_bundle). */
function cli(which: CliName, home: string, endpoint: string, args: string[], profile = 'nitride'): Promise<{ status: number; stderr: string; stdout: string }> {
  const env = cleanEnv({ AWS_CONFIG_FILE: join(home, 'aws', 'config'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'aws', 'credentials'), HOME: home, AWS_MAX_ATTEMPTS: '1' });
  const full = ['--profile', profile, ...(which === 'v2' ? ['--endpoint-url', endpoint] : []), ...args, '--output', 'json'];
  return new Promise((resolve, reject) => {
    execFile(CLIS[which], full, { env, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(new Error(`the AWS CLI ${which} (${CLIS[which]}) could not run: ${err.message}`));
      resolve({ status: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

async function withTlsRegion(fn: (region: Region, home: string) => Promise<void>, opts: Partial<Parameters<typeof Region.open>[0]> = {}): Promise<void> {
  const home = await mkdtemp(join(tmpdir(), 'nitride-tls-'));
  let region: Region | undefined;
  try {
    region = await Region.open({ home, port: 0, localHost: false, reconcileIntervalMs: 3_600_000, tls: {}, ...opts });
    await fn(region, home);
  } finally {
    await region?.close();
    await rm(home, { recursive: true, force: true });
  }
}

test('with TLS the region serves HTTPS under a region-CA certificate; the profile carries ca_bundle and an https endpoint_url; both AWS CLIs run EC2, KMS and IAM calls over it', async () => {
  await withTlsRegion(async (region, home) => {
    assert.match(region.endpoint, /^https:\/\/127\.0\.0\.1:\d+\/$/);
    const p = readAwsProfile(home, 'nitride');
    assert.equal(p?.endpointUrl, region.endpoint);
    assert.equal(p?.caBundle, caBundlePath(home));
    assert.equal(readFileSync(caBundlePath(home), 'utf8'), readFileSync(join(home, 'region', 'pki', 'ca.crt'), 'utf8'));
    for (const which of ['v1', 'v2'] as const) {
      const d = await cli(which, home, region.endpoint, ['ec2', 'describe-instances']);
      assert.equal(d.status, 0, `${which} describe-instances: ${d.stderr}`);
      assert.ok(Array.isArray((JSON.parse(d.stdout) as { Reservations: unknown[] }).Reservations));
      const k = await cli(which, home, region.endpoint, ['kms', 'create-key', '--description', `tls-${which}`]);
      assert.equal(k.status, 0, `${which} kms create-key: ${k.stderr}`);
      assert.match((JSON.parse(k.stdout) as { KeyMetadata: { KeyId: string } }).KeyMetadata.KeyId, /^[0-9a-f-]{36}$/);
      const u = await cli(which, home, region.endpoint, ['iam', 'create-user', '--user-name', `tls-${which}`]);
      assert.equal(u.status, 0, `${which} iam create-user: ${u.stderr}`);
      assert.equal((JSON.parse(u.stdout) as { User: { UserName: string } }).User.UserName, `tls-${which}`);
    }
  });
});

test('SDK v3 reaches the HTTPS API with the region CA in its agent (EC2, KMS, IAM) and refuses the endpoint without it', async () => {
  await withTlsRegion(async (region, home) => {
    const ca = readFileSync(caBundlePath(home), 'utf8');
    const common = { endpoint: region.endpoint, region: 'local-1', credentials: { accessKeyId: region.credentials.accessKeyId, secretAccessKey: region.credentials.secretAccessKey }, maxAttempts: 1 };
    const requestHandler = { httpsAgent: new Agent({ ca }) }; // the SDK's NodeHttpHandler options
    const r = await new EC2Client({ ...common, requestHandler }).send(new DescribeInstancesCommand({}));
    assert.ok(Array.isArray(r.Reservations));
    const keys = await new KMSClient({ ...common, requestHandler }).send(new ListKeysCommand({}));
    assert.ok(Array.isArray(keys.Keys));
    const users = await new IAMClient({ ...common, requestHandler }).send(new ListUsersCommand({}));
    assert.ok(Array.isArray(users.Users));
    // Without the region CA, the certificate is not trusted: no request reaches the API.
    await assert.rejects(new EC2Client(common).send(new DescribeInstancesCommand({})), (e: Error & { code?: string }) => /unable to verify the first certificate|UNABLE_TO_VERIFY_LEAF_SIGNATURE|self[- ]signed|unable to get local issuer/i.test(`${e.code ?? ''} ${e.message}`));
  });
});

test('over HTTPS the front door keeps its admission limits (oversized headers get 431) and a plain-HTTP request on the TLS port gets no API answer', async () => {
  await withTlsRegion(async (region, home) => {
    const url = new URL(region.endpoint);
    const ca = readFileSync(caBundlePath(home), 'utf8');
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest({ hostname: url.hostname, port: Number(url.port), method: 'GET', path: '/', ca, headers: { 'x-big': 'a'.repeat(20 * 1024) } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 431);
    const plain = await new Promise<string>((resolve) => {
      const req = httpRequest({ hostname: url.hostname, port: Number(url.port), method: 'GET', path: '/' }, (res) => {
        res.resume();
        resolve(`answered ${res.statusCode}`);
      });
      req.on('error', (e) => resolve(`error ${e.message}`));
      req.end();
    });
    assert.match(plain, /^error /);
  }, { apiLimits: { maxHeaderBytes: 16 * 1024 } });
});

test('the region refuses to serve plain HTTP on a non-loopback address, with a clear error, and leaves nothing open', async () => {
  const home = await mkdtemp(join(tmpdir(), 'nitride-tls-'));
  try {
    await assert.rejects(Region.open({ home, port: 0, localHost: false, reconcileIntervalMs: 3_600_000, apiHost: '0.0.0.0' }), /plain HTTP only on loopback; refusing to listen on 0\.0\.0\.0 without TLS/);
    await assert.rejects(Region.open({ home, port: 0, localHost: false, reconcileIntervalMs: 3_600_000, tls: { certFile: join(home, 'no.crt') } }), /needs both a certificate file and a key file/);
    // The refused start left nothing open: the same home starts again (on loopback).
    const again = await Region.open({ home, port: 0, localHost: false, reconcileIntervalMs: 3_600_000 });
    try {
      assert.match(again.endpoint, /^http:\/\/127\.0\.0\.1:/);
      assert.equal(readAwsProfile(home, 'nitride')?.caBundle, undefined);
    } finally {
      await again.close();
    }
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

test('nitride account create reaches the HTTPS API through the profile\'s ca_bundle, and the tenant\'s profile it writes carries it too', async () => {
  await withTlsRegion(async (region, home) => {
    const made = await new Promise<{ status: number; stdout: string; stderr: string }>((resolve, reject) => {
      execFile(process.execPath, [CLI_MAIN, 'account', 'create', 'tls-tenant', '--json'], { env: cleanEnv({ NITRIDE_HOME: home }), timeout: 120_000 }, (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(err);
        resolve({ status: err ? Number(err.code) : 0, stdout, stderr });
      });
    });
    assert.equal(made.status, 0, made.stderr);
    const p = readAwsProfile(home, 'tls-tenant');
    assert.deepEqual([p?.endpointUrl, p?.caBundle], [region.endpoint, caBundlePath(home)]);
    for (const which of ['v1', 'v2'] as const) {
      const r = await cli(which, home, region.endpoint, ['ec2', 'describe-instances'], 'tls-tenant');
      assert.equal(r.status, 0, `${which}: ${r.stderr}`);
    }
  });
});

test('with the operator\'s own certificate and key files the API serves that certificate, and the profile\'s ca_bundle holds the CA file given', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nitride-tls-own-'));
  try {
    const ca = await createCa('operator test CA');
    const kp = generateKeyPair();
    const cert = await issueCert(ca, { subjectPublicKeyPem: kp.publicKeyPem, commonName: 'api.test', usage: 'server', ipAddresses: ['127.0.0.1'] });
    const f = (n: string, t: string): string => {
      writeFileSync(join(dir, n), t, { mode: 0o600 });
      return join(dir, n);
    };
    const tls = { certFile: f('api.crt', cert), keyFile: f('api.key', kp.keyPem), caFile: f('ca.crt', ca.certPem) };
    await withTlsRegion(async (region, home) => {
      assert.equal(readFileSync(caBundlePath(home), 'utf8'), ca.certPem);
      assert.notEqual(ca.certPem, readFileSync(join(home, 'region', 'pki', 'ca.crt'), 'utf8'));
      const d = await cli('v1', home, region.endpoint, ['ec2', 'describe-instances']);
      assert.equal(d.status, 0, d.stderr);
      const common = { endpoint: region.endpoint, region: 'local-1', credentials: region.credentials, maxAttempts: 1 };
      const keys = await new KMSClient({ ...common, requestHandler: { httpsAgent: new Agent({ ca: ca.certPem }) } }).send(new ListKeysCommand({}));
      assert.ok(Array.isArray(keys.Keys));
    }, { tls });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
