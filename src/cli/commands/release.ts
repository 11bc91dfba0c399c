// `nitride release …`: the release key and signed component bundles.
//   nitride release keygen --out DIR
//       writes DIR/release.key (Ed25519 PKCS#8, 0600) and DIR/release.pub (SPKI)
//   nitride release build --component NAME --key KEY --out DIR [--version V] [--root DIR] [--from PATH …]
//       copies PATHs (relative to --root, default the project root) into DIR and signs it;
//       without --from: dist/src (no tests), package.json, the native XTS addon and the runtime
//       dependency closure in node_modules
//   nitride release sign --key KEY --bundle DIR [--component NAME --version V]
//       (re)writes DIR/manifest.json and DIR/manifest.sig over every file in DIR
//   nitride release verify --pubkey PUB --bundle DIR [--component NAME] [--json]
//       exit 0 when the signature and every file verify; exit 1 naming the file that failed
//   nitride release policy --pubkey PUB --release NAME --bundle DIR [--bundle DIR …] [--out FILE]
//       verifies the bundles and prints the PCR policy they imply (JSON)
//   nitride release policy --measurements --pubkey PUB --release NAME --bundle DIR …
//       prints the release's ReleaseMeasurements instead (the latest measurement each of PCR
//       1–4 and 7 must carry; it survives live updates — what the region's release policy holds)
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MANIFEST_FILE, buildBundle, parseManifest, signBundle, verifyBundle, writeReleaseKey, type VerifiedBundle } from '../../security-chip/bundle.js';
import { defaultBundleSources, isTestFile } from '../../security-chip/bundle-sources.js';
import { SecurityChipError } from '../../security-chip/errors.js';
import { COMPONENT_NAMES, COMPONENT_PCR, type ComponentName } from '../../security-chip/pcr.js';
import { policyFromBundles, releaseMeasurements } from '../../security-chip/policy.js';
import { projectRoot } from '../../lib/paths.js';

export const summary = 'release keys and signed component bundles (keygen, build, sign, verify, policy)';

const USAGE = `usage: nitride release keygen --out DIR
       nitride release build --component NAME --key KEY --out DIR [--version V] [--root DIR] [--from PATH …]
       nitride release sign --key KEY --bundle DIR [--component NAME --version V]
       nitride release verify --pubkey PUB --bundle DIR [--component NAME] [--json]
       nitride release policy [--measurements] --pubkey PUB --release NAME --bundle DIR [--bundle DIR …] [--out FILE]
components: ${COMPONENT_NAMES.join(', ')}`;

const VALUE_FLAGS = ['--out', '--key', '--pubkey', '--bundle', '--component', '--version', '--root', '--from', '--release'] as const;
const REPEATED = new Set(['--from', '--bundle']);

interface Parsed {
  readonly values: Map<string, string[]>;
  readonly json: boolean;
  readonly measurements: boolean;
}

function parse(argv: string[]): Parsed | string {
  const values = new Map<string, string[]>();
  let json = false;
  let measurements = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    if (name === '--json') {
      json = true;
      continue;
    }
    if (name === '--measurements') {
      measurements = true;
      continue;
    }
    if (!(VALUE_FLAGS as readonly string[]).includes(name)) return `unknown argument '${arg}'`;
    const v = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (v === undefined || v === '') return `${name} needs a value`;
    const list = values.get(name) ?? [];
    if (list.length > 0 && !REPEATED.has(name)) return `${name} given twice`;
    list.push(v);
    values.set(name, list);
  }
  return { values, json, measurements };
}

function one(p: Parsed, flag: string): string | undefined {
  return p.values.get(flag)?.[0];
}

function component(p: Parsed): ComponentName | undefined | string {
  const c = one(p, '--component');
  if (c === undefined) return undefined;
  return (COMPONENT_NAMES as readonly string[]).includes(c) ? (c as ComponentName) : `--component must be one of ${COMPONENT_NAMES.join(', ')}`;
}

function isComponent(c: ComponentName | undefined | string): c is ComponentName {
  return c !== undefined && (COMPONENT_NAMES as readonly string[]).includes(c);
}

function describeBundle(b: VerifiedBundle): string {
  const bytes = b.manifest.files.reduce((n, f) => n + f.size, 0);
  return `${b.manifest.name} ${b.manifest.version}: ${b.manifest.files.length} files, ${bytes} bytes, manifest sha384 ${b.digest} (PCR ${COMPONENT_PCR[b.manifest.name]})`;
}

function usageError(msg: string): number {
  process.stderr.write(`nitride release: ${msg}\n${USAGE}\n`);
  return 2;
}

