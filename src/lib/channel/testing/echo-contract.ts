// The contract of testing/echo-child.ts (the channel's own tests).
import type { Operation } from '../envelope.js';

export interface EchoContract {
  readonly echo: Operation<{ readonly text: string }, { readonly text: string; readonly pid: number }>;
  readonly slow: Operation<{ readonly ms: number }, null>;
  readonly fail: Operation<Record<string, never>, never>;
  readonly 'server.address': Operation<Record<string, never>, { readonly port: number }>;
  readonly 'server.back': Operation<Record<string, never>, { readonly port: number }>;
}
