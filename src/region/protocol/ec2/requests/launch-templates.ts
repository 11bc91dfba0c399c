// EC2 requests, launch templates: create (with versions), describe, modify the default version,
// delete. LaunchTemplateData is read with RunInstances' own reader (readLaunchData), so a
// template holds exactly what a launch accepts.
// Declares each request, the family's union and one parser per action; index.ts joins the families.

import { Ec2Error } from '../../errors.js';
import { type Base, checkClientToken, dryRun, type Filter, missing, type Paged, type ParamReader, type ParserTable, readFilters, readTagSpecifications, type TagSpecification } from './common.js';
import { type LaunchData, readLaunchData, refuseUnhonoured } from './instances.js';

/** A template named by id or by name (the handler insists on exactly one). */
export interface LaunchTemplateRef {
  readonly launchTemplateId: string | undefined;
  readonly launchTemplateName: string | undefined;
}

export interface CreateLaunchTemplateRequest extends Base {
  readonly action: 'CreateLaunchTemplate';
  readonly clientToken: string | undefined;
  readonly launchTemplateName: string;
  readonly versionDescription: string | undefined;
  readonly launchTemplateData: LaunchData;
  /** TagSpecification.N: `launch-template` tags the template itself. */
  readonly tagSpecifications: readonly TagSpecification[];
}

export interface CreateLaunchTemplateVersionRequest extends Base, LaunchTemplateRef {
  readonly action: 'CreateLaunchTemplateVersion';
  readonly clientToken: string | undefined;
  readonly sourceVersion: string | undefined;
  readonly versionDescription: string | undefined;
  readonly launchTemplateData: LaunchData;
}

export interface DescribeLaunchTemplatesRequest extends Base, Paged {
  readonly action: 'DescribeLaunchTemplates';
  readonly launchTemplateIds: readonly string[];
  readonly launchTemplateNames: readonly string[];
  readonly filters: readonly Filter[];
}

export interface DescribeLaunchTemplateVersionsRequest extends Base, Paged, LaunchTemplateRef {
  readonly action: 'DescribeLaunchTemplateVersions';
  readonly versions: readonly string[];
  readonly minVersion: string | undefined;
  readonly maxVersion: string | undefined;
  readonly filters: readonly Filter[];
}

export interface ModifyLaunchTemplateRequest extends Base, LaunchTemplateRef {
  readonly action: 'ModifyLaunchTemplate';
  readonly clientToken: string | undefined;
  /** SetDefaultVersion (the model's DefaultVersion). */
  readonly defaultVersion: string | undefined;
}

export interface DeleteLaunchTemplateRequest extends Base, LaunchTemplateRef {
  readonly action: 'DeleteLaunchTemplate';
}

export interface DeleteLaunchTemplateVersionsRequest extends Base, LaunchTemplateRef {
  readonly action: 'DeleteLaunchTemplateVersions';
  readonly versions: readonly string[];
}

export type LaunchTemplateRequest =
  | CreateLaunchTemplateRequest
  | CreateLaunchTemplateVersionRequest
  | DescribeLaunchTemplatesRequest
  | DescribeLaunchTemplateVersionsRequest
  | ModifyLaunchTemplateRequest
  | DeleteLaunchTemplateRequest
  | DeleteLaunchTemplateVersionsRequest;

const ref = (r: ParamReader): LaunchTemplateRef => ({ launchTemplateId: r.string('LaunchTemplateId'), launchTemplateName: r.string('LaunchTemplateName') });

function templateData(r: ParamReader): LaunchData {
  const d = r.struct('LaunchTemplateData');
  if (d === undefined) throw missing('LaunchTemplateData');
  return refuseUnhonoured(readLaunchData(d, 'RamDiskId'));
}

function description(r: ParamReader): string | undefined {
  const d = r.string('VersionDescription');
  if (d !== undefined && d.length > 255) throw new Ec2Error('InvalidParameterValue', 'The version description is at most 255 characters.');
  return d;
}

export const LAUNCH_TEMPLATE_PARSERS: ParserTable<LaunchTemplateRequest> = {
  CreateLaunchTemplate: (r) => ({
    action: 'CreateLaunchTemplate',
    dryRun: dryRun(r),
    clientToken: checkClientToken(r),
    launchTemplateName: r.requiredString('LaunchTemplateName'),
    versionDescription: description(r),
    launchTemplateData: templateData(r),
    tagSpecifications: readTagSpecifications(r),
  }),

  CreateLaunchTemplateVersion: (r) => ({
    action: 'CreateLaunchTemplateVersion',
    dryRun: dryRun(r),
    ...ref(r),
    clientToken: checkClientToken(r),
    sourceVersion: r.string('SourceVersion'),
    versionDescription: description(r),
    launchTemplateData: templateData(r),
  }),

  DescribeLaunchTemplates: (r) => ({
    action: 'DescribeLaunchTemplates',
    dryRun: dryRun(r),
    launchTemplateIds: r.stringList('LaunchTemplateId'),
    launchTemplateNames: r.stringList('LaunchTemplateName'),
    filters: readFilters(r),
    maxResults: r.integer('MaxResults', 1, 200),
    nextToken: r.string('NextToken'),
  }),

  DescribeLaunchTemplateVersions: (r) => ({
    action: 'DescribeLaunchTemplateVersions',
    dryRun: dryRun(r),
    ...ref(r),
    versions: r.stringList('LaunchTemplateVersion'),
    minVersion: r.string('MinVersion'),
    maxVersion: r.string('MaxVersion'),
    filters: readFilters(r),
    maxResults: r.integer('MaxResults', 1, 200),
    nextToken: r.string('NextToken'),
  }),

  ModifyLaunchTemplate: (r) => ({ action: 'ModifyLaunchTemplate', dryRun: dryRun(r), ...ref(r), clientToken: checkClientToken(r), defaultVersion: r.string('SetDefaultVersion') }),

  DeleteLaunchTemplate: (r) => ({ action: 'DeleteLaunchTemplate', dryRun: dryRun(r), ...ref(r) }),

  DeleteLaunchTemplateVersions(r) {
    const versions = r.stringList('LaunchTemplateVersion');
    if (versions.length === 0) throw missing('LaunchTemplateVersion');
    return { action: 'DeleteLaunchTemplateVersions', dryRun: dryRun(r), ...ref(r), versions };
  },
};

/** The launch template actions that change state (audited before effect; every action accepts DryRun). */
export const LAUNCH_TEMPLATE_MUTATING: readonly LaunchTemplateRequest['action'][] = ['CreateLaunchTemplate', 'CreateLaunchTemplateVersion', 'ModifyLaunchTemplate', 'DeleteLaunchTemplate', 'DeleteLaunchTemplateVersions'];
