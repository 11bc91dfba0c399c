// The audit component's one error base (see src/lib/errors.ts for code, kind, context, cause).
import { NitrideError } from '../lib/errors.js';

export class AuditError extends NitrideError {}
