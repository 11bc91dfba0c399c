// The EC2 instance actions: run, describe, state changes, console, NitroTPM EK, instance types,
// DescribeInstanceAttribute.
// One entry per action; authorization and audit happen in server.ts first.
import { refuseUnhonoured, type InstanceAttributeName, type InstanceRequest, type RequestOf } from '../../protocol/ec2/requests/index.js';
import { mergeLaunchData } from '../../ec2/launch-templates.js';
import { launchTemplateArn } from './launch-templates.js';
import { findInstanceType } from '../../../lib/instance-types.js';
import { Ec2Error } from '../../protocol/errors.js';
import { instanceState, type Ec2Instance, type InstanceAttributeValue, type InstanceStateChange } from '../../protocol/ec2/responses/index.js';
import { compileFilters } from '../../ec2/filters.js';
import { launchMappings } from '../../ec2/launch-mappings.js';
import type { Caller, StateChange } from '../../ec2/instances.js';
import { tagsFor } from '../../ec2/tags.js';
import { attributesOf, checkAvailabilityZone } from '../../ec2/model.js';
import { allInstanceTypes, instanceStatusView, instanceTypeView, instanceView, reservations } from '../views.js';
import { imageArn, instanceArn, instanceResource, page, type ActionTable, type Ec2Services } from './common.js';

/** A RunInstances request with its image known: its own members over its launch template's. */
type LaunchRequest = RequestOf<'RunInstances'> & { readonly imageId: string };

/** RunInstances with LaunchTemplate: the version's data under the request's own members (explicit parameters win). */
function withLaunchTemplate(svc: Ec2Services, caller: Caller, req: RequestOf<'RunInstances'>): LaunchRequest {
  const merged = req.launchTemplate === undefined ? req : refuseUnhonoured(mergeLaunchData(svc.launchTemplates.launchData(caller, req.launchTemplate).data, req));
  if (merged.imageId === undefined) throw new Ec2Error('MissingParameter', 'The request must contain the parameter ImageId.');
  return merged as LaunchRequest;
}

const changes = (cs: readonly StateChange[]): InstanceStateChange[] =>
  cs.map((c) => ({ instanceId: c.instanceId, currentState: instanceState(c.currentState), previousState: instanceState(c.previousState) }));

const stateChangeSummary = (r: { readonly instances: readonly InstanceStateChange[] }): Record<string, unknown> => ({
  instances: r.instances.map((i) => ({ instanceId: i.instanceId, currentState: i.currentState.name, previousState: i.previousState.name })),
});

/** The instances' VPC view (vpcId, groups, networkInterfaceSet) and their blockDeviceMapping (attached EBS volumes). */
function withVpcAndVolumes<R extends { instances: readonly Ec2Instance[] }>(svc: Ec2Services, caller: Caller, r: R): R {
  const byInstance = svc.volumes.blockDevicesByInstance(caller);
  return { ...r, instances: r.instances.map((i) => svc.vpc.decorate(i)).map((i) => ({ ...i, blockDeviceMappings: byInstance.get(i.instanceId) ?? i.blockDeviceMappings })) };
}

/** One attribute of the caller's instance, as DescribeInstanceAttribute answers it (from the DescribeInstances view). */
function instanceAttribute(svc: Ec2Services, caller: Caller, instanceId: string, attribute: InstanceAttributeName): InstanceAttributeValue {
  const rec = svc.instances.owned(caller, [instanceId])[0]!;
  const v = withVpcAndVolumes(svc, caller, { instances: [instanceView(rec)] }).instances[0]!;
  switch (attribute) {
    case 'instanceType':
      return { kind: 'value', value: v.instanceType };
    case 'kernel':
      return { kind: 'value', value: v.kernelId };
    case 'ramdisk':
      return { kind: 'value', value: v.ramdiskId };
    case 'userData':
      return { kind: 'value', value: rec.userData };
    case 'rootDeviceName':
      return { kind: 'value', value: v.rootDeviceName };
    case 'sriovNetSupport':
      return { kind: 'value', value: undefined };
    case 'instanceInitiatedShutdownBehavior':
      return { kind: 'value', value: attributesOf(rec).instanceInitiatedShutdownBehavior };
    case 'disableApiTermination':
    case 'disableApiStop':
      return { kind: 'boolean', value: attributesOf(rec)[attribute] };
    case 'ebsOptimized':
      return { kind: 'boolean', value: v.ebsOptimized };
    case 'enaSupport':
      return { kind: 'boolean', value: v.enaSupport ?? false };
    case 'sourceDestCheck':
      return { kind: 'boolean', value: v.sourceDestCheck ?? true };
    case 'blockDeviceMapping':
      return { kind: 'blockDeviceMapping', mappings: v.blockDeviceMappings };
    case 'groupSet':
      return { kind: 'groupSet', groups: v.securityGroups };
    case 'productCodes':
      return { kind: 'productCodes' };
    case 'enclaveOptions':
      return { kind: 'enclaveOptions', enabled: false };
  }
}

