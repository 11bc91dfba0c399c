// The error base every component extends. A stable string `code` names the failure,
// a small `kind` is what callers match on, `context` carries the facts, and the ES2022
// `cause` carries the underlying error. Messages are sentences that do not repeat the cause.
// Wire mapping (EC2 XML, KMS JSON, NBD errno, controller replies) happens once, at each edge.

export type ErrorKind =
  | 'invalid' // the caller sent something malformed or out of range
  | 'not-found' // the named thing does not exist
  | 'conflict' // the thing exists but is in the wrong state
  | 'denied' // authentication or authorization refused it
  | 'unavailable' // a dependency is missing or not ready (tool, process, capacity)
  | 'internal'; // a bug or an unexpected failure underneath

export class NitrideError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly context: Record<string, unknown>;

  constructor(code: string, kind: ErrorKind, message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.kind = kind;
    this.context = context;
  }

  override get name(): string {
    return this.constructor.name;
  }

  toJSON(): { code: string; kind: ErrorKind; message: string; context: Record<string, unknown> } {
    return { code: this.code, kind: this.kind, message: this.message, context: this.context };
  }
}

export function isNitrideError(e: unknown): e is NitrideError {
  return e instanceof NitrideError;
}

/** A short, one-line description of any thrown value, for logs. */
export function describeError(e: unknown): string {
  if (e instanceof NitrideError) return `${e.code}: ${e.message}`;
  if (e instanceof Error) return e.message;
  return String(e);
}
