// The EC2 actions: a typed request in, a typed response out. Authorization and audit
// happen in the front door (server.ts) before these run; these only touch the domain.
import type { HostUpdateService } from '../host-updates.js';
import { findInstanceType } from '../../lib/instance-types.js';
import { Ec2Error } from '../protocol/errors.js';
import type { Ec2Request } from '../protocol/ec2-requests.js';
import type { Ec2Response } from '../protocol/ec2-responses.js';
import { instanceState } from '../protocol/ec2-responses.js';
import type { ImageService } from '../ec2/images.js';
import type { Caller, InstanceService, StateChange } from '../ec2/instances.js';
import type { TagService } from '../ec2/tags.js';
import type { VpcService } from '../ec2/vpc.js';
import type { VolumeService } from '../ec2/volumes.js';
import { ebsImageFields } from '../ec2/root-volumes.js';
import { handleEbs } from '../ec2/volumes-api.js';
import { AVAILABILITY_ZONES, REGION_NAME } from '../ec2/model.js';
import { compileFilters } from '../ec2/filters.js';
import { allInstanceTypes, imageView, instanceStatusView, instanceTypeView, reservations } from './views.js';

export interface Ec2Services {
  readonly instances: InstanceService;
  readonly images: ImageService;
  readonly tags: TagService;
  /** VPCs, subnets, security groups, ENIs (issue 5); absent: those actions are InvalidAction. */
  readonly vpc?: VpcService;
  /** EBS volumes and the account's encryption defaults (src/region/ec2/volumes.ts). */
  readonly volumes?: VolumeService;
  /** The region operator's live updates of host components (src/region/host-updates.ts). */
  readonly hostUpdates?: HostUpdateService;
  /** host:port the API answers on (known once the server listens). */
  endpoint(): string;
}

/** Opaque pagination token: the id of the last item of the previous page. */
export function encodeToken(lastId: string): string {
  return Buffer.from(JSON.stringify({ after: lastId })).toString('base64url');
}

function decodeToken(token: string | undefined): string | undefined {
  if (token === undefined) return undefined;
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof v.after === 'string') return v.after;
  } catch {
    // fall through
  }
  throw new Ec2Error('InvalidNextToken', 'The specified token is not valid.');
}

/** One page of items sorted by id, after the token's id. */
export function page<T>(items: readonly T[], idOf: (t: T) => string, maxResults: number | undefined, nextToken: string | undefined): { items: T[]; nextToken: string | undefined } {
  const after = decodeToken(nextToken);
  const sorted = [...items].sort((a, b) => (idOf(a) < idOf(b) ? -1 : idOf(a) > idOf(b) ? 1 : 0));
  const start = after === undefined ? 0 : sorted.findIndex((t) => idOf(t) > after);
  const rest = start < 0 ? [] : sorted.slice(start);
  if (maxResults === undefined || rest.length <= maxResults) return { items: rest, nextToken: undefined };
  const items2 = rest.slice(0, maxResults);
  return { items: items2, nextToken: encodeToken(idOf(items2[items2.length - 1]!)) };
}

const changes = (cs: readonly StateChange[]): { instanceId: string; currentState: ReturnType<typeof instanceState>; previousState: ReturnType<typeof instanceState> }[] =>
  cs.map((c) => ({ instanceId: c.instanceId, currentState: instanceState(c.currentState), previousState: instanceState(c.previousState) }));

function tagsFor(specs: readonly { resourceType: string; tags: readonly { key: string; value: string }[] }[], type: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of specs) {
    if (s.resourceType !== type) continue;
    for (const t of s.tags) out[t.key] = t.value;
  }
  return out;
}

/** The instances' VPC view (vpcId, groups, networkInterfaceSet) when the VPC layer is present. */
function withVpc<R extends { instances: readonly import('../protocol/ec2-responses.js').Ec2Instance[] }>(svc: Ec2Services, r: R): R {
  const v = svc.vpc;
  return v ? { ...r, instances: r.instances.map((i) => v.decorate(i)) } : r;
}

/** The instances' blockDeviceMapping: the EBS volumes attached to each (when the EBS layer is present). */
function withVolumes<R extends { instances: readonly import('../protocol/ec2-responses.js').Ec2Instance[] }>(svc: Ec2Services, caller: Caller, r: R): R {
  const byInstance = svc.volumes?.blockDevicesByInstance(caller);
  return byInstance ? { ...r, instances: r.instances.map((i) => ({ ...i, blockDeviceMappings: byInstance.get(i.instanceId) ?? i.blockDeviceMappings })) } : r;
}

