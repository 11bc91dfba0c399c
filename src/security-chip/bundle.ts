// Signed component bundles. A bundle is a directory holding a component's code plus
//   manifest.json  {name, version, createdAt, files: [{path, sha384, size}]}  (sorted by path)
//   manifest.sig   base64 Ed25519 signature over "nitride-bundle-manifest-v1\0" || manifest.json bytes
// The release key is Ed25519. verifyBundle checks the signature first, then every file's
// size and sha384, and refuses files the manifest does not name, symlinks and anything that
// is not a regular file. The bundle's measurement (digest) is the sha384 of manifest.json's
// bytes; since the manifest names every file's hash, it measures the whole bundle.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { copyFile, lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { SecurityChipError } from './errors.js';
import { COMPONENT_NAMES, type ComponentName } from './pcr.js';

export const MANIFEST_FILE = 'manifest.json';
export const SIGNATURE_FILE = 'manifest.sig';
export const RELEASE_PRIVATE_KEY_FILE = 'release.key';
export const RELEASE_PUBLIC_KEY_FILE = 'release.pub';
const SIGN_CONTEXT = Buffer.from('nitride-bundle-manifest-v1\0', 'latin1');
const MAX_FILES = 200_000;

export interface BundleFile {
  readonly path: string; // relative, '/'-separated
  readonly sha384: string; // lowercase hex
  readonly size: number;
}

export interface BundleManifest {
  readonly name: ComponentName;
  readonly version: string;
  readonly createdAt: string; // ISO 8601
  readonly files: readonly BundleFile[];
}

export interface VerifiedBundle {
  readonly dir: string;
  readonly manifest: BundleManifest;
  /** sha384 over manifest.json's bytes, lowercase hex: the bundle's measurement. */
  readonly digest: string;
  /** sha384 of the release public key (SPKI DER) that verified it, lowercase hex. */
  readonly releaseKeyDigest: string;
}

export interface ReleaseKeyPair {
  readonly privateKeyPem: string;
  readonly publicKeyPem: string;
}

function err(code: string, message: string, context: Record<string, unknown>, cause?: unknown): SecurityChipError {
  const kind = code === 'BundleFileMissing' ? 'not-found' : code === 'ReleaseKeyInvalid' || code === 'BundleManifestInvalid' ? 'invalid' : 'denied';
  return new SecurityChipError(code, kind, message, context, cause === undefined ? undefined : { cause });
}

// ---------------------------------------------------------------- keys

/** A fresh Ed25519 release key pair (PKCS#8 / SPKI PEM). */
export function generateReleaseKey(): ReleaseKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** Writes release.key (0600) and release.pub into dir (created 0700); returns their paths. */
export function writeReleaseKey(dir: string, kp: ReleaseKeyPair = generateReleaseKey()): { privateKeyPath: string; publicKeyPath: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const privateKeyPath = join(dir, RELEASE_PRIVATE_KEY_FILE);
  const publicKeyPath = join(dir, RELEASE_PUBLIC_KEY_FILE);
  writeFileSync(privateKeyPath, kp.privateKeyPem, { mode: 0o600, flag: 'wx' });
  chmodSync(privateKeyPath, 0o600);
  writeFileSync(publicKeyPath, kp.publicKeyPem, { mode: 0o644, flag: 'wx' });
  return { privateKeyPath, publicKeyPath };
}

function releaseKey(pem: string, isPrivate: boolean): KeyObject {
  let k: KeyObject;
  try {
    k = isPrivate ? createPrivateKey(pem) : createPublicKey(pem);
  } catch (e) {
    throw err('ReleaseKeyInvalid', `The release ${isPrivate ? 'private' : 'public'} key is not a readable PEM key.`, {}, e);
  }
  if (k.asymmetricKeyType !== 'ed25519') {
    throw err('ReleaseKeyInvalid', `The release key is ${k.asymmetricKeyType ?? 'not asymmetric'}, not Ed25519.`, { type: k.asymmetricKeyType });
  }
  return k;
}

/** sha384 of a release public key's SPKI DER, lowercase hex (what PCR 7 measures). */
export function releaseKeyDigest(publicKeyPem: string): string {
  const der = releaseKey(publicKeyPem, false).export({ type: 'spki', format: 'der' });
  return createHash('sha384').update(der).digest('hex');
}

// ---------------------------------------------------------------- manifest

const PATH_SEGMENT = /^[^/\\\0]+$/;

function checkPath(p: unknown, n: number): string {
  if (typeof p !== 'string' || p.length === 0 || p.length > 4096) throw err('BundleManifestInvalid', `The manifest's file ${n} has no valid path.`, { index: n });
  const segs = p.split('/');
  if (segs.some((s) => !PATH_SEGMENT.test(s) || s === '.' || s === '..')) {
    throw err('BundleManifestInvalid', `The manifest names the path '${p.slice(0, 200)}', which is not a plain relative path.`, { file: p.slice(0, 200) });
  }
  if (p === MANIFEST_FILE || p === SIGNATURE_FILE) throw err('BundleManifestInvalid', `The manifest names its own file '${p}'.`, { file: p });
  return p;
}

