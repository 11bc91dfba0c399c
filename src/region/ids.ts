// Resource identifiers in EC2's formats: a prefix and 17 lower-case hex digits.
import { randomBytes, randomUUID } from 'node:crypto';

export function newId(prefix: 'i' | 'r' | 'ami' | 'vol' | 'snap' | 'vpc' | 'subnet' | 'sg' | 'eni' | 'aki' | 'ari' | 'h' | 'key'): string {
  return `${prefix}-${randomBytes(9).toString('hex').slice(0, 17)}`;
}

export function newRequestId(): string {
  return randomUUID();
}