/** A refusal: the code, the message and the file that failed; exit 1. */
function refused(e: unknown): number {
  if (!(e instanceof SecurityChipError)) throw e;
  process.stderr.write(`nitride release: REFUSED ${e.code}: ${e.message}\n`);
  if (typeof e.context['file'] === 'string') process.stderr.write(`  file: ${e.context['file']}\n`);
  if (typeof e.context['expected'] === 'string') process.stderr.write(`  expected sha384: ${e.context['expected']}\n  actual sha384:   ${String(e.context['actual'])}\n`);
  return 1;
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === 'help' || sub === '--help') {
    process.stdout.write(`${USAGE}\n`);
    return sub === undefined ? 2 : 0;
  }
  const p = parse(rest);
  if (typeof p === 'string') return usageError(p);
  const c = component(p);
  if (typeof c === 'string' && !isComponent(c)) return usageError(c);
  const readKey = (flag: string): string => readFileSync(resolve(one(p, flag) as string), 'utf8');
  try {
    switch (sub) {
      case 'keygen': {
        const out = one(p, '--out');
        if (out === undefined) return usageError('keygen needs --out DIR');
        if (existsSync(join(out, 'release.key'))) return usageError(`${join(out, 'release.key')} exists; refusing to overwrite a release key`);
        const r = writeReleaseKey(resolve(out));
        process.stdout.write(`release key (Ed25519): ${r.privateKeyPath} (0600)\npublic key: ${r.publicKeyPath}\n`);
        return 0;
      }
      case 'build': {
        const out = one(p, '--out');
        if (!isComponent(c) || one(p, '--key') === undefined || out === undefined) return usageError('build needs --component, --key and --out');
        const root = resolve(one(p, '--root') ?? projectRoot());
        const version = one(p, '--version') ?? (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string }).version;
        if (version === undefined) return usageError('build needs --version (the root has no package.json version)');
        const from = p.values.get('--from');
        const b = await buildBundle({ name: c, version, root, out, from: from ?? defaultBundleSources(root), ...(from === undefined ? { exclude: isTestFile } : {}) }, readKey('--key'));
        process.stdout.write(`built and signed ${b.dir}\n${describeBundle(b)}\n`);
        return 0;
      }
      case 'sign': {
        const dir = one(p, '--bundle');
        if (one(p, '--key') === undefined || dir === undefined) return usageError('sign needs --key and --bundle');
        let name = isComponent(c) ? c : undefined;
        let version = one(p, '--version');
        const mPath = join(resolve(dir), MANIFEST_FILE);
        if ((name === undefined || version === undefined) && existsSync(mPath)) {
          const m = parseManifest(JSON.parse(readFileSync(mPath, 'utf8')));
          name ??= m.name;
          version ??= m.version;
        }
        if (name === undefined || version === undefined) return usageError('sign needs --component and --version for a bundle without a manifest');
        const b = await signBundle(dir, readKey('--key'), { name, version });
        process.stdout.write(`signed ${b.dir}\n${describeBundle(b)}\n`);
        return 0;
      }
      case 'verify': {
        const dir = one(p, '--bundle');
        if (one(p, '--pubkey') === undefined || dir === undefined) return usageError('verify needs --pubkey and --bundle');
        const b = await verifyBundle(dir, readKey('--pubkey'), isComponent(c) ? { expectName: c } : {});
        if (p.json) process.stdout.write(`${JSON.stringify({ ok: true, name: b.manifest.name, version: b.manifest.version, files: b.manifest.files.length, digest: b.digest, pcr: COMPONENT_PCR[b.manifest.name] })}\n`);
        else process.stdout.write(`OK ${describeBundle(b)}\n`);
        return 0;
      }
      case 'policy': {
        const dirs = p.values.get('--bundle') ?? [];
        const release = one(p, '--release');
        if (one(p, '--pubkey') === undefined || dirs.length === 0 || release === undefined) return usageError('policy needs --pubkey, --release and at least one --bundle');
        const pub = readKey('--pubkey');
        const bundles: VerifiedBundle[] = [];
        for (const d of dirs) bundles.push(await verifyBundle(d, pub));
        const policy = p.measurements ? releaseMeasurements(release, bundles) : policyFromBundles(release, bundles, bundles.map((b) => `${b.manifest.name} ${b.manifest.version}`).join(', '));
        const text = `${JSON.stringify(policy, null, 2)}\n`;
        const out = one(p, '--out');
        if (out !== undefined) writeFileSync(resolve(out), text);
        process.stdout.write(text);
        return 0;
      }
      default:
        return usageError(`unknown subcommand '${sub}'`);
    }
  } catch (e) {
    return refused(e);
  }
}
