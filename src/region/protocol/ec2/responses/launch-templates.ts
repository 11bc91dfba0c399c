// EC2 responses, launch templates: the template and version shapes and their XML writers
// (locationNames from botocore's LaunchTemplate, LaunchTemplateVersion, ResponseLaunchTemplateData).

import type { XmlWriter } from '../../../../lib/xml.js';
import type { LaunchData } from '../requests/instances.js';
import { type TagItem, type WriterTable, writeTags } from './common.js';

export interface LaunchTemplateView {
  readonly launchTemplateId: string;
  readonly launchTemplateName: string;
  readonly createTime: Date;
  readonly createdBy: string;
  readonly defaultVersionNumber: number;
  readonly latestVersionNumber: number;
  readonly tags: readonly TagItem[];
}

export interface LaunchTemplateVersionView {
  readonly launchTemplateId: string;
  readonly launchTemplateName: string;
  readonly versionNumber: number;
  readonly versionDescription: string | undefined;
  readonly createTime: Date;
  readonly createdBy: string;
  readonly defaultVersion: boolean;
  /** The data as stored: user data is the base64 text given. */
  readonly launchTemplateData: Omit<LaunchData, 'userData'> & { readonly userData?: string | undefined };
}

export interface LaunchTemplateVersionResult {
  readonly launchTemplateId: string;
  readonly launchTemplateName: string;
  readonly versionNumber: number;
  readonly error?: { readonly code: string; readonly message: string };
}

export type LaunchTemplateResponse =
  | { readonly action: 'CreateLaunchTemplate' | 'ModifyLaunchTemplate' | 'DeleteLaunchTemplate'; readonly launchTemplate: LaunchTemplateView }
  | { readonly action: 'CreateLaunchTemplateVersion'; readonly launchTemplateVersion: LaunchTemplateVersionView }
  | { readonly action: 'DescribeLaunchTemplates'; readonly launchTemplates: readonly LaunchTemplateView[]; readonly nextToken: string | undefined }
  | { readonly action: 'DescribeLaunchTemplateVersions'; readonly launchTemplateVersions: readonly LaunchTemplateVersionView[]; readonly nextToken: string | undefined }
  | { readonly action: 'DeleteLaunchTemplateVersions'; readonly deleted: readonly LaunchTemplateVersionResult[]; readonly failed: readonly LaunchTemplateVersionResult[] };

function writeTemplate(w: XmlWriter, t: LaunchTemplateView): void {
  w.leaf('launchTemplateId', t.launchTemplateId).leaf('launchTemplateName', t.launchTemplateName).leaf('createTime', t.createTime.toISOString()).leaf('createdBy', t.createdBy);
  w.leaf('defaultVersionNumber', t.defaultVersionNumber).leaf('latestVersionNumber', t.latestVersionNumber);
  writeTags(w, t.tags);
}

