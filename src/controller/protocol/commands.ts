// The controller's typed, versioned command layer: JSON from the wire in, a
// discriminated union out. Pure (no I/O). Every refusal is a ControllerError with a stable
// code and kind 'invalid', which the server turns into HTTP 400.
//
//   envelope: { v: 1, id: <uuid>, type, params, issuedAt: <ISO time>, sig: <base64> }
//   sig: ECDSA P-384 / SHA-384 (DER, base64) by the caller's client-certificate key over
//        canonicalJson(signedFields(envelope)) = canonical JSON of {v, id, type, params, issuedAt}
//   reply: { v: 1, id, ok: true, result } | { v: 1, id, ok: false, error: {code, kind, message} }
import type { HypervisorResults, InstanceSpec } from '../../hypervisor/protocol/messages.js';
import type { EbsContract } from '../../ebs/protocol/messages.js';
import type { AttestReply } from '../../security-chip/protocol/attest-wire.js';
import { parseInstanceSpec } from '../../hypervisor/protocol/instance-spec.js';
import { parseRootVolumeOpen, type RootVolumeOpen } from '../../hypervisor/protocol/boot-disk.js';
import type { ReplyMessage } from '../../lib/channel/envelope.js';
import { ControllerError, type ReplyError } from '../errors.js';
import { parseAttestParams, type AttestParams } from '../../security-chip/protocol/attest-wire.js';
import { BASE64, bad, isObject, onlyKeys, optBool, optInt, SNAPSHOT_ID, str } from './fields.js';
import { EBS_DIRECT_COMMAND_TYPES, isEbsDirectCommandType, parseEbsDirectCommand, type EbsDirectCommandBody } from './ebs-direct-commands.js';
export { EBS_DIRECT_COMMAND_EXAMPLES, EBS_DIRECT_COMMAND_TYPES, type EbsDirectCommandBody } from './ebs-direct-commands.js';
import { isVpcCommandType, parseVpcCommand, VPC_COMMAND_TYPES, type VpcCommandBody, type VpcCommandResults } from './vpc-commands.js';

export const CONTROLLER_PROTOCOL_VERSION = 1;

/** Client roles, carried in the client certificate's OU. */
export const ROLE_REGION = 'nitride-region'; // may send every command
export const ROLE_OPERATOR = 'nitride-operator'; // may send READ_ONLY_TYPES only

export type ControllerCommandBody =
  | VpcCommandBody
  | { readonly type: 'host.status'; readonly params: Record<string, never> }
  | { readonly type: 'host.attest'; readonly params: AttestParams }
  | { readonly type: 'host.restart-component'; readonly params: { readonly component: 'hypervisor' | 'ebs' | 'vpc' } }
  | { readonly type: 'host.update'; readonly params: HostUpdateParams }
  | { readonly type: 'instance.start'; readonly params: { readonly spec: InstanceSpec; readonly rootVolume?: RootVolumeOpen } }
  | { readonly type: 'instance.stop'; readonly params: { readonly instanceId: string; readonly force?: boolean; readonly deadlineMs?: number } }
  | { readonly type: 'instance.reboot'; readonly params: { readonly instanceId: string } }
  | { readonly type: 'instance.terminate'; readonly params: { readonly instanceId: string } }
  | { readonly type: 'instance.describe'; readonly params: { readonly instanceId: string } }
  | { readonly type: 'instance.list'; readonly params: Record<string, never> }
  | { readonly type: 'instance.console'; readonly params: { readonly instanceId: string; readonly latest?: boolean } }
  | { readonly type: 'instance.tpm-ekpub'; readonly params: { readonly instanceId: string; readonly keyType: 'rsa' | 'ecc-sec-p384'; readonly keyFormat: 'der' | 'tpmt' } }
  | { readonly type: 'instance.qmp'; readonly params: { readonly instanceId: string; readonly execute: string; readonly arguments?: Record<string, unknown> } }
  | { readonly type: 'ebs.info'; readonly params: Record<string, never> }
  | { readonly type: 'volume.attach'; readonly params: VolumeAttachParams }
  | { readonly type: 'volume.detach'; readonly params: { readonly instanceId: string; readonly volumeId: string; readonly force?: boolean } }
  | { readonly type: 'volume.delete'; readonly params: { readonly volumeId: string } }
  | { readonly type: 'snapshot.create'; readonly params: { readonly volumeId: string; readonly snapshotId: string; readonly sizeBytes: number } }
  | { readonly type: 'snapshot.delete'; readonly params: { readonly snapshotId: string } }
  | { readonly type: 'volume.from-snapshot'; readonly params: { readonly volumeId: string; readonly snapshotId: string; readonly sizeBytes: number } }
  | { readonly type: 'snapshot.copy'; readonly params: { readonly sourceSnapshotId: string; readonly snapshotId: string; readonly sourceKey: string | null; readonly key: string | null } }
  | EbsDirectCommandBody;

