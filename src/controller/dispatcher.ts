// The controller's command logic between the TLS server and the components: check the
// envelope, the signature, the caller's role, the freshness window and the id; write the
// audit record (fsynced) before anything takes effect; run the command; write the outcome.
import { createHash, type KeyObject } from 'node:crypto';
import type { AuditChain } from '../audit/chain.js';
import { ControllerError, httpStatusFor, toReplyError } from './errors.js';
import { checkFreshness, parseCommand, peekIdentity, READ_ONLY_TYPES, redact, ROLE_OPERATOR, ROLE_REGION, type ControllerCommandBody, type ControllerReply, type SignedCommand } from './protocol/commands.js';
import { signingInput, verifyCommandSignature } from './signing.js';

export { ROLE_OPERATOR, ROLE_REGION } from './protocol/commands.js';

export interface Principal {
  readonly commonName: string | undefined;
  readonly role: string | undefined; // the certificate's OU
  readonly fingerprint: string;
  readonly publicKey: KeyObject;
}

export interface Source {
  readonly address: string | undefined;
  readonly port: number | undefined;
}

export type Executor = (cmd: ControllerCommandBody) => Promise<unknown>;

interface Seen {
  readonly digest: string;
  readonly at: number;
  reply: Promise<ControllerReply> | undefined; // undefined for ids restored from the audit log
}

const REMEMBER_MS = 7 * 60_000; // > max age (5 min) + max skew (1 min): an older id cannot pass the freshness check

export interface DispatchResult {
  readonly status: number;
  readonly reply: ControllerReply;
}

export class Dispatcher {
  private seen = new Map<string, Seen>();

  constructor(
    private readonly audit: AuditChain,
    private readonly execute: Executor,
    private readonly now: () => number = Date.now,
  ) {}

  /** Marks an id accepted by an earlier controller run (read from the audit log) as used. */
  remember(id: string, digest: string, at: number): void {
    if (this.now() - at < REMEMBER_MS && !this.seen.has(id)) this.seen.set(id, { digest, at, reply: undefined });
  }

  private prune(): void {
    const cutoff = this.now() - REMEMBER_MS;
    for (const [id, s] of this.seen) {
      if (s.at >= cutoff) break; // insertion order is time order
      this.seen.delete(id);
    }
  }

  private refuse(e: ControllerError, raw: unknown, who: Principal | undefined, source: Source): DispatchResult {
    const { id, type } = peekIdentity(raw);
    this.audit.append({
      type: 'command.refused',
      id: id ?? null,
      command: type ?? null,
      principal: principalRecord(who),
      source,
      error: e.code,
    });
    return { status: httpStatusFor(e.kind), reply: { v: 1, id: id ?? '', ok: false, error: toReplyError(e) } };
  }

  /** Handles one decoded request body (or a JSON syntax error) from an authenticated TLS peer. */
  async dispatch(raw: unknown, jsonError: boolean, who: Principal, source: Source): Promise<DispatchResult> {
    this.prune();
    if (jsonError) return this.refuse(new ControllerError('MalformedCommand', 'invalid', 'The request body is not valid JSON.'), undefined, who, source);
    let cmd: SignedCommand;
    try {
      cmd = parseCommand(raw);
    } catch (e) {
      return this.refuse(e instanceof ControllerError ? e : new ControllerError('MalformedCommand', 'invalid', 'The command could not be read.'), raw, who, source);
    }
    const envelope = raw as { v: number; id: string; type: string; params: unknown; issuedAt: string; sig: string };
    if (!verifyCommandSignature(envelope, who.publicKey)) {
      return this.refuse(new ControllerError('SignatureInvalid', 'denied', "The command signature does not verify with the client certificate's key."), raw, who, source);
    }
    if (who.role !== ROLE_REGION && !(who.role === ROLE_OPERATOR && READ_ONLY_TYPES.has(cmd.type))) {
      return this.refuse(new ControllerError('Forbidden', 'denied', `The caller's role may not send ${cmd.type}.`, { role: who.role ?? null, type: cmd.type }), raw, who, source);
    }
    try {
      checkFreshness(cmd.issuedAt, this.now());
    } catch (e) {
      return this.refuse(e as ControllerError, raw, who, source);
    }
    const digest = createHash('sha256').update(signingInput(envelope)).digest('hex');
    const prior = this.seen.get(cmd.id);
    if (prior) {
      if (prior.digest !== digest) {
        return this.refuse(new ControllerError('CommandIdReused', 'conflict', 'A different command with this id was already received; ids are single-use.', { id: cmd.id }), raw, who, source);
      }
      if (prior.reply === undefined) {
        return this.refuse(new ControllerError('CommandReplayed', 'conflict', 'This command was executed by an earlier controller run; it is not executed again.', { id: cmd.id }), raw, who, source);
      }
      this.audit.append({ type: 'command.duplicate', id: cmd.id, command: cmd.type, principal: principalRecord(who), source });
      const reply = await prior.reply;
      return { status: reply.ok ? 200 : httpStatusFor(reply.error.kind), reply };
    }
    // Audit before effect: this append is fsynced before execute() runs.
    this.audit.append({
      type: 'command.accepted',
      id: cmd.id,
      command: cmd.type,
      params: redact(cmd.params),
      issuedAt: cmd.issuedAt,
      digest,
      principal: principalRecord(who),
      source,
    });
    const run = this.run(cmd);
    this.seen.set(cmd.id, { digest, at: this.now(), reply: run });
    const reply = await run;
    return { status: reply.ok ? 200 : httpStatusFor(reply.error.kind), reply };
  }

  private async run(cmd: SignedCommand): Promise<ControllerReply> {
    const started = this.now();
    let reply: ControllerReply;
    try {
      const result = await this.execute({ type: cmd.type, params: cmd.params } as ControllerCommandBody);
      reply = { v: 1, id: cmd.id, ok: true, result: result ?? null };
    } catch (e) {
      reply = { v: 1, id: cmd.id, ok: false, error: toReplyError(e) };
    }
    this.audit.append({
      type: 'command.result',
      id: cmd.id,
      command: cmd.type,
      ok: reply.ok,
      ...(reply.ok ? {} : { error: reply.error.code }),
      ms: this.now() - started,
    });
    return reply;
  }
}

export function principalRecord(p: Principal | undefined): Record<string, unknown> | null {
  return p === undefined ? null : { cn: p.commonName ?? null, role: p.role ?? null, fingerprint: p.fingerprint };
}