export async function handleEc2(svc: Ec2Services, caller: Caller, req: Ec2Request): Promise<Ec2Response> {
  switch (req.action) {
    case 'RunInstances': {
      for (const s of req.tagSpecifications) {
        if (s.resourceType !== 'instance' && s.resourceType !== 'volume' && s.resourceType !== 'network-interface') {
          throw new Ec2Error('InvalidParameterValue', `'${s.resourceType}' is not a valid taggable resource type for this operation.`);
        }
      }
      const tags = tagsFor(req.tagSpecifications, 'instance');
      svc.volumes?.checkMappings(caller, req.blockDeviceMappings);
      const recs = await svc.instances.run(caller, {
        imageId: req.imageId,
        instanceType: req.instanceType ?? 'm1.small',
        minCount: req.minCount,
        maxCount: req.maxCount,
        userData: req.userData?.toString('base64'),
        clientToken: req.clientToken,
        tags,
        subnetId: req.subnetId ?? req.networkInterfaces[0]?.subnetId,
        securityGroupIds: req.securityGroupIds.length > 0 ? req.securityGroupIds : (req.networkInterfaces[0]?.groups ?? []),
        privateIpAddress: req.privateIpAddress ?? req.networkInterfaces[0]?.privateIpAddress,
        keyName: req.keyName,
        blockDeviceMappings: req.blockDeviceMappings,
        metadataOptions: {
          ...(req.metadataOptions?.httpTokens ? { httpTokens: req.metadataOptions.httpTokens } : {}),
          ...(req.metadataOptions?.httpPutResponseHopLimit !== undefined ? { httpPutResponseHopLimit: req.metadataOptions.httpPutResponseHopLimit } : {}),
          ...(req.metadataOptions?.httpEndpoint ? { httpEndpoint: req.metadataOptions.httpEndpoint } : {}),
        },
      });
      // extra EBS volumes of BlockDeviceMappings: created now, plugged once each instance runs
      await svc.volumes?.fromMappings(caller, recs, req.blockDeviceMappings);
      const [res] = reservations(recs);
      return { action: 'RunInstances', reservation: withVolumes(svc, caller, withVpc(svc, res!)) };
    }
    case 'DescribeInstances': {
      const recs = svc.instances.describe(caller, req.instanceIds, req.filters);
      const p = page(recs, (r) => r.id, req.maxResults, req.nextToken);
      return { action: 'DescribeInstances', reservations: reservations(p.items).map((r) => withVolumes(svc, caller, withVpc(svc, r))), nextToken: p.nextToken };
    }
    case 'DescribeInstanceStatus': {
      let recs = svc.instances.describe(caller, req.instanceIds, []);
      if (!req.includeAllInstances) recs = recs.filter((r) => r.state === 'running');
      const views = recs.map(instanceStatusView);
      const known = new Set(['instance-state-name', 'instance-state-code', 'availability-zone', 'instance-status.status', 'system-status.status', 'instance-status.reachability', 'system-status.reachability']);
      const match = compileFilters<(typeof views)[number]>(
        req.filters,
        (v, n) => {
          switch (n) {
            case 'instance-state-name':
              return [v.instanceState.name];
            case 'instance-state-code':
              return [String(v.instanceState.code)];
            case 'availability-zone':
              return [v.availabilityZone];
            case 'instance-status.status':
              return [v.instanceStatus.status];
            case 'system-status.status':
              return [v.systemStatus.status];
            case 'instance-status.reachability':
              return v.instanceStatus.details.map((d) => d.status);
            case 'system-status.reachability':
              return v.systemStatus.details.map((d) => d.status);
            default:
              return undefined;
          }
        },
        (n) => known.has(n),
      );
      const p = page(views.filter(match), (v) => v.instanceId, req.maxResults, req.nextToken);
      return { action: 'DescribeInstanceStatus', instanceStatuses: p.items, nextToken: p.nextToken };
    }
    case 'StartInstances':
      return { action: 'StartInstances', instances: changes(await svc.instances.start(caller, req.instanceIds)) };
    case 'StopInstances':
      return { action: 'StopInstances', instances: changes(await svc.instances.stop(caller, req.instanceIds, req.force)) };
    case 'TerminateInstances':
      return { action: 'TerminateInstances', instances: changes(await svc.instances.terminate(caller, req.instanceIds)) };
    case 'RebootInstances':
      await svc.instances.reboot(caller, req.instanceIds);
      return { action: 'RebootInstances' };
    case 'GetConsoleOutput': {
      const out = await svc.instances.consoleOutput(caller, req.instanceId);
      return { action: 'GetConsoleOutput', instanceId: req.instanceId, timestamp: new Date(out.timestamp), output: out.output };
    }
    case 'GetInstanceTpmEkPub':
      return { action: 'GetInstanceTpmEkPub', ...(await svc.instances.tpmEkPub(caller, req.instanceId, req.keyType, req.keyFormat)) };
    case 'NitrideSetHostRelease':
      if (!svc.hostUpdates) throw new Ec2Error('InvalidAction', 'The action NitrideSetHostRelease is not valid for this web service.');
      return { action: 'NitrideSetHostRelease', ...(await svc.hostUpdates.setRelease(caller, req.hostId, req.policyDocument)) };
    case 'NitrideUpdateHostComponent': {
      if (!svc.hostUpdates) throw new Ec2Error('InvalidAction', 'The action NitrideUpdateHostComponent is not valid for this web service.');
      const target = req.bundle !== undefined ? { bundle: req.bundle } : { rollback: true as const };
      return { action: 'NitrideUpdateHostComponent', ...(await svc.hostUpdates.update(caller, req.hostId, req.component, target)) };
    }
    case 'DescribeImages': {
      const imgs = svc.images.describe(caller, { imageIds: req.imageIds, owners: req.owners, filters: req.filters });
      const p = page(imgs, (i) => i.id, req.maxResults, req.nextToken);
      return { action: 'DescribeImages', images: p.items.map(imageView), nextToken: p.nextToken };
    }
    case 'RegisterImage': {
      const builtin = svc.images.describe(caller, { imageIds: [], owners: ['amazon'], filters: [{ name: 'name', values: ['nitride-minimal'] }] })[0];
      const rec = await svc.images.register(
        caller,
        {
          name: req.name,
          description: req.description,
          imageLocation: req.imageLocation,
          tpmSupport: req.tpmSupport,
          bootMode: req.bootMode,
          ebs: req.imageLocation === undefined && req.blockDeviceMappings.length > 0 && svc.volumes ? ebsImageFields(caller, req, svc.volumes) : undefined,
        },
        builtin?.cmdline ?? 'console=ttyS0 panic=-1',
      );
      const tags = tagsFor(req.tagSpecifications, 'image');
      if (Object.keys(tags).length > 0) await svc.images.setTags(rec.id, tags);
      return { action: 'RegisterImage', imageId: rec.id };
    }
    case 'DeregisterImage':
      await svc.images.deregister(caller, req.imageId);
      return { action: 'DeregisterImage' };
    case 'DescribeInstanceTypes': {
      for (const n of req.instanceTypes) {
        if (!findInstanceType(n)) throw new Ec2Error('InvalidInstanceType', `The following supplied instance types do not exist: [${n}]`);
      }
      let types = allInstanceTypes().filter((t) => req.instanceTypes.length === 0 || req.instanceTypes.includes(t.name));
      const known = new Set(['instance-type', 'vcpu-info.default-vcpus', 'memory-info.size-in-mib', 'instance-storage-supported', 'current-generation', 'burstable-performance-supported']);
      const match = compileFilters<(typeof types)[number]>(
        req.filters,
        (t, n) => {
          switch (n) {
            case 'instance-type':
              return [t.name];
            case 'vcpu-info.default-vcpus':
              return [String(t.vcpus)];
            case 'memory-info.size-in-mib':
              return [String(t.memoryMiB)];
            case 'instance-storage-supported':
              return [String(t.instanceStorageGiB > 0)];
            case 'current-generation':
              return ['true'];
            case 'burstable-performance-supported':
              return [String(t.burstable)];
            default:
              return undefined;
          }
        },
        (n) => known.has(n),
      );
      types = types.filter(match);
      const p = page(types, (t) => t.name, req.maxResults, req.nextToken);
      return { action: 'DescribeInstanceTypes', instanceTypes: p.items.map(instanceTypeView), nextToken: p.nextToken };
    }
    case 'CreateTags':
      await svc.tags.create(caller, req.resources, req.tags);
      return { action: 'CreateTags' };
    case 'DeleteTags':
      await svc.tags.delete(caller, req.resources, req.tags);
      return { action: 'DeleteTags' };
    case 'DescribeTags': {
      const all = svc.tags.describe(caller, req.filters);
      const key = (t: (typeof all)[number]): string => `${t.resourceId}\u0000${t.key}`;
      const p = page(all, key, req.maxResults, req.nextToken);
      return { action: 'DescribeTags', tags: p.items, nextToken: p.nextToken };
    }
    case 'DescribeRegions': {
      for (const n of req.regionNames) if (n !== REGION_NAME) throw new Ec2Error('InvalidParameterValue', `Invalid region: ${n}`);
      return { action: 'DescribeRegions', regions: [{ regionName: REGION_NAME, regionEndpoint: svc.endpoint(), optInStatus: 'opt-in-not-required' }] };
    }
    case 'DescribeAvailabilityZones': {
      for (const n of req.zoneNames) {
        if (!(AVAILABILITY_ZONES as readonly string[]).includes(n)) throw new Ec2Error('InvalidParameterValue', `The zone '${n}' does not exist.`);
      }
      return {
        action: 'DescribeAvailabilityZones',
        availabilityZones: AVAILABILITY_ZONES.map((z, i) => ({
          zoneName: z,
          zoneId: `local1-az${i + 1}`,
          zoneState: 'available',
          regionName: REGION_NAME,
          groupName: REGION_NAME,
          networkBorderGroup: REGION_NAME,
          optInStatus: 'opt-in-not-required',
          zoneType: 'availability-zone',
          messages: [],
        })),
      };
    }
    default: {
      const ebsAnswer = svc.volumes ? await handleEbs(svc.volumes, caller, req) : undefined;
      if (ebsAnswer) return ebsAnswer;
      const vpcAnswer = svc.vpc ? await svc.vpc.handle(caller, req) : undefined;
      if (vpcAnswer) return vpcAnswer;
      // An action the wire layer knows but this region does not serve yet.
      throw new Ec2Error('InvalidAction', `The action ${(req as { action: string }).action} is not valid for this web service.`);
    }
  }
}