/**
 * host.update: replace a component by the signed bundle in `bundle` (an absolute directory on
 * the host), or with `rollback: true` by the bundle it ran before its last update.
 */
export interface HostUpdateParams {
  readonly component: 'hypervisor' | 'ebs' | 'vpc' | 'controller';
  readonly bundle?: string;
  readonly rollback?: true;
}

/** volume.attach: the card opens the export, the hypervisor hot-plugs it. */
export interface VolumeAttachParams {
  readonly instanceId: string;
  readonly volumeId: string;
  readonly sizeBytes: number;
  /** base64 of the data key sealed to the card's public key (aad: the volume id); null: unencrypted. */
  readonly sealedKey: string | null;
  /** Instance store: the card makes the key and never stores it. */
  readonly ephemeral?: boolean;
}

export type CommandType = ControllerCommandBody['type'];
export type ParamsOf<T extends CommandType> = Extract<ControllerCommandBody, { type: T }>['params'];
/** What a command answers with: the `result` of an ok reply, typed for the sender (src/region/fleet.ts, src/controller/client.ts). */
export type ResultOf<T extends CommandType> = CommandResults[T];

/** One component's supervision state, as host.status reports it. */
export interface ComponentStatusReport {
  readonly name: string;
  readonly state: string;
  readonly pid: number | undefined;
  readonly restarts: number;
  readonly startedAt: string | undefined;
  readonly lastExit: { readonly code: number | null; readonly signal: string | null; readonly at: string } | undefined;
}

/** The security chip's state (host.status). */
export interface SecurityChipStatus {
  readonly mode: 'signed' | 'dev';
  /** dev mode: what was measured instead of signed bundles. */
  readonly note?: string;
  /** signed mode: the bundle each component runs. */
  readonly bundles?: { readonly name: string; readonly version: string; readonly digest: string }[];
  /** Every PCR that is not all zeros, hex. */
  readonly pcrs: Record<string, string>;
  readonly events: number;
}

/** Which signed bundle a component runs, and what a rollback would return to. */
export interface ComponentVersion {
  readonly version: string;
  readonly digest: string | null;
  readonly dir: string | null;
  readonly since: string | null;
  readonly previous: { readonly version: string; readonly digest: string; readonly dir: string } | null;
}

export interface HostStatusResult {
  readonly hostId: string;
  readonly enrolled: boolean;
  readonly fingerprint: string;
  readonly accel: unknown;
  readonly uptimeS: number;
  /** Capacity the region schedules against: this machine's memory and CPUs. */
  readonly memoryMiB: number;
  readonly vcpus: number;
  readonly controller: { readonly pid: number; readonly rssBytes: number; readonly port: number; readonly address: string; readonly auditRecords: number };
  /** Each with the version of the signed bundle it runs ('dev' when unsigned). */
  readonly components: (ComponentStatusReport & { readonly version: string })[];
  readonly securityChip: SecurityChipStatus;
  readonly componentVersions: Record<string, ComponentVersion>;
  /** host.info with fresh instance counts; null when the hypervisor does not answer. */
  readonly hypervisor: HypervisorResults['host.info'] | null;
  readonly instances: HypervisorResults['instance.list'];
  readonly hypervisorError?: ReplyError;
}

/** host.update: what was replaced by what, measured how, and the hand-over's own report. */
export interface HostUpdateResult {
  readonly component: HostUpdateParams['component'];
  readonly kind: 'update' | 'rollback';
  readonly previous: { readonly version: string; readonly digest: string; readonly dir: string } | null;
  readonly current: { readonly version: string; readonly digest: string; readonly dir: string };
  /** The PCR event the new bundle was measured into (PCR index, sha384, description). */
  readonly measurement: { readonly pcrIndex: number; readonly digest: string; readonly description: string };
  readonly totalMs: number;
  readonly handover: unknown;
}

