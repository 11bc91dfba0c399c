// Key release for EBS: the region's only path by which a volume's data key reaches a host.
//
// An encrypted volume gets a 64-byte AES-256-XTS data key from KMS, kept ONLY wrapped
// (GenerateDataKeyWithoutPlaintext, encryption context aws:ebs:id=vol-…), and a grant that
// lets the EBS service decrypt it. To deliver it the region decrypts it as the EBS service
// under that grant, seals it at once to the public key of the host's EBS card — the key the
// host's attestation binds — and wipes its copy; the controller relays a blob it cannot open.
import type { Kms } from '../../../kms/kms.js';
import { EC2_VIA_SERVICE, serviceCaller, type KmsCaller } from '../../../kms/model.js';
import { createLogger } from '../../../lib/log.js';
import { sealTo } from '../../../lib/seal.js';
import { Ec2Error } from '../../protocol/errors.js';
import type { Caller, HostFleet } from '../instances.js';
import type { SnapshotRecord } from './records.js';

const log = createLogger('region.volumes');

export const XTS_KEY_BYTES = 64;

/** What key release asks of host attestation (src/region/attestation-gate.ts). */
export interface CardKeyGate {
  /** The host's attested identity, with the EBS card key its document binds; throws when the host failed attestation. */
  requireAttestedHost(hostId: string, reason: string): Promise<{ readonly ebsCardPublicKey: Buffer | null }>;
  /** Records a refusal (audited, shown in the host's status). */
  refuse(hostId: string, reason: string, code: string, message: string): Promise<unknown>;
}

/** The KMS caller for a request made by an EC2 caller through EC2 (kms:ViaService). */
export function kmsCallerOf(c: Caller): KmsCaller {
  const m = /:(root|user\/(?:.*\/)?([^/]+))$/.exec(c.arn);
  const userName = m ? (m[1] === 'root' ? 'root' : m[2]!) : 'root';
  return { principal: { accountId: c.accountId, userName, arn: c.arn }, context: { 'kms:ViaService': EC2_VIA_SERVICE } };
}

/** KMS refusals as EC2 reports them for EBS. */
export function kmsToEc2(e: unknown, keyId: string): Ec2Error {
  const code = (e as { code?: unknown }).code;
  if (code === 'DisabledException' || code === 'KMSInvalidStateException') {
    return new Ec2Error('InvalidKMSKey.InvalidState', `The KMS key provided is in an incorrect state`, { context: { keyId, kmsCode: code }, cause: e });
  }
  if (code === 'NotFoundException' || code === 'InvalidArnException') {
    return new Ec2Error('InvalidParameterValue', `Invalid KMS key: '${keyId}' does not exist or is not accessible.`, { context: { keyId, kmsCode: code }, cause: e });
  }
  if (code === 'AccessDeniedException') return new Ec2Error('UnauthorizedOperation', 'You are not authorized to use the KMS key.', { context: { keyId }, cause: e });
  return new Ec2Error('InternalError', 'The KMS call failed.', { context: { keyId, kmsCode: String(code) }, cause: e });
}

export class EbsKeyRelease {
  constructor(
    private readonly fleet: HostFleet,
    private readonly kms: Kms,
    /** Host attestation; without it (unit tests) the key goes to the card ebs.info names. */
    private readonly gate: CardKeyGate | undefined,
  ) {}

  /** The AWS-managed key aws/ebs of an account (created on first use). */
  async awsManagedKeyArn(accountId: string): Promise<string> {
    return (await this.kms.awsManagedKey(accountId, 'ebs')).arn;
  }

  /** The key's ARN as the caller may use it, or EC2's KMS error. */
  async describeKeyArn(c: Caller, keyId: string): Promise<string> {
    try {
      return (await this.kms.describeKey(kmsCallerOf(c), keyId)).arn;
    } catch (e) {
      throw kmsToEc2(e, keyId);
    }
  }

