// Key pairs (EC2's CreateKeyPair, ImportKeyPair, DescribeKeyPairs, DeleteKeyPair). The
// region keeps a key pair's public half only: the private key CreateKeyPair makes is in its
// answer and nowhere else (not in the state store, not in a log, not in the audit trail).
// Names are unique per account; ids are key-<17 hex>. RunInstances resolves KeyName here and
// copies the public key onto the instance, so IMDS serves it even after the pair is deleted,
// as on EC2.
import { Ec2Error } from '../protocol/errors.js';
import { newId } from '../ids.js';
import type { Collection } from '../repo.js';
import { compileFilterTable, type Filter, type FilterTable } from './filters.js';
import type { Caller } from './instances.js';
import { createKeyMaterial, importKeyMaterial, type KeyFormat, type KeyType } from './key-material.js';

export interface KeyPairRecord {
  readonly id: string; // key-…
  readonly accountId: string;
  readonly name: string;
  readonly keyType: KeyType;
  readonly fingerprint: string;
  /** The OpenSSH public key line. */
  readonly publicKey: string;
  readonly createTime: string; // ISO
  readonly tags: Readonly<Record<string, string>>;
}

/** EC2's default quota of key pairs per account and region. */
export const MAX_KEY_PAIRS = 5000;

const KEY_PAIR_FILTERS: FilterTable<KeyPairRecord> = {
  'key-pair-id': (k) => [k.id],
  'key-name': (k) => [k.name],
  fingerprint: (k) => [k.fingerprint],
  'key-type': (k) => [k.keyType],
};

export const keyNotFound = (name: string): Ec2Error => new Ec2Error('InvalidKeyPair.NotFound', `The key pair '${name}' does not exist`, { context: { keyName: name } });
const keyIdNotFound = (id: string): Ec2Error => new Ec2Error('InvalidKeyPair.NotFound', `The key pair ID '${id}' does not exist`, { context: { keyPairId: id } });

export class KeyPairService {
  /** Names being created right now, per account (a second create of one name is a Duplicate). */
  private readonly pending = new Set<string>();

  constructor(
    private readonly keys: Collection<KeyPairRecord>,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private byName(caller: Caller, name: string): KeyPairRecord | undefined {
    return this.keys.all().find((k) => k.accountId === caller.accountId && k.name === name);
  }

  list(caller: Caller): KeyPairRecord[] {
    return this.keys.all().filter((k) => k.accountId === caller.accountId);
  }

  find(caller: Caller, id: string): KeyPairRecord | undefined {
    const k = this.keys.get(id);
    return k && k.accountId === caller.accountId ? k : undefined;
  }

  /** RunInstances KeyName: the caller's key pair of that name, or InvalidKeyPair.NotFound. */
  forLaunch(caller: Caller, name: string): KeyPairRecord {
    const k = this.byName(caller, name);
    if (!k) throw keyNotFound(name);
    return k;
  }

  /**
   * RunInstances KeyName: the public key line of the caller's key pair of that name (copied
   * onto the instance for IMDS), undefined when no KeyName was given; InvalidKeyPair.NotFound
   * otherwise.
   */
  launchPublicKey(caller: Caller, name: string | undefined): string | undefined {
    if (name === undefined || name === '') return undefined;
    return this.forLaunch(caller, name).publicKey;
  }

  /** Checks the name is free and reserves it, then records what `make` returns. */
  private async add(caller: Caller, name: string, make: (id: string) => Promise<KeyPairRecord> | KeyPairRecord): Promise<KeyPairRecord> {
    const slot = `${caller.accountId}\u0000${name}`;
    if (this.byName(caller, name) || this.pending.has(slot)) {
      throw new Ec2Error('InvalidKeyPair.Duplicate', `The keypair '${name}' already exists.`, { context: { keyName: name } });
    }
    if (this.list(caller).length >= MAX_KEY_PAIRS) {
      throw new Ec2Error('KeyPairLimitExceeded', `Maximum of ${MAX_KEY_PAIRS} keypairs reached.`);
    }
    this.pending.add(slot);
    try {
      const rec = await make(newId('key'));
      await this.keys.put(rec);
      return rec;
    } finally {
      this.pending.delete(slot);
    }
  }

  /** A new key pair; the private key is returned to the caller and dropped. */
  async create(
    caller: Caller,
    req: { readonly name: string; readonly keyType: KeyType; readonly keyFormat: KeyFormat; readonly tags: Readonly<Record<string, string>> },
  ): Promise<{ readonly record: KeyPairRecord; readonly keyMaterial: string }> {
    let keyMaterial = '';
    const record = await this.add(caller, req.name, async (id) => {
      const m = await createKeyMaterial(req.keyType, req.keyFormat, req.name);
      keyMaterial = m.keyMaterial;
      return { id, accountId: caller.accountId, name: req.name, keyType: m.keyType, fingerprint: m.fingerprint, publicKey: m.publicKey, createTime: this.now().toISOString(), tags: { ...req.tags } };
    });
    return { record, keyMaterial };
  }

  async import(caller: Caller, req: { readonly name: string; readonly material: Buffer; readonly tags: Readonly<Record<string, string>> }): Promise<KeyPairRecord> {
    // Parse first: a bad key changes nothing and is InvalidKeyPair.Format even when the name is taken.
    const m = importKeyMaterial(req.material, req.name);
    return this.add(caller, req.name, (id) => ({
      id,
      accountId: caller.accountId,
      name: req.name,
      keyType: m.keyType,
      fingerprint: m.fingerprint,
      publicKey: m.publicKey,
      createTime: this.now().toISOString(),
      tags: { ...req.tags },
    }));
  }

  /** KeyNames and KeyPairIds must all exist (InvalidKeyPair.NotFound); filters narrow the rest. */
  describe(caller: Caller, req: { readonly names: readonly string[]; readonly ids: readonly string[]; readonly filters: readonly Filter[] }): KeyPairRecord[] {
    const match = compileFilterTable(req.filters, KEY_PAIR_FILTERS, (k) => k.tags);
    let base = this.list(caller);
    if (req.names.length > 0) {
      for (const n of req.names) if (!this.byName(caller, n)) throw keyNotFound(n);
      base = base.filter((k) => req.names.includes(k.name));
    }
    if (req.ids.length > 0) {
      for (const id of req.ids) if (!this.find(caller, id)) throw keyIdNotFound(id);
      base = base.filter((k) => req.ids.includes(k.id));
    }
    return base.filter(match);
  }

  /**
   * Deletes by id (when given) or by name. Like EC2, deleting a key pair that does not exist
   * succeeds; the answer names the deleted pair's id when there was one.
   */
  async delete(caller: Caller, req: { readonly name: string | undefined; readonly id: string | undefined }): Promise<string | undefined> {
    const k = req.id !== undefined ? this.find(caller, req.id) : req.name !== undefined ? this.byName(caller, req.name) : undefined;
    if (!k) return undefined;
    if (req.id !== undefined && req.name !== undefined && k.name !== req.name) {
      throw new Ec2Error('InvalidParameterCombination', `The key pair ${req.id} is not named '${req.name}'.`, { context: { keyPairId: req.id, keyName: req.name } });
    }
    await this.keys.delete(k.id);
    return k.id;
  }

  async setTags(id: string, tags: Readonly<Record<string, string>>): Promise<void> {
    await this.keys.update(id, (k) => ({ ...k, tags }));
  }
}
