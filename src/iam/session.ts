// Session credentials (STS): an access key id `ASIA…`, a secret, and a session token that
// carries the session itself, sealed with the region root key.
//
// The token is AES-256-GCM(rootKey, payload) with the session's access key id as additional
// authenticated data, written as three base64url parts (iv.ciphertext.tag). Nothing is stored:
// the region reads who the session is (the role and its session name, or the user that called
// GetSessionToken), its secret and its expiry back out of the token on every request. A token
// that was altered, cut, or presented with another access key id does not open, and the
// request is refused like an unknown key; a token past its expiry opens but is refused as
// expired (authenticate.ts). Holding the token is not enough to sign: the secret is in it, but
// sealed; the caller has it from the STS answer.
import { randomBytes } from 'node:crypto';
import type { RootKey, SealedSecret } from './root-key.js';

export const SESSION_KEY_PREFIX = 'ASIA';
const AAD = (accessKeyId: string): string => `nitride/sts/session-token/v1/${accessKeyId}`;

/** What a session token holds (short member names: it travels on every request). */
export interface SessionPayload {
  readonly v: 1;
  /** The account the session acts in (the role's, or the caller's for GetSessionToken). */
  readonly acct: string;
  /** The session's secret access key. */
  readonly secret: string;
  /** Issued and expires, epoch milliseconds. */
  readonly iat: number;
  readonly exp: number;
  /** GetSessionToken: the user's name ('root' for the account's root) and user id. */
  readonly user?: string;
  readonly uid?: string;
  /** AssumeRole: the role's name, id, and the session's name. */
  readonly role?: { readonly name: string; readonly id: string; readonly session: string };
  /** The ARN of the principal that asked for the session. */
  readonly src: string;
  /** AssumeRole's SourceIdentity, when given. */
  readonly sid?: string;
  /** True when a role session made this one (role chaining: at most one hour). */
  readonly chained?: boolean;
}

const b64u = (b64: string): string => Buffer.from(b64, 'base64').toString('base64url');
const unb64u = (s: string): string => Buffer.from(s, 'base64url').toString('base64');

export function isSessionKeyId(accessKeyId: string): boolean {
  return accessKeyId.startsWith(SESSION_KEY_PREFIX);
}

export function sealSessionToken(rootKey: RootKey, accessKeyId: string, payload: SessionPayload): string {
  const s = rootKey.seal(JSON.stringify(payload), AAD(accessKeyId));
  return `${b64u(s.iv)}.${b64u(s.ct)}.${b64u(s.tag)}`;
}

/** The payload of a token made for this access key id, or undefined for anything else. */
export function openSessionToken(rootKey: RootKey, accessKeyId: string, token: string): SessionPayload | undefined {
  if (token.length > 8192) return undefined;
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => /^[A-Za-z0-9_-]+$/.test(p))) return undefined;
  const [iv, ct, tag] = parts as [string, string, string];
  const sealed: SealedSecret = { v: 1, alg: 'AES-256-GCM', iv: unb64u(iv), ct: unb64u(ct), tag: unb64u(tag) };
  let text: string;
  try {
    text = rootKey.unseal(sealed, AAD(accessKeyId));
  } catch {
    return undefined;
  }
  try {
    const p = JSON.parse(text) as SessionPayload;
    return p.v === 1 && typeof p.acct === 'string' && typeof p.secret === 'string' && typeof p.exp === 'number' ? p : undefined;
  } catch {
    return undefined;
  }
}

export function newSessionSecret(): string {
  return randomBytes(30).toString('base64');
}
