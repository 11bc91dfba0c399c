// Polling until a condition holds, for tests, rigs and benches: fn() is tried every `everyMs`
// until it returns a value other than undefined/false (which is returned) or the deadline
// passes (an Error naming what was awaited and the last error fn threw).
import { setTimeout as sleep } from 'node:timers/promises';

export async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs: number, everyMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}