type Ebs<O extends keyof EbsContract> = EbsContract[O]['result'];

/** What each command answers with. */
export interface CommandResults extends VpcCommandResults {
  'host.status': HostStatusResult;
  'host.attest': AttestReply;
  /** The component's status after the restart (hypervisor), or what its live update did (cards). */
  'host.restart-component': object;
  'host.update': HostUpdateResult;
  'instance.start': HypervisorResults['instance.start'];
  'instance.stop': HypervisorResults['instance.stop'];
  'instance.reboot': HypervisorResults['instance.reboot'];
  'instance.terminate': HypervisorResults['instance.terminate'];
  'instance.describe': HypervisorResults['instance.describe'];
  'instance.list': HypervisorResults['instance.list'];
  'instance.console': HypervisorResults['instance.console'];
  'instance.tpm-ekpub': HypervisorResults['instance.tpm-ekpub'];
  'instance.qmp': HypervisorResults['instance.qmp'];
  'ebs.info': Ebs<'card.info'>;
  'volume.attach': { readonly instanceId: string; readonly volumeId: string; readonly serial: string; readonly device: string; readonly plugged: boolean; readonly encrypted: boolean };
  'volume.detach': { readonly instanceId: string; readonly volumeId: string; readonly detached: boolean };
  'volume.delete': Ebs<'volume.delete'>;
  'snapshot.create': Ebs<'snapshot.create'>;
  'snapshot.delete': Ebs<'snapshot.delete'>;
  'volume.from-snapshot': Ebs<'volume.from-snapshot'>;
  'snapshot.copy': Ebs<'snapshot.copy'>;
  'snapshot.begin': Ebs<'snapshot.begin'>;
  'snapshot.put-block': Ebs<'snapshot.put-block'>;
  'snapshot.seal': Ebs<'snapshot.seal'>;
  'snapshot.abort': Ebs<'snapshot.abort'>;
  'snapshot.get-block': Ebs<'snapshot.get-block'>;
  'snapshot.list-blocks': Ebs<'snapshot.list-blocks'>;
}

export type SignedCommand = ControllerCommandBody & {
  readonly v: 1;
  readonly id: string;
  readonly issuedAt: string;
  readonly sig: string;
};

/** The reply to a signed command: the channel's reply envelope with the command's uuid as its id. */
export type ControllerReply = ReplyMessage<string>;

export const COMMAND_TYPES: readonly CommandType[] = [
  ...VPC_COMMAND_TYPES,
  'host.status',
  'host.attest',
  'host.restart-component',
  'host.update',
  'instance.start',
  'instance.stop',
  'instance.reboot',
  'instance.terminate',
  'instance.describe',
  'instance.list',
  'instance.console',
  'instance.qmp',
  'instance.tpm-ekpub',
  'ebs.info',
  'volume.attach',
  'volume.detach',
  'volume.delete',
  'snapshot.create',
  'snapshot.delete',
  'volume.from-snapshot',
  'snapshot.copy',
  ...EBS_DIRECT_COMMAND_TYPES,
];

/**
 * Commands a caller with the read-only operator role may send: host and instance state only.
 * Not instance.console — a guest's console output is the customer's data, for the region's
 * GetConsoleOutput, not for whoever operates the host.
 */
export const READ_ONLY_TYPES: ReadonlySet<CommandType> = new Set(['host.status', 'instance.describe', 'instance.list']);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const SHA256 = /^[0-9a-f]{64}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const VOLUME_ID = /^vol-[0-9a-f]{8,17}$/;

function instanceIdOnly(p: Record<string, unknown>, where: string): { instanceId: string } {
  onlyKeys(p, ['instanceId'], where);
  return { instanceId: str(p, 'instanceId', where, INSTANCE_ID) };
}

function empty(p: Record<string, unknown>, where: string): Record<string, never> {
  onlyKeys(p, [], where);
  return {};
}

/**
 * The spec is checked by the one InstanceSpec parser the hypervisor uses too
 * (src/hypervisor/protocol/instance-spec.ts), with its limits. Volumes are not part of a
 * start from the region: they come one by one through volume.attach.
 */