/** Validates a parsed manifest.json. */
export function parseManifest(raw: unknown): BundleManifest {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw err('BundleManifestInvalid', 'The manifest is not a JSON object.', {});
  const o = raw as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => !['name', 'version', 'createdAt', 'files'].includes(k));
  if (extra.length > 0) throw err('BundleManifestInvalid', `The manifest has unknown fields: ${extra.join(', ')}.`, { fields: extra });
  if (typeof o['name'] !== 'string' || !(COMPONENT_NAMES as readonly string[]).includes(o['name'])) {
    throw err('BundleManifestInvalid', `The manifest's name must be one of ${COMPONENT_NAMES.join(', ')}.`, { name: String(o['name']).slice(0, 64) });
  }
  if (typeof o['version'] !== 'string' || !/^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/.test(o['version'])) throw err('BundleManifestInvalid', "The manifest's version is not a plain version string.", {});
  if (typeof o['createdAt'] !== 'string' || Number.isNaN(Date.parse(o['createdAt']))) throw err('BundleManifestInvalid', "The manifest's createdAt is not an ISO time.", {});
  const files = o['files'];
  if (!Array.isArray(files) || files.length > MAX_FILES) throw err('BundleManifestInvalid', "The manifest's files is not a list.", {});
  const seen = new Set<string>();
  const out = files.map((f: unknown, n): BundleFile => {
    if (typeof f !== 'object' || f === null) throw err('BundleManifestInvalid', `The manifest's file ${n} is not an object.`, { index: n });
    const r = f as Record<string, unknown>;
    const path = checkPath(r['path'], n);
    if (seen.has(path)) throw err('BundleManifestInvalid', `The manifest names '${path}' twice.`, { file: path });
    seen.add(path);
    if (typeof r['sha384'] !== 'string' || !/^[0-9a-f]{96}$/.test(r['sha384'])) throw err('BundleManifestInvalid', `The manifest's sha384 of '${path}' is not 96 hex characters.`, { file: path });
    if (typeof r['size'] !== 'number' || !Number.isSafeInteger(r['size']) || r['size'] < 0) throw err('BundleManifestInvalid', `The manifest's size of '${path}' is not a byte count.`, { file: path });
    return { path, sha384: r['sha384'], size: r['size'] };
  });
  return { name: o['name'] as ComponentName, version: o['version'], createdAt: o['createdAt'], files: out };
}

function manifestBytes(m: BundleManifest): Buffer {
  const ordered = { name: m.name, version: m.version, createdAt: m.createdAt, files: m.files.map((f) => ({ path: f.path, sha384: f.sha384, size: f.size })) };
  return Buffer.from(`${JSON.stringify(ordered, null, 1)}\n`, 'utf8');
}

// ---------------------------------------------------------------- files

/** Every regular file under dir (relative '/'-paths, sorted), except the manifest and signature. Refuses symlinks and special files. */
async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      const rel = relative(dir, full).split(sep).join('/');
      if (e.isDirectory()) await walk(full);
      else if (e.isFile()) {
        if (rel !== MANIFEST_FILE && rel !== SIGNATURE_FILE) out.push(rel);
      } else throw err('BundleExtraFile', `The bundle holds '${rel}', which is not a regular file or directory (symlinks are refused).`, { file: rel, bundle: dir });
      if (out.length > MAX_FILES) throw err('BundleManifestInvalid', `The bundle holds more than ${MAX_FILES} files.`, { bundle: dir });
    }
  };
  await walk(dir);
  return out.sort(byteOrder);
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

async function hashFile(path: string): Promise<{ sha384: string; size: number }> {
  const data = await readFile(path);
  return { sha384: createHash('sha384').update(data).digest('hex'), size: data.length };
}

// ---------------------------------------------------------------- sign and verify

export interface SignOptions {
  readonly name: ComponentName;
  readonly version: string;
  readonly createdAt?: string;
}

/** Hashes every file under dir, writes manifest.json and manifest.sig, and returns the bundle as verified. */
export async function signBundle(dir: string, privateKeyPem: string, o: SignOptions): Promise<VerifiedBundle> {
  const key = releaseKey(privateKeyPem, true);
  const abs = resolve(dir);
  const files: BundleFile[] = [];
  for (const path of await listFiles(abs)) files.push({ path, ...(await hashFile(join(abs, path))) });
  const manifest = parseManifest({ name: o.name, version: o.version, createdAt: o.createdAt ?? new Date().toISOString(), files });
  const bytes = manifestBytes(manifest);
  const sig = sign(null, Buffer.concat([SIGN_CONTEXT, bytes]), key);
  await writeFile(join(abs, MANIFEST_FILE), bytes);
  await writeFile(join(abs, SIGNATURE_FILE), `${sig.toString('base64')}\n`);
  const publicKeyPem = createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
  return { dir: abs, manifest, digest: createHash('sha384').update(bytes).digest('hex'), releaseKeyDigest: releaseKeyDigest(publicKeyPem) };
}

