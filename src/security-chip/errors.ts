// The security chip's error base. Every failure of bundle verification, measurement,
// attestation or policy carries a stable code that the controller and region can match on
// and show verbatim. Pure: no I/O, so the protocol layer may use it.
import { NitrideError } from '../lib/errors.js';

export class SecurityChipError extends NitrideError {}

/** Stable codes of the security chip, for callers that switch on them. */
export const SECURITY_CHIP_CODES = [
  'CborMalformed',
  'CoseMalformed',
  'BundleManifestInvalid',
  'BundleSignatureInvalid',
  'BundleFileMismatch',
  'BundleFileMissing',
  'BundleExtraFile',
  'BundleWrongComponent',
  'ReleaseKeyInvalid',
  'PcrIndexInvalid',
  'EventLogInvalid',
  'EventLogMismatch',
  'AttestationMalformed',
  'AttestationSignatureInvalid',
  'AttestationCertUntrusted',
  'AttestationStale',
  'AttestationNonceMismatch',
  'AttestationNonceReplayed',
  'AttestationPcrMismatch',
  'AttestationHostMismatch',
  'AttestationPublicKeyMismatch',
  'AttestationInputInvalid',
  'PolicyInvalid',
] as const;
export type SecurityChipCode = (typeof SECURITY_CHIP_CODES)[number];