function parseSpec(v: unknown): InstanceSpec {
  const spec = parseInstanceSpec(v, (message, { code, ...context }) => bad(code ?? 'InvalidParameter', message, context), 'params.spec');
  if (spec.volumes !== undefined) throw bad('InvalidParameter', 'params.spec.volumes is not accepted: volumes are attached with volume.attach.', { field: 'params.spec.volumes' });
  return spec;
}

/** Validates the params of one command type and returns the typed body. */
export function parseCommandBody(type: unknown, params: unknown): ControllerCommandBody {
  if (typeof type !== 'string') throw bad('MalformedCommand', 'The command has no type.');
  if (!(COMMAND_TYPES as readonly string[]).includes(type)) {
    throw bad('UnknownCommandType', `The command type '${type.slice(0, 64)}' does not exist.`, { type: type.slice(0, 64), known: COMMAND_TYPES });
  }
  if (!isObject(params)) throw bad('InvalidParameter', 'params must be an object.');
  const t = type as CommandType;
  const w = 'params';
  if (isVpcCommandType(t)) return parseVpcCommand(t, params);
  if (isEbsDirectCommandType(t)) return parseEbsDirectCommand(t, params);
  switch (t) {
    case 'host.status':
    case 'instance.list':
    case 'ebs.info':
      return { type: t, params: empty(params, w) };
    case 'host.attest':
      // Region-initiated attestation (docs/SECURITY-CHIP.md): {nonce: hex, userData?: hex}.
      try {
        return { type: t, params: parseAttestParams(params) };
      } catch (e) {
        const ctx = (e as { context?: Record<string, unknown> }).context ?? {};
        throw bad('InvalidParameter', `params: ${(e as Error).message}`, ctx);
      }
    case 'volume.attach': {
      onlyKeys(params, ['instanceId', 'volumeId', 'sizeBytes', 'sealedKey', 'ephemeral'], w);
      const sizeBytes = optInt(params, 'sizeBytes', w, 4096, 16384 * 2 ** 30);
      if (sizeBytes === undefined || sizeBytes % 4096 !== 0) throw bad('InvalidParameter', 'params.sizeBytes must be a multiple of 4096.', { field: 'sizeBytes' });
      const sk = params['sealedKey'];
      if (sk !== null && (typeof sk !== 'string' || sk.length > 4096 || !BASE64.test(sk))) throw bad('InvalidParameter', 'params.sealedKey must be base64 or null.', { field: 'sealedKey' });
      const ephemeral = optBool(params, 'ephemeral', w);
      return {
        type: t,
        params: {
          instanceId: str(params, 'instanceId', w, INSTANCE_ID),
          volumeId: str(params, 'volumeId', w, VOLUME_ID),
          sizeBytes,
          sealedKey: sk,
          ...(ephemeral !== undefined ? { ephemeral } : {}),
        },
      };
    }
    case 'volume.detach': {
      onlyKeys(params, ['instanceId', 'volumeId', 'force'], w);
      const force = optBool(params, 'force', w);
      return { type: t, params: { instanceId: str(params, 'instanceId', w, INSTANCE_ID), volumeId: str(params, 'volumeId', w, VOLUME_ID), ...(force !== undefined ? { force } : {}) } };
    }
    case 'volume.delete':
      onlyKeys(params, ['volumeId'], w);
      return { type: t, params: { volumeId: str(params, 'volumeId', w, VOLUME_ID) } };
    case 'snapshot.delete':
      onlyKeys(params, ['snapshotId'], w);
      return { type: t, params: { snapshotId: str(params, 'snapshotId', w, SNAPSHOT_ID) } };
    case 'snapshot.copy': {
      onlyKeys(params, ['sourceSnapshotId', 'snapshotId', 'sourceKey', 'key'], w);
      const sealed = (k: string): string | null => {
        const v = params[k];
        if (v !== null && (typeof v !== 'string' || v.length > 4096 || !BASE64.test(v))) throw bad('InvalidParameter', `params.${k} must be base64 or null.`, { field: k });
        return v;
      };
      return {
        type: t,
        params: { sourceSnapshotId: str(params, 'sourceSnapshotId', w, SNAPSHOT_ID), snapshotId: str(params, 'snapshotId', w, SNAPSHOT_ID), sourceKey: sealed('sourceKey'), key: sealed('key') },
      };
    }
    case 'snapshot.create':
    case 'volume.from-snapshot': {
      onlyKeys(params, ['volumeId', 'snapshotId', 'sizeBytes'], w);
      const sizeBytes = optInt(params, 'sizeBytes', w, 4096, 16384 * 2 ** 30);
      if (sizeBytes === undefined || sizeBytes % 4096 !== 0) throw bad('InvalidParameter', 'params.sizeBytes must be a multiple of 4096.', { field: 'sizeBytes' });
      return { type: t, params: { volumeId: str(params, 'volumeId', w, VOLUME_ID), snapshotId: str(params, 'snapshotId', w, SNAPSHOT_ID), sizeBytes } };
    }
    case 'host.restart-component': {
      onlyKeys(params, ['component'], w);
      const c = params['component'];
      if (c !== 'hypervisor' && c !== 'ebs' && c !== 'vpc') throw bad('InvalidParameter', "params.component must be 'hypervisor', 'ebs' or 'vpc'.", { field: 'component', allowed: ['hypervisor', 'ebs', 'vpc'] });
      return { type: t, params: { component: c } };
    }
    case 'host.update': {
      onlyKeys(params, ['component', 'bundle', 'rollback'], w);
      const c = params['component'];
      if (c !== 'hypervisor' && c !== 'ebs' && c !== 'vpc' && c !== 'controller') {
        throw bad('InvalidParameter', "params.component must be 'hypervisor', 'ebs', 'vpc' or 'controller'.", { field: 'component', allowed: ['hypervisor', 'ebs', 'vpc', 'controller'] });
      }
      const b = params['bundle'];
      const rb = params['rollback'];
      if (rb !== undefined && rb !== true) throw bad('InvalidParameter', 'params.rollback must be true when given.', { field: 'rollback' });
      if ((b === undefined) === (rb === undefined)) throw bad('InvalidParameter', 'host.update needs exactly one of params.bundle and params.rollback.', { field: 'bundle' });
      if (b !== undefined && (typeof b !== 'string' || !b.startsWith('/') || b.length > 4096 || b.includes('\0') || b.split('/').includes('..'))) {
        throw bad('InvalidParameter', 'params.bundle must be an absolute directory path on the host (no ..).', { field: 'bundle' });
      }
      return { type: t, params: { component: c, ...(typeof b === 'string' ? { bundle: b } : {}), ...(rb === true ? { rollback: true as const } : {}) } };
    }
    case 'instance.start':
      onlyKeys(params, ['spec', 'rootVolume'], w);
      return { type: t, params: { spec: parseSpec(params['spec']), ...(params['rootVolume'] === undefined ? {} : { rootVolume: parseRootVolumeOpen(params['rootVolume'], 'params.rootVolume', (message, context) => bad('InvalidParameter', message, context)) }) } };
    case 'instance.stop': {
      onlyKeys(params, ['instanceId', 'force', 'deadlineMs'], w);
      const force = optBool(params, 'force', w);
      const deadlineMs = optInt(params, 'deadlineMs', w, 0, 600_000);
      return {
        type: t,
        params: { instanceId: str(params, 'instanceId', w, INSTANCE_ID), ...(force !== undefined ? { force } : {}), ...(deadlineMs !== undefined ? { deadlineMs } : {}) },
      };
    }
    case 'instance.reboot':
    case 'instance.terminate':
    case 'instance.describe':
      return { type: t, params: instanceIdOnly(params, w) };
    case 'instance.tpm-ekpub': {
      onlyKeys(params, ['instanceId', 'keyType', 'keyFormat'], w);
      const keyType = params['keyType'];
      const keyFormat = params['keyFormat'];
      if (keyType !== 'rsa' && keyType !== 'ecc-sec-p384') throw bad('InvalidParameter', "params.keyType must be 'rsa' or 'ecc-sec-p384'.", { field: 'keyType' });
      if (keyFormat !== 'der' && keyFormat !== 'tpmt') throw bad('InvalidParameter', "params.keyFormat must be 'der' or 'tpmt'.", { field: 'keyFormat' });
      return { type: t, params: { instanceId: str(params, 'instanceId', w, INSTANCE_ID), keyType, keyFormat } };
    }
    case 'instance.console': {
      onlyKeys(params, ['instanceId', 'latest'], w);
      const latest = optBool(params, 'latest', w);
      return { type: t, params: { instanceId: str(params, 'instanceId', w, INSTANCE_ID), ...(latest !== undefined ? { latest } : {}) } };
    }
    case 'instance.qmp': {
      onlyKeys(params, ['instanceId', 'execute', 'arguments'], w);
      const args = params['arguments'];
      if (args !== undefined && !isObject(args)) throw bad('InvalidParameter', 'params.arguments must be an object.', { field: 'arguments' });
      return {
        type: t,
        params: {
          instanceId: str(params, 'instanceId', w, INSTANCE_ID),
          execute: str(params, 'execute', w, /^[A-Za-z0-9_-]{1,128}$/),
          ...(args !== undefined ? { arguments: args } : {}),
        },
      };
    }
  }
}