export interface BuildOptions extends SignOptions {
  /** Paths (files or directories) relative to root, copied to the same relative place in out. */
  readonly from: readonly string[];
  readonly root: string;
  readonly out: string;
  /** Leaves out files (relative '/'-paths under root) for which this returns true. */
  readonly exclude?: (rel: string) => boolean;
}

/** Assembles a bundle directory from paths under root, then signs it. out must not exist or be empty. */
export async function buildBundle(o: BuildOptions, privateKeyPem: string): Promise<VerifiedBundle> {
  releaseKey(privateKeyPem, true);
  const root = resolve(o.root);
  const out = resolve(o.out);
  await mkdir(out, { recursive: true });
  if ((await readdir(out)).length > 0) throw err('BundleManifestInvalid', `The output directory ${out} is not empty.`, { out });
  const copy = async (rel: string): Promise<void> => {
    const src = join(root, rel);
    const st = await lstat(src);
    if (st.isDirectory()) {
      for (const e of await readdir(src)) await copy(join(rel, e));
    } else if (st.isFile()) {
      if (o.exclude?.(rel.split(sep).join('/'))) return;
      await mkdir(dirname(join(out, rel)), { recursive: true });
      await copyFile(src, join(out, rel));
    } // symlinks and special files are left out of bundles
  };
  for (const f of o.from) {
    const rel = relative(root, resolve(root, f));
    if (rel === '' || rel.startsWith('..')) throw err('BundleManifestInvalid', `The path '${f}' is not inside ${root}.`, { path: f });
    await copy(rel);
  }
  return signBundle(out, privateKeyPem, o);
}

export interface VerifyOptions {
  /** Refuse a bundle of another component (BundleWrongComponent). */
  readonly expectName?: ComponentName;
}

/**
 * Verifies a bundle: the signature over manifest.json with the release public key, then
 * that every listed file exists with its size and sha384, and that no other file is there.
 * Throws BundleSignatureInvalid, BundleManifestInvalid, BundleFileMissing {file},
 * BundleFileMismatch {file, expected, actual}, BundleExtraFile {file}, BundleWrongComponent.
 */
export async function verifyBundle(dir: string, publicKeyPem: string, o: VerifyOptions = {}): Promise<VerifiedBundle> {
  const key = releaseKey(publicKeyPem, false);
  const abs = resolve(dir);
  let bytes: Buffer;
  let sigText: string;
  try {
    bytes = await readFile(join(abs, MANIFEST_FILE));
    sigText = await readFile(join(abs, SIGNATURE_FILE), 'utf8');
  } catch (e) {
    throw err('BundleFileMissing', `The bundle ${abs} has no ${MANIFEST_FILE} and ${SIGNATURE_FILE}; it is unsigned.`, { file: MANIFEST_FILE, bundle: abs }, e);
  }
  const sigB64 = sigText.trim();
  const sig = Buffer.from(sigB64, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(sigB64) || sig.length !== 64) throw err('BundleSignatureInvalid', `The bundle's ${SIGNATURE_FILE} is not a base64 Ed25519 signature.`, { bundle: abs, file: SIGNATURE_FILE });
  if (!verify(null, Buffer.concat([SIGN_CONTEXT, bytes]), key, sig)) {
    throw err('BundleSignatureInvalid', `The signature on ${abs}/${MANIFEST_FILE} does not verify with the release key.`, { bundle: abs, file: MANIFEST_FILE });
  }
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw err('BundleManifestInvalid', 'The signed manifest is not JSON.', { bundle: abs }, e);
  }
  const manifest = parseManifest(json);
  if (o.expectName !== undefined && manifest.name !== o.expectName) {
    throw err('BundleWrongComponent', `The bundle is the ${manifest.name} component, not ${o.expectName}.`, { bundle: abs, expected: o.expectName, actual: manifest.name });
  }
  for (const f of manifest.files) {
    const path = join(abs, ...f.path.split('/'));
    let st;
    try {
      st = await lstat(path);
    } catch (e) {
      throw err('BundleFileMissing', `The bundle file '${f.path}' is missing.`, { bundle: abs, file: f.path }, e);
    }
    if (!st.isFile()) throw err('BundleFileMismatch', `The bundle file '${f.path}' is not a regular file.`, { bundle: abs, file: f.path, reason: 'not a regular file' });
    const got = await hashFile(path);
    if (got.size !== f.size || got.sha384 !== f.sha384) {
      throw err('BundleFileMismatch', `The bundle file '${f.path}' does not match its manifest (${got.size !== f.size ? `size ${got.size}, expected ${f.size}` : 'sha384 differs'}).`, {
        bundle: abs,
        file: f.path,
        expected: f.sha384,
        actual: got.sha384,
        expectedSize: f.size,
        actualSize: got.size,
      });
    }
  }
  const listed = new Set(manifest.files.map((f) => f.path));
  for (const rel of await listFiles(abs)) {
    if (!listed.has(rel)) throw err('BundleExtraFile', `The bundle holds '${rel}', which its manifest does not list.`, { bundle: abs, file: rel });
  }
  return { dir: abs, manifest, digest: createHash('sha384').update(bytes).digest('hex'), releaseKeyDigest: releaseKeyDigest(publicKeyPem) };
}
