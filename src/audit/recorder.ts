// What a front door needs of the audit trail: record() a one-record event, begin() a
// request whose outcome follows. AuditTrail is one; the region's RefusalLedger is another,
// which counts refusals of unauthenticated requests instead of writing each one
// (src/region/api/refusals.ts).
import type { AuditEvent, AuditHandle } from './trail.js';

export interface AuditRecorder {
  /** Durable (or, for an aggregated refusal, counted) when the promise resolves. */
  record(event: AuditEvent): Promise<unknown>;
  begin(event: AuditEvent): Promise<AuditHandle>;
}