/** The id and type of a raw command as far as they can be read, for the audit record of a refusal. */
export function peekIdentity(raw: unknown): { id?: string; type?: string } {
  if (!isObject(raw)) return {};
  const out: { id?: string; type?: string } = {};
  if (typeof raw['id'] === 'string') out.id = raw['id'].slice(0, 64);
  if (typeof raw['type'] === 'string') out.type = raw['type'].slice(0, 64);
  return out;
}

/** Parses a command envelope (already JSON-decoded). Throws a ControllerError (kind 'invalid'). */
export function parseCommand(raw: unknown): SignedCommand {
  if (!isObject(raw)) throw bad('MalformedCommand', 'The command must be a JSON object.');
  onlyKeys(raw, ['v', 'id', 'type', 'params', 'issuedAt', 'sig'], 'command');
  if (raw['v'] !== CONTROLLER_PROTOCOL_VERSION) {
    throw bad('UnsupportedVersion', `The command version ${JSON.stringify(raw['v'] ?? null)} is not supported; this controller speaks version ${CONTROLLER_PROTOCOL_VERSION}.`, {
      supported: [CONTROLLER_PROTOCOL_VERSION],
    });
  }
  if (typeof raw['id'] !== 'string' || !UUID.test(raw['id'])) throw bad('MalformedCommand', 'The command id must be a lowercase UUID.', { field: 'id' });
  if (typeof raw['issuedAt'] !== 'string' || !ISO.test(raw['issuedAt']) || Number.isNaN(Date.parse(raw['issuedAt']))) {
    throw bad('MalformedCommand', 'issuedAt must be an ISO-8601 UTC time such as 2026-01-01T00:00:00.000Z.', { field: 'issuedAt' });
  }
  if (typeof raw['sig'] !== 'string' || raw['sig'].length > 1024 || !BASE64.test(raw['sig'])) {
    throw bad('MalformedCommand', 'sig must be a base64 signature.', { field: 'sig' });
  }
  const body = parseCommandBody(raw['type'], raw['params']);
  return { ...body, v: 1, id: raw['id'], issuedAt: raw['issuedAt'], sig: raw['sig'] } as SignedCommand;
}

