// The hypervisor component's errors. Each has a stable code; callers (the controller)
// match on `kind` and map to the wire once, at their own edge.
import { type ErrorKind, NitrideError } from '../lib/errors.js';

export class HypervisorError extends NitrideError {
  constructor(code: string, kind: ErrorKind, message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, kind, message, context, options);
  }
}

/** A QMP command stopped by the allowlist. It never reached QEMU. */
export class QmpCommandRefusedError extends HypervisorError {
  constructor(command: string, reason: string, instanceId: string | undefined) {
    super('QmpCommandRefused', 'denied', `The QMP command '${command}' is not allowed: ${reason}.`, { command, reason, instanceId });
  }
}