export const INSTANCE_ACTIONS: ActionTable<InstanceRequest> = {
  RunInstances: {
    async run(svc, caller, given) {
      const req = withLaunchTemplate(svc, caller, given);
      if (req.availabilityZone !== undefined) checkAvailabilityZone(req.availabilityZone); // every instance is placed in the one zone
      const tags = tagsFor(req.tagSpecifications, 'instance', ['volume', 'network-interface']);
      // the image's own mappings, changed by the request's as EC2 merges them (src/region/ec2/launch-mappings.ts)
      const mappings = launchMappings(svc.images.visible(caller, req.imageId), req.blockDeviceMappings);
      svc.volumes.checkMappings(caller, mappings);
      const attributes = {
        ...(req.disableApiTermination !== undefined ? { disableApiTermination: req.disableApiTermination } : {}),
        ...(req.disableApiStop !== undefined ? { disableApiStop: req.disableApiStop } : {}),
        ...(req.instanceInitiatedShutdownBehavior !== undefined ? { instanceInitiatedShutdownBehavior: req.instanceInitiatedShutdownBehavior } : {}),
        ...(req.ebsOptimized !== undefined ? { ebsOptimized: req.ebsOptimized } : {}),
      };
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
        associatePublicIpAddress: req.networkInterfaces[0]?.associatePublicIpAddress,
        keyName: req.keyName,
        blockDeviceMappings: mappings, // an EBS-backed image's root device entry overrides its root volume
        publicKey: svc.keyPairs.launchPublicKey(caller, req.keyName),
        metadataOptions: {
          ...(req.metadataOptions?.httpTokens ? { httpTokens: req.metadataOptions.httpTokens } : {}),
          ...(req.metadataOptions?.httpPutResponseHopLimit !== undefined ? { httpPutResponseHopLimit: req.metadataOptions.httpPutResponseHopLimit } : {}),
          ...(req.metadataOptions?.httpEndpoint ? { httpEndpoint: req.metadataOptions.httpEndpoint } : {}),
        },
        attributes,
      });
      // extra EBS volumes of BlockDeviceMappings: created now, plugged once each instance runs
      await svc.volumes.fromMappings(caller, recs, mappings);
      const [res] = reservations(recs);
      return { action: 'RunInstances', reservation: withVpcAndVolumes(svc, caller, res!) };
    },
    resources(svc, caller, given) {
      let req: LaunchRequest | RequestOf<'RunInstances'> = given;
      try {
        req = withLaunchTemplate(svc, caller, given);
      } catch {
        // an unknown template is answered by the handler, after authorization
      }
      const context: Record<string, string> = { 'ec2:InstanceType': req.instanceType ?? 'm1.small' };
      for (const s of req.tagSpecifications) for (const tag of s.tags) context[`aws:RequestTag/${tag.key}`] = tag.value;
      const out = [{ arn: instanceArn(caller.accountId, '*'), context }];
      if (req.imageId !== undefined) out.push({ arn: imageArn(req.imageId), context });
      if (given.launchTemplate !== undefined) {
        const t = svc.launchTemplates.list(caller).find((x) => x.id === given.launchTemplate?.launchTemplateId || x.name === given.launchTemplate?.launchTemplateName);
        out.push({ arn: launchTemplateArn(caller.accountId, t?.id ?? '*'), context });
      }
      return out;
    },
    summary: (r) => ({ reservationId: r.reservation.reservationId, instances: r.reservation.instances.map((i) => i.instanceId) }),
  },
  DescribeInstances: {
    run(svc, caller, req) {
      const recs = svc.instances.describe(caller, req.instanceIds, req.filters);
      const p = page(recs, (r) => r.id, req.maxResults, req.nextToken);
      return { action: 'DescribeInstances', reservations: reservations(p.items).map((r) => withVpcAndVolumes(svc, caller, r)), nextToken: p.nextToken };
    },
  },
  DescribeInstanceStatus: {
    run(svc, caller, req) {
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
    },
  },
  StartInstances: {
    run: async (svc, caller, req) => ({ action: 'StartInstances', instances: changes(await svc.instances.start(caller, req.instanceIds)) }),
    resources: (svc, caller, req) => req.instanceIds.map((id) => instanceResource(svc, caller, id)),
    summary: stateChangeSummary,
  },
  StopInstances: {
    run: async (svc, caller, req) => ({ action: 'StopInstances', instances: changes(await svc.instances.stop(caller, req.instanceIds, req.force)) }),
    resources: (svc, caller, req) => req.instanceIds.map((id) => instanceResource(svc, caller, id)),
    summary: stateChangeSummary,
  },
  TerminateInstances: {
    run: async (svc, caller, req) => ({ action: 'TerminateInstances', instances: changes(await svc.instances.terminate(caller, req.instanceIds)) }),
    resources: (svc, caller, req) => req.instanceIds.map((id) => instanceResource(svc, caller, id)),
    summary: stateChangeSummary,
  },
  RebootInstances: {
    async run(svc, caller, req) {
      await svc.instances.reboot(caller, req.instanceIds);
      return { action: 'RebootInstances' };
    },
    resources: (svc, caller, req) => req.instanceIds.map((id) => instanceResource(svc, caller, id)),
  },
  GetConsoleOutput: {
    async run(svc, caller, req) {
      const out = await svc.instances.consoleOutput(caller, req.instanceId);
      return { action: 'GetConsoleOutput', instanceId: req.instanceId, timestamp: new Date(out.timestamp), output: out.output };
    },
    resources: (svc, caller, req) => [instanceResource(svc, caller, req.instanceId)],
  },
  GetInstanceTpmEkPub: {
    run: async (svc, caller, req) => ({ action: 'GetInstanceTpmEkPub', ...(await svc.instances.tpmEkPub(caller, req.instanceId, req.keyType, req.keyFormat)) }),
    resources: (svc, caller, req) => [instanceResource(svc, caller, req.instanceId)],
  },
  DescribeInstanceTypes: {
    run(svc, caller, req) {
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
    },
  },
  DescribeInstanceAttribute: {
    resources: (svc, caller, req) => [instanceResource(svc, caller, req.instanceId)],
    run: (svc, caller, req) => ({ action: 'DescribeInstanceAttribute', instanceId: req.instanceId, attribute: req.attribute, value: instanceAttribute(svc, caller, req.instanceId, req.attribute) }),
  },
};