/** The fields the signature covers, exactly as received (the raw params, not the parsed copy). */
export function signedFields(raw: { v: unknown; id: unknown; type: unknown; params: unknown; issuedAt: unknown }): Record<string, unknown> {
  return { v: raw.v, id: raw.id, type: raw.type, params: raw.params, issuedAt: raw.issuedAt };
}

/** Checks the issuedAt window: at most maxAgeMs old and at most maxSkewMs in the future. */
export function checkFreshness(issuedAt: string, now: number, maxAgeMs = 5 * 60_000, maxSkewMs = 60_000): void {
  const t = Date.parse(issuedAt);
  if (t < now - maxAgeMs) throw new ControllerError('CommandExpired', 'denied', `The command was issued more than ${maxAgeMs / 1000} s ago.`, { issuedAt, ageMs: now - t });
  if (t > now + maxSkewMs) throw new ControllerError('CommandFromFuture', 'denied', `The command was issued more than ${maxSkewMs / 1000} s in the future.`, { issuedAt, aheadMs: t - now });
}

/** Replaces the value of every field whose name suggests a secret, at any depth. */
export function redact(v: unknown, depth = 0): unknown {
  if (depth > 16) return '[too deep]';
  if (Array.isArray(v)) return v.map((x) => redact(x, depth + 1));
  if (!isObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    // a block of a snapshot (snapshot.put-block) is customer data: the record keeps its size only
    if (k === 'data' && typeof x === 'string') out[k] = `[${x.length} base64 characters]`;
    else out[k] = /userdata|key|secret|token|password|passphrase/i.test(k) ? '[redacted]' : redact(x, depth + 1);
  }
  return out;
}
