// The account's EBS encryption defaults: encryption by default, and the default KMS key
// (aws/ebs unless the account names another).
import { aliasArn } from '../../../kms/model.js';
import type { Collection } from '../../repo.js';
import type { Caller } from '../instances.js';
import type { EbsKeyRelease } from './key-release.js';
import type { EbsDefaultsRecord } from './records.js';

export class EbsAccountDefaults {
  constructor(
    private readonly defaults: Collection<EbsDefaultsRecord>,
    private readonly keys: EbsKeyRelease,
  ) {}

  of(accountId: string): EbsDefaultsRecord {
    return this.defaults.get(accountId) ?? { id: accountId, encryptionByDefault: false, kmsKeyArn: undefined };
  }

  async setEncryptionByDefault(c: Caller, on: boolean): Promise<boolean> {
    await this.defaults.put({ ...this.of(c.accountId), encryptionByDefault: on });
    return on;
  }

  encryptionByDefault(c: Caller): boolean {
    return this.of(c.accountId).encryptionByDefault;
  }

  defaultKmsKeyId(c: Caller): string {
    return this.of(c.accountId).kmsKeyArn ?? aliasArn(c.accountId, 'alias/aws/ebs');
  }

  async modifyDefaultKmsKeyId(c: Caller, keyId: string): Promise<string> {
    const arn = await this.keys.describeKeyArn(c, keyId);
    await this.defaults.put({ ...this.of(c.accountId), kmsKeyArn: arn });
    return arn;
  }

  async resetDefaultKmsKeyId(c: Caller): Promise<string> {
    await this.defaults.put({ ...this.of(c.accountId), kmsKeyArn: undefined });
    return this.defaultKmsKeyId(c);
  }
}
