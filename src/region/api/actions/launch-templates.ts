// The EC2 launch template actions over LaunchTemplateService (src/region/ec2/launch-templates.ts).
// One entry per action; authorization and audit happen in server.ts first. A template is the IAM
// resource arn:aws:ec2:<region>:<account>:launch-template/<id>.
import type { LaunchTemplateRef, LaunchTemplateRequest } from '../../protocol/ec2/requests/index.js';
import type { LaunchTemplateVersionView, LaunchTemplateView } from '../../protocol/ec2/responses/index.js';
import type { Caller } from '../../ec2/instances.js';
import type { LaunchTemplateRecord, LaunchTemplateVersionRecord, TemplateRef } from '../../ec2/launch-templates.js';
import { REGION_NAME } from '../../ec2/model.js';
import { tagsFor } from '../../ec2/tags.js';
import { page, type ActionTable, type Ec2Services, type IamResource } from './common.js';

const refOf = (r: LaunchTemplateRef): TemplateRef => ({ id: r.launchTemplateId, name: r.launchTemplateName });

export const launchTemplateArn = (acct: string, id: string): string => `arn:aws:ec2:${REGION_NAME}:${acct}:launch-template/${id}`;

/** The template a request names, as an IAM resource (its tags as conditions when the caller owns it). */
function templateResource(svc: Ec2Services, caller: Caller, r: LaunchTemplateRef): IamResource[] {
  let t: LaunchTemplateRecord | undefined;
  try {
    t = svc.launchTemplates.resolve(caller, refOf(r));
  } catch {
    t = undefined; // answered by the handler, after authorization
  }
  const context: Record<string, string> = {};
  for (const [k, v] of Object.entries(t?.tags ?? {})) context[`aws:ResourceTag/${k}`] = v;
  return [{ arn: launchTemplateArn(caller.accountId, t?.id ?? '*'), context }];
}

export const templateView = (t: LaunchTemplateRecord): LaunchTemplateView => ({
  launchTemplateId: t.id,
  launchTemplateName: t.name,
  createTime: new Date(t.createdAt),
  createdBy: t.createdBy,
  defaultVersionNumber: t.defaultVersion,
  latestVersionNumber: t.latestVersion,
  tags: Object.entries(t.tags).map(([key, value]) => ({ key, value })),
});

const versionView = (t: LaunchTemplateRecord, v: LaunchTemplateVersionRecord): LaunchTemplateVersionView => ({
  launchTemplateId: t.id,
  launchTemplateName: t.name,
  versionNumber: v.number,
  versionDescription: v.description,
  createTime: new Date(v.createdAt),
  createdBy: v.createdBy,
  defaultVersion: v.number === t.defaultVersion,
  launchTemplateData: v.data,
});

const summary = (r: { launchTemplate: LaunchTemplateView }): Record<string, unknown> => ({ launchTemplateId: r.launchTemplate.launchTemplateId, launchTemplateName: r.launchTemplate.launchTemplateName, defaultVersion: r.launchTemplate.defaultVersionNumber, latestVersion: r.launchTemplate.latestVersionNumber });

export const LAUNCH_TEMPLATE_ACTIONS: ActionTable<LaunchTemplateRequest> = {
  CreateLaunchTemplate: {
    async run(svc, caller, req) {
      // the template's own tags; its data's TagSpecification.N tag what it launches
      const tags = tagsFor(req.tagSpecifications, 'launch-template');
      const t = await svc.launchTemplates.create(caller, { name: req.launchTemplateName, description: req.versionDescription, data: req.launchTemplateData, tags, clientToken: req.clientToken });
      return { action: 'CreateLaunchTemplate', launchTemplate: templateView(t) };
    },
    resources(_svc, caller, req) {
      const context: Record<string, string> = {};
      for (const s of req.tagSpecifications) for (const tag of s.tags) context[`aws:RequestTag/${tag.key}`] = tag.value;
      return [{ arn: launchTemplateArn(caller.accountId, '*'), context }];
    },
    summary,
  },
  CreateLaunchTemplateVersion: {
    async run(svc, caller, req) {
      const { template, version } = await svc.launchTemplates.createVersion(caller, refOf(req), { sourceVersion: req.sourceVersion, description: req.versionDescription, data: req.launchTemplateData });
      return { action: 'CreateLaunchTemplateVersion', launchTemplateVersion: versionView(template, version) };
    },
    resources: (svc, caller, req) => templateResource(svc, caller, req),
    summary: (r) => ({ launchTemplateId: r.launchTemplateVersion.launchTemplateId, versionNumber: r.launchTemplateVersion.versionNumber }),
  },
  DescribeLaunchTemplates: {
    run(svc, caller, req) {
      const all = svc.launchTemplates.describe(caller, req.launchTemplateIds, req.launchTemplateNames, req.filters);
      const p = page(all, (t) => t.id, req.maxResults, req.nextToken);
      return { action: 'DescribeLaunchTemplates', launchTemplates: p.items.map(templateView), nextToken: p.nextToken };
    },
  },
  DescribeLaunchTemplateVersions: {
    run(svc, caller, req) {
      const all = svc.launchTemplates.describeVersions(caller, refOf(req), { versions: req.versions, minVersion: req.minVersion, maxVersion: req.maxVersion, filters: req.filters });
      const key = (o: (typeof all)[number]): string => `${o.template.id}\u0000${String(o.version.number).padStart(20, '0')}`;
      const p = page(all, key, req.maxResults, req.nextToken);
      return { action: 'DescribeLaunchTemplateVersions', launchTemplateVersions: p.items.map((o) => versionView(o.template, o.version)), nextToken: p.nextToken };
    },
    resources: (svc, caller, req) => (req.launchTemplateId === undefined && req.launchTemplateName === undefined ? [] : templateResource(svc, caller, req)),
  },
  ModifyLaunchTemplate: {
    run: async (svc, caller, req) => ({ action: 'ModifyLaunchTemplate', launchTemplate: templateView(await svc.launchTemplates.setDefault(caller, refOf(req), req.defaultVersion)) }),
    resources: (svc, caller, req) => templateResource(svc, caller, req),
    summary,
  },
  DeleteLaunchTemplate: {
    run: async (svc, caller, req) => ({ action: 'DeleteLaunchTemplate', launchTemplate: templateView(await svc.launchTemplates.delete(caller, refOf(req))) }),
    resources: (svc, caller, req) => templateResource(svc, caller, req),
    summary,
  },
  DeleteLaunchTemplateVersions: {
    async run(svc, caller, req) {
      const { template: t, deleted, failed } = await svc.launchTemplates.deleteVersions(caller, refOf(req), req.versions);
      return {
        action: 'DeleteLaunchTemplateVersions',
        deleted: deleted.map((n) => ({ launchTemplateId: t.id, launchTemplateName: t.name, versionNumber: n })),
        failed: failed.map((f) => ({ launchTemplateId: t.id, launchTemplateName: t.name, versionNumber: Number(f.version) || 0, error: { code: f.code, message: f.message } })),
      };
    },
    resources: (svc, caller, req) => templateResource(svc, caller, req),
    summary: (r) => ({ deleted: r.deleted.map((d) => d.versionNumber), failed: r.failed.map((f) => f.versionNumber) }),
  },
};
