// EC2 launch templates: named, versioned launch data of one account (lt-…). Versions are
// numbered from 1; a template has a default version (ModifyLaunchTemplate sets it) and a
// latest one. RunInstances with LaunchTemplate launches with a version's data under the
// request's own members (mergeLaunchData): whatever RunInstances names overrides the template.
// Checks run before any write, so bad input changes nothing.
import { randomBytes } from 'node:crypto';
import type { LaunchData, LaunchTemplateSpecification } from '../protocol/ec2/requests/index.js';
import { decodeUserData } from '../protocol/ec2/requests/index.js';
import { Ec2Error } from '../protocol/errors.js';
import type { Collection } from '../repo.js';
import { compileFilterTable, type Filter, type FilterTable } from './filters.js';
import type { Caller } from './instances.js';

/** LaunchData as stored: user data kept as the base64 text it came as. */
export type StoredLaunchData = Omit<LaunchData, 'userData'> & { readonly userData?: string | undefined };

export interface LaunchTemplateVersionRecord {
  readonly number: number;
  readonly description: string | undefined;
  readonly createdAt: string;
  readonly createdBy: string;
  readonly data: StoredLaunchData;
}

export interface LaunchTemplateRecord {
  readonly id: string; // lt-…
  readonly accountId: string;
  readonly name: string;
  readonly createdAt: string;
  readonly createdBy: string;
  readonly defaultVersion: number;
  readonly latestVersion: number;
  readonly tags: Readonly<Record<string, string>>;
  readonly versions: readonly LaunchTemplateVersionRecord[];
  /** CreateLaunchTemplate's ClientToken: a retry with it answers this template. */
  readonly clientToken?: string;
}

/** EC2's name rule: 3–128 of letters, digits and ( ) . - / _ */
const NAME_PATTERN = /^[a-zA-Z0-9().\-/_]{3,128}$/;
const ID_PATTERN = /^lt-[0-9a-f]{17}$/;
export const MAX_VERSIONS = 10_000;

export const storedLaunchData = (d: LaunchData): StoredLaunchData => ({ ...d, userData: d.userData?.toString('base64') });
export const launchDataOf = (d: StoredLaunchData): LaunchData => ({ ...d, userData: d.userData === undefined ? undefined : decodeUserData(d.userData) });

/** `over`'s members where it names them, `base`'s elsewhere (lists: a non-empty list names them). */
export function mergeLaunchData<T extends LaunchData>(base: LaunchData, over: T): T {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined || (Array.isArray(v) && v.length === 0 && Array.isArray(out[k]))) continue;
    out[k] = v;
  }
  for (const k of ['tagSpecifications', 'securityGroupIds', 'securityGroups', 'blockDeviceMappings', 'networkInterfaces'] as const) out[k] ??= [];
  return out as T;
}

export function checkLaunchTemplateName(name: string, param = 'LaunchTemplateName'): string {
  if (!NAME_PATTERN.test(name)) {
    throw new Ec2Error('InvalidLaunchTemplateName.MalformedException', `A launch template name must be between 3 and 128 characters, and may contain letters, numbers, and the following characters: - ( ) . / _.' (${param})`);
  }
  return name;
}

export function checkLaunchTemplateId(id: string): string {
  if (!ID_PATTERN.test(id)) throw new Ec2Error('InvalidLaunchTemplateId.Malformed', `The launch template ID '${id}' is malformed.`);
  return id;
}

const FILTERS: FilterTable<LaunchTemplateRecord> = {
  'launch-template-name': (t) => [t.name],
  'create-time': (t) => [t.createdAt],
};

const VERSION_FILTERS: FilterTable<LaunchTemplateVersionRecord> = {
  'is-default-version': () => [], // filled per template below
  'image-id': (v) => (v.data.imageId ? [v.data.imageId] : []),
  'instance-type': (v) => (v.data.instanceType ? [v.data.instanceType] : []),
  'kernel-id': (v) => (v.data.kernelId ? [v.data.kernelId] : []),
  'ram-disk-id': (v) => (v.data.ramdiskId ? [v.data.ramdiskId] : []),
  'create-time': (v) => [v.createdAt],
  'ebs-optimized': (v) => [String(v.data.ebsOptimized ?? false)],
  'disable-api-termination': (v) => [String(v.data.disableApiTermination ?? false)],
  'disable-api-stop': (v) => [String(v.data.disableApiStop ?? false)],
};

/** A template reference: by id or by name. */
export interface TemplateRef {
  readonly id: string | undefined;
  readonly name: string | undefined;
}

export class LaunchTemplateService {
  private readonly pending = new Set<string>();

  constructor(private readonly templates: Collection<LaunchTemplateRecord>) {}

  list(caller: Caller): LaunchTemplateRecord[] {
    return this.templates.all().filter((t) => t.accountId === caller.accountId);
  }

