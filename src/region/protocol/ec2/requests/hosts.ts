// EC2 requests, host operations of the region operator: host releases and live updates of host components (Nitride's own actions).
// Declares each request, the family's union and one parser per action; index.ts joins the families.

import { Ec2Error } from '../../errors.js';
import { type Base, dryRun, missing, type ParserTable } from './common.js';

/**
 * Nitride's own administrative actions on hosts (not EC2's): the region operator's live
 * updates of host components and release policies (src/region/host-updates.ts).
 */
export interface NitrideSetHostReleaseRequest extends Base {
  readonly action: 'NitrideSetHostRelease';
  readonly hostId: string | undefined;
  /** The JSON of `nitride release policy --measurements`. */
  readonly policyDocument: string;
}

export interface NitrideUpdateHostComponentRequest extends Base {
  readonly action: 'NitrideUpdateHostComponent';
  readonly hostId: string | undefined;
  readonly component: 'hypervisor' | 'ebs' | 'vpc' | 'controller';
  readonly bundle: string | undefined;
  readonly rollback: boolean;
}

/** Enrols a controller: BootstrapFingerprint pins its certificate; TrustOnFirstUse=true must be named to go without. */
export interface NitrideAddHostRequest extends Base {
  readonly action: 'NitrideAddHost';
  readonly address: string;
  readonly port: number;
  readonly token: string;
  readonly bootstrapFingerprint: string | undefined;
  readonly trustOnFirstUse: boolean;
}

export type HostRequest =
  | NitrideAddHostRequest
  | NitrideSetHostReleaseRequest
  | NitrideUpdateHostComponentRequest;

export const HOST_PARSERS: ParserTable<HostRequest> = {
  NitrideAddHost(r) {
    const port = r.integer('Port', 1, 65535);
    if (port === undefined) throw missing('Port');
    const bootstrapFingerprint = r.string('BootstrapFingerprint');
    const trustOnFirstUse = r.boolean('TrustOnFirstUse') ?? false;
    if (bootstrapFingerprint !== undefined && trustOnFirstUse) throw new Ec2Error('InvalidParameterCombination', 'Give either BootstrapFingerprint or TrustOnFirstUse=true, not both.');
    if (bootstrapFingerprint === undefined && !trustOnFirstUse) {
      throw new Ec2Error('MissingParameter', "The request must contain the parameter BootstrapFingerprint (the host's `nitride host init` prints it), or name TrustOnFirstUse=true.");
    }
    return { action: 'NitrideAddHost', dryRun: dryRun(r), address: r.requiredString('Address'), port, token: r.requiredString('Token'), bootstrapFingerprint, trustOnFirstUse };
  },

  NitrideSetHostRelease: (r) => ({ action: 'NitrideSetHostRelease', dryRun: dryRun(r), hostId: r.string('HostId'), policyDocument: r.requiredString('PolicyDocument') }),

  NitrideUpdateHostComponent(r) {
    const component = r.enumString('Component', ['hypervisor', 'ebs', 'vpc', 'controller']);
    if (component === undefined) throw missing('Component');
    const bundle = r.string('Bundle');
    const rollback = r.boolean('Rollback') ?? false;
    if ((bundle === undefined) === !rollback) throw new Ec2Error('InvalidParameterCombination', 'Give either Bundle or Rollback=true.');
    if (bundle !== undefined && !bundle.startsWith('/')) throw new Ec2Error('InvalidParameterValue', 'Bundle must be an absolute path.');
    return { action: 'NitrideUpdateHostComponent', dryRun: dryRun(r), hostId: r.string('HostId'), component, bundle, rollback };
  },
};

/** The hosts actions that change state (audited before effect; every action accepts DryRun). */
export const HOST_MUTATING: readonly HostRequest['action'][] = ['NitrideAddHost', 'NitrideSetHostRelease', 'NitrideUpdateHostComponent'];