  /** A new data key for resource `contextId`, wrapped under keyId, with the EBS service's grant to decrypt it. */
  async newDataKey(c: Caller, keyId: string, contextId: string): Promise<{ kmsKeyArn: string; wrappedKey: string }> {
    const asUser = kmsCallerOf(c);
    const ctx = { 'aws:ebs:id': contextId };
    try {
      const dk = await this.kms.generateDataKeyWithoutPlaintext(asUser, { keyId, numberOfBytes: XTS_KEY_BYTES, encryptionContext: ctx });
      await this.kms.createGrant(asUser, {
        keyId: dk.keyId,
        granteePrincipal: 'ebs.amazonaws.com',
        operations: ['Decrypt'],
        constraints: { encryptionContextSubset: ctx },
        retiringPrincipal: `arn:aws:iam::${c.accountId}:root`,
      });
      return { kmsKeyArn: dk.keyId, wrappedKey: dk.ciphertextBlob.toString('base64') };
    } catch (e) {
      throw kmsToEc2(e, keyId);
    }
  }

  /**
   * The EBS card key a data key may be sealed to: the one the host's attestation document binds
   * (public_key), so a key only ever goes to a measured card. No key goes to a host that failed
   * attestation (requireAttestedHost throws then). Every release gets an attestation made for
   * it (a fresh region nonce; no cached verdict), read after ebs.info, and the card must name
   * the key that attestation binds: when it does not (a card substituted, or one replaced in
   * the moment between the two), no key leaves the region and the refusal is audited and
   * shown in the host's status (AttestationCardKeyMismatch); the caller may retry.
   */
  async cardKey(hostId: string, cmdId: string): Promise<string> {
    const info = await this.fleet.send(hostId, 'ebs.info', {}, { id: `${cmdId}:info:${Date.now()}` });
    if (!this.gate) return info.publicKey;
    const a = await this.gate.requireAttestedHost(hostId, 'key-release');
    if (a.ebsCardPublicKey?.toString('base64') !== info.publicKey) {
      await this.gate.refuse(hostId, 'key-release', 'AttestationCardKeyMismatch', `The EBS card of host ${hostId} names a key (ebs.info) other than the one its fresh attestation binds; no volume key was released.`);
      log.error('the EBS card key differs from the one the host attested; no data key is released', { hostId });
      throw new Ec2Error('InternalError', `The EBS card of host ${hostId} is not the one its attestation binds; no volume key was released.`);
    }
    return info.publicKey;
  }

  /**
   * The EBS direct APIs: a snapshot's data key sealed to the attested EBS card of hostId (aad
   * names the snapshot it is for); null for an unencrypted snapshot. The plaintext exists only
   * for the moment of sealing.
   */
  async sealSnapshotKey(s: Pick<SnapshotRecord, 'accountId' | 'encrypted' | 'wrappedKey' | 'keyContextId' | 'volumeId' | 'kmsKeyArn'>, hostId: string, aad: string, cmdId: string): Promise<string | null> {
    if (!s.encrypted) return null;
    const cardKey = await this.cardKey(hostId, cmdId);
    return this.sealFor(s.accountId, s.wrappedKey ?? '', s.keyContextId ?? s.volumeId, s.kmsKeyArn ?? '', cardKey, aad);
  }

  /** Unwraps a data key as the EBS service (under its grant) and seals it to the card for aad. */
  async sealFor(accountId: string, wrapped: string, contextId: string, keyArn: string, cardKey: string, aad: string): Promise<string> {
    let plaintext: Buffer;
    try {
      ({ plaintext } = await this.kms.decrypt(serviceCaller('ebs.amazonaws.com', accountId), { ciphertextBlob: Buffer.from(wrapped, 'base64'), encryptionContext: { 'aws:ebs:id': contextId } }));
    } catch (e) {
      throw kmsToEc2(e, keyArn);
    }
    try {
      return sealTo(Buffer.from(cardKey, 'base64'), plaintext, Buffer.from(aad)).toString('base64');
    } finally {
      plaintext.fill(0);
    }
  }
}