  /** The caller's template by id (for tags); undefined when it has none of that id. */
  find(caller: Caller, id: string): LaunchTemplateRecord | undefined {
    const t = this.templates.get(id);
    return t && t.accountId === caller.accountId ? t : undefined;
  }

  async setTags(id: string, tags: Readonly<Record<string, string>>): Promise<void> {
    await this.templates.update(id, (t) => ({ ...t, tags }));
  }

  /** The caller's template named by id or name: EC2's NotFound codes otherwise (another account's included). */
  resolve(caller: Caller, ref: TemplateRef): LaunchTemplateRecord {
    if ((ref.id === undefined || ref.id === '') === (ref.name === undefined || ref.name === '')) {
      throw new Ec2Error('MissingParameter', 'The request must contain the parameter launchTemplateName or launchTemplateId');
    }
    if (ref.id !== undefined && ref.id !== '') {
      const t = this.find(caller, checkLaunchTemplateId(ref.id));
      if (!t) throw new Ec2Error('InvalidLaunchTemplateId.NotFound', `The specified launch template, with template ID ${ref.id}, does not exist.`, { context: { launchTemplateId: ref.id } });
      return t;
    }
    const t = this.list(caller).find((x) => x.name === ref.name);
    if (!t) throw new Ec2Error('InvalidLaunchTemplateName.NotFoundException', `The specified launch template, with template name ${ref.name}, does not exist.`, { context: { launchTemplateName: ref.name } });
    return t;
  }

  /** A version named as EC2 names them: $Latest, $Default or a number. */
  version(t: LaunchTemplateRecord, v: string | undefined): LaunchTemplateVersionRecord {
    const n = v === undefined || v === '$Default' ? t.defaultVersion : v === '$Latest' ? t.latestVersion : /^[1-9][0-9]{0,17}$/.test(v) ? Number(v) : NaN;
    if (Number.isNaN(n)) throw new Ec2Error('InvalidLaunchTemplateId.VersionNotFound', `Could not find launch template version ${v} for template ${t.id}.`, { context: { launchTemplateId: t.id, version: v } });
    const found = t.versions.find((x) => x.number === n);
    if (!found) throw new Ec2Error('InvalidLaunchTemplateId.VersionNotFound', `Could not find launch template version ${v} for template ${t.id}.`, { context: { launchTemplateId: t.id, version: v } });
    return found;
  }

  /** The launch data RunInstances LaunchTemplate names. */
  launchData(caller: Caller, spec: LaunchTemplateSpecification): { template: LaunchTemplateRecord; data: LaunchData } {
    const t = this.resolve(caller, { id: spec.launchTemplateId, name: spec.launchTemplateName });
    return { template: t, data: launchDataOf(this.version(t, spec.version).data) };
  }

  async create(caller: Caller, p: { name: string; description: string | undefined; data: LaunchData; tags: Readonly<Record<string, string>>; clientToken?: string | undefined }): Promise<LaunchTemplateRecord> {
    checkLaunchTemplateName(p.name);
    const prior = p.clientToken === undefined ? undefined : this.list(caller).find((t) => t.clientToken === p.clientToken);
    if (prior) {
      if (prior.name !== p.name) throw new Ec2Error('IdempotentParameterMismatch', 'The client token you have provided is associated with a resource that is already deleted or has different parameters.');
      return prior;
    }
    const slot = `${caller.accountId}\u0000${p.name}`;
    if (this.list(caller).some((t) => t.name === p.name) || this.pending.has(slot)) {
      throw new Ec2Error('InvalidLaunchTemplateName.AlreadyExistsException', `Launch template name already in use.`, { context: { launchTemplateName: p.name } });
    }
    this.pending.add(slot);
    try {
      const now = new Date().toISOString();
      const t: LaunchTemplateRecord = {
        id: `lt-${randomBytes(9).toString('hex').slice(0, 17)}`,
        accountId: caller.accountId,
        name: p.name,
        createdAt: now,
        createdBy: caller.arn,
        defaultVersion: 1,
        latestVersion: 1,
        tags: { ...p.tags },
        versions: [{ number: 1, description: p.description, createdAt: now, createdBy: caller.arn, data: storedLaunchData(p.data) }],
        ...(p.clientToken !== undefined ? { clientToken: p.clientToken } : {}),
      };
      await this.templates.put(t);
      return t;
    } finally {
      this.pending.delete(slot);
    }
  }

  /** A new version: SourceVersion's data under the given data when a source is named, else the given data alone. */
  async createVersion(caller: Caller, ref: TemplateRef, p: { sourceVersion: string | undefined; description: string | undefined; data: LaunchData }): Promise<{ template: LaunchTemplateRecord; version: LaunchTemplateVersionRecord }> {
    const t = this.resolve(caller, ref);
    const base = p.sourceVersion === undefined ? undefined : launchDataOf(this.version(t, p.sourceVersion).data);
    if (t.versions.length >= MAX_VERSIONS) throw new Ec2Error('VersionLimitExceeded', `The launch template ${t.id} has the maximum number of versions (${MAX_VERSIONS}).`);
    const data = base ? mergeLaunchData(base, p.data) : p.data;
    let made: LaunchTemplateVersionRecord | undefined;
    const next = await this.templates.update(t.id, (cur) => {
      made = { number: cur.latestVersion + 1, description: p.description, createdAt: new Date().toISOString(), createdBy: caller.arn, data: storedLaunchData(data) };
      return { ...cur, latestVersion: made.number, versions: [...cur.versions, made] };
    });
    return { template: next!, version: made! };
  }