function writeData(w: XmlWriter, d: LaunchTemplateVersionView['launchTemplateData']): void {
  w.open('launchTemplateData');
  w.leaf('kernelId', d.kernelId).leaf('ebsOptimized', d.ebsOptimized);
  if (d.blockDeviceMappings.length > 0) {
    w.list('blockDeviceMappingSet', d.blockDeviceMappings, (x, m) => {
      x.leaf('deviceName', m.deviceName).leaf('virtualName', m.virtualName);
      if (m.ebs) {
        const e = m.ebs;
        x.open('ebs').leaf('encrypted', e.encrypted).leaf('deleteOnTermination', e.deleteOnTermination).leaf('iops', e.iops).leaf('kmsKeyId', e.kmsKeyId);
        x.leaf('snapshotId', e.snapshotId).leaf('volumeSize', e.volumeSize).leaf('volumeType', e.volumeType).leaf('throughput', e.throughput).close();
      }
      if (m.noDevice) x.leaf('noDevice', '');
    });
  }
  if (d.networkInterfaces.length > 0) {
    w.list('networkInterfaceSet', d.networkInterfaces, (x, n) => {
      x.leaf('associatePublicIpAddress', n.associatePublicIpAddress).leaf('deleteOnTermination', n.deleteOnTermination).leaf('description', n.description).leaf('deviceIndex', n.deviceIndex);
      if (n.groups.length > 0) x.list('groupSet', n.groups, (y, g) => y.text(g), 'groupId');
      x.leaf('privateIpAddress', n.privateIpAddress).leaf('subnetId', n.subnetId);
    });
  }
  w.leaf('imageId', d.imageId).leaf('instanceType', d.instanceType).leaf('keyName', d.keyName);
  if (d.monitoringEnabled !== undefined) w.open('monitoring').leaf('enabled', d.monitoringEnabled).close();
  if (d.availabilityZone !== undefined) w.open('placement').leaf('availabilityZone', d.availabilityZone).close();
  w.leaf('ramDiskId', d.ramdiskId).leaf('disableApiTermination', d.disableApiTermination).leaf('instanceInitiatedShutdownBehavior', d.instanceInitiatedShutdownBehavior).leaf('userData', d.userData);
  if (d.tagSpecifications.length > 0) {
    w.list('tagSpecificationSet', d.tagSpecifications, (x, s) => {
      x.leaf('resourceType', s.resourceType);
      writeTags(x, s.tags);
    });
  }
  if (d.securityGroupIds.length > 0) w.list('securityGroupIdSet', d.securityGroupIds, (x, g) => x.text(g));
  if (d.securityGroups.length > 0) w.list('securityGroupSet', d.securityGroups, (x, g) => x.text(g));
  const m = d.metadataOptions;
  if (m !== undefined) {
    w.open('metadataOptions').leaf('state', 'applied').leaf('httpTokens', m.httpTokens).leaf('httpPutResponseHopLimit', m.httpPutResponseHopLimit).leaf('httpEndpoint', m.httpEndpoint);
    w.leaf('httpProtocolIpv6', m.httpProtocolIpv6).leaf('instanceMetadataTags', m.instanceMetadataTags).close();
  }
  w.leaf('disableApiStop', d.disableApiStop);
  w.close();
}

function writeVersion(w: XmlWriter, v: LaunchTemplateVersionView): void {
  w.leaf('launchTemplateId', v.launchTemplateId).leaf('launchTemplateName', v.launchTemplateName).leaf('versionNumber', v.versionNumber).leaf('versionDescription', v.versionDescription);
  w.leaf('createTime', v.createTime.toISOString()).leaf('createdBy', v.createdBy).leaf('defaultVersion', v.defaultVersion);
  writeData(w, v.launchTemplateData);
}

const writeOne = (w: XmlWriter, t: LaunchTemplateView): void => void w.element('launchTemplate', (x) => writeTemplate(x, t));

export const LAUNCH_TEMPLATE_WRITERS: WriterTable<LaunchTemplateResponse> = {
  CreateLaunchTemplate: (w, r) => writeOne(w, r.launchTemplate),
  ModifyLaunchTemplate: (w, r) => writeOne(w, r.launchTemplate),
  DeleteLaunchTemplate: (w, r) => writeOne(w, r.launchTemplate),
  CreateLaunchTemplateVersion: (w, r) => void w.element('launchTemplateVersion', (x) => writeVersion(x, r.launchTemplateVersion)),
  DescribeLaunchTemplates(w, r) {
    w.list('launchTemplates', r.launchTemplates, writeTemplate);
    w.leaf('nextToken', r.nextToken);
  },
  DescribeLaunchTemplateVersions(w, r) {
    w.list('launchTemplateVersionSet', r.launchTemplateVersions, writeVersion);
    w.leaf('nextToken', r.nextToken);
  },
  DeleteLaunchTemplateVersions(w, r) {
    const item = (x: XmlWriter, v: LaunchTemplateVersionResult): void => {
      x.leaf('launchTemplateId', v.launchTemplateId).leaf('launchTemplateName', v.launchTemplateName).leaf('versionNumber', v.versionNumber);
      if (v.error) x.open('responseError').leaf('code', v.error.code).leaf('message', v.error.message).close();
    };
    w.list('successfullyDeletedLaunchTemplateVersionSet', r.deleted, item);
    w.list('unsuccessfullyDeletedLaunchTemplateVersionSet', r.failed, item);
  },
};
