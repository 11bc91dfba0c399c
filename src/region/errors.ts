// Shorthands for EC2 errors the region's domain logic raises. The class is the wire
// layer's Ec2Error: its `code` is EC2's error code and the server renders it once.
import { Ec2Error } from './protocol/errors.js';

export const incorrectState = (message: string, context: Record<string, unknown> = {}): Ec2Error =>
  new Ec2Error('IncorrectInstanceState', message, { context });

export const dryRunOk = (): Ec2Error => new Ec2Error('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.');