  async setDefault(caller: Caller, ref: TemplateRef, version: string | undefined): Promise<LaunchTemplateRecord> {
    const t = this.resolve(caller, ref);
    if (version === undefined) return t;
    const v = this.version(t, version);
    return (await this.templates.update(t.id, (cur) => ({ ...cur, defaultVersion: v.number })))!;
  }

  async delete(caller: Caller, ref: TemplateRef): Promise<LaunchTemplateRecord> {
    const t = this.resolve(caller, ref);
    await this.templates.delete(t.id);
    return t;
  }

  /** Deletes the named versions but the default one; reports each as deleted or not, as EC2 does. */
  async deleteVersions(caller: Caller, ref: TemplateRef, versions: readonly string[]): Promise<{ template: LaunchTemplateRecord; deleted: number[]; failed: { version: string; code: string; message: string }[] }> {
    const t = this.resolve(caller, ref);
    const deleted: number[] = [];
    const failed: { version: string; code: string; message: string }[] = [];
    for (const v of versions) {
      const n = /^[1-9][0-9]{0,17}$/.test(v) ? Number(v) : NaN;
      if (!t.versions.some((x) => x.number === n)) failed.push({ version: v, code: 'launchTemplateVersionDoesNotExist', message: `The specified launch template version ${v} does not exist.` });
      else if (n === t.defaultVersion) failed.push({ version: v, code: 'unexpectedError', message: 'Cannot delete the default version of a launch template.' });
      else if (!deleted.includes(n)) deleted.push(n);
    }
    if (deleted.length > 0) await this.templates.update(t.id, (cur) => ({ ...cur, versions: cur.versions.filter((x) => !deleted.includes(x.number)) }));
    return { template: t, deleted, failed };
  }

  describe(caller: Caller, ids: readonly string[], names: readonly string[], filters: readonly Filter[]): LaunchTemplateRecord[] {
    const match = compileFilterTable(filters, FILTERS, (t) => t.tags);
    const picked = [...ids.map((id) => this.resolve(caller, { id, name: undefined })), ...names.map((name) => this.resolve(caller, { id: undefined, name }))];
    const base = ids.length + names.length > 0 ? [...new Map(picked.map((t) => [t.id, t])).values()] : this.list(caller);
    return base.filter(match);
  }

  /**
   * DescribeLaunchTemplateVersions: one template's versions (Versions, MinVersion/MaxVersion), or,
   * without a template, every template's $Latest or $Default version.
   */
  describeVersions(caller: Caller, ref: TemplateRef, p: { versions: readonly string[]; minVersion: string | undefined; maxVersion: string | undefined; filters: readonly Filter[] }): { template: LaunchTemplateRecord; version: LaunchTemplateVersionRecord }[] {
    const out: { template: LaunchTemplateRecord; version: LaunchTemplateVersionRecord }[] = [];
    const isDefault = new WeakMap<LaunchTemplateVersionRecord, boolean>();
    if ((ref.id === undefined || ref.id === '') && (ref.name === undefined || ref.name === '')) {
      if (p.versions.length === 0 || p.versions.some((v) => v !== '$Latest' && v !== '$Default')) {
        throw new Ec2Error('MissingParameter', 'The request must contain the parameter launchTemplateName or launchTemplateId');
      }
      for (const t of this.list(caller)) for (const v of new Set(p.versions.map((x) => this.version(t, x)))) out.push({ template: t, version: v });
    } else {
      const t = this.resolve(caller, ref);
      const bound = (v: string | undefined, dflt: number): number => (v === undefined ? dflt : this.version(t, v).number);
      const lo = bound(p.minVersion, 0);
      const hi = bound(p.maxVersion, Number.MAX_SAFE_INTEGER);
      const chosen = p.versions.length > 0 ? [...new Set(p.versions.map((v) => this.version(t, v)))] : t.versions.filter((v) => v.number >= lo && v.number <= hi);
      for (const v of chosen) out.push({ template: t, version: v });
    }
    for (const o of out) isDefault.set(o.version, o.version.number === o.template.defaultVersion);
    const match = compileFilterTable<LaunchTemplateVersionRecord>(p.filters, { ...VERSION_FILTERS, 'is-default-version': (v) => [String(isDefault.get(v) ?? false)] }, () => ({}));
    return out.filter((o) => match(o.version));
  }
}
